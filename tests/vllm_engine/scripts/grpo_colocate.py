"""InfopoGRPOTrainer through a real colocated vLLM engine (TRL's ``use_vllm=True, vllm_mode="colocate"``) on
smollm2:135m-instruct: two training steps, then a check that vLLM samples with the trainer's weights.

TRL builds the engine itself (``LLM(model=..., distributed_executor_backend="external_launcher")``): the dtype is
vLLM's "auto", which downcasts the float32 checkpoint to bfloat16, while the trainer trains in float32. The check:
after a sync, the log-probs vLLM returns for a sample are the trained policy's to bf16 precision, and far from
those of the policy before training.

Usage: python grpo_colocate.py MODEL_DIR OUT_JSON
"""

import json
import os
import sys
import time

from colocate import COLOCATED_CPU  # this folder: a script's own folder is on sys.path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def length_reward(completions, **kwargs):
    """Close to 30 characters is best: the rewards of a group differ, so the policy moves."""
    return [-abs(len(c[0]["content"] if isinstance(c, list) else c) - 30) / 30 for c in completions]


def sample_logps(llm, prompts, seed):
    from vllm import SamplingParams

    # no min_tokens: TRL's engine returns processed log-probs, and min_tokens masks EOS out of them
    params = SamplingParams(temperature=1.0, max_tokens=24, logprobs=0, seed=seed)
    outputs = llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
    return [
        (list(o.outputs[0].token_ids), [next(iter(e.values())).logprob for e in o.outputs[0].logprobs]) for o in outputs
    ]


def own_logps(model, prompt, completion):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion])).logits.float()
    logps = torch.log_softmax(logits, -1)[0, len(prompt) - 1 : -1]
    return logps.gather(-1, torch.tensor(completion)[:, None]).squeeze(-1)


def main(model_dir: str, out: str) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from infopo.configs import InfopoGRPOConfig
    from infopo.trainers import InfopoGRPOTrainer

    colours = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white"]
    data = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": f"Describe the colour {c} in a few words."}]} for c in colours]
    )
    args = InfopoGRPOConfig(
        output_dir=os.path.join(os.path.dirname(out), "grpo"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=16,
        max_steps=2,
        learning_rate=1e-4,
        vllm_max_model_length=512,
        seed=0,
        **COLOCATED_CPU,
    )
    start = time.time()
    trainer = InfopoGRPOTrainer(model=model_dir, reward_funcs=[length_reward], args=args, train_dataset=data)
    built = time.time() - start
    generation = trainer.vllm_generation
    syncs = []
    original_sync = generation.sync_weights
    generation.sync_weights = lambda: (syncs.append(1), original_sync())[1]
    start = time.time()
    trainer.train()
    trained = time.time() - start

    generation.sync_weights()
    tokenizer = trainer.processing_class
    prompts = [
        tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, return_dict=False) for row in data
    ]
    initial = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    policy = trainer.model.eval()
    gaps_trained, gaps_initial = [], []
    for prompt, (completion, engine) in zip(prompts, sample_logps(generation.llm, prompts, seed=5), strict=True):
        engine = torch.tensor(engine)
        gaps_trained.append((engine - own_logps(policy, prompt, completion)).abs())
        gaps_initial.append((engine - own_logps(initial, prompt, completion)).abs())
    gaps_trained, gaps_initial = torch.cat(gaps_trained), torch.cat(gaps_initial)
    logs = trainer.state.log_history
    result = {
        "sync": f"{type(generation.sync_weights).__name__}: "
        f"{getattr(original_sync, '__func__', original_sync).__module__}",
        "engine_dtype": str(generation.llm.llm_engine.model_config.dtype),
        "syncs_during_training": len(syncs),
        "steps": trainer.state.global_step,
        "build_s": built,
        "train_s": trained,
        "losses": [e["loss"] for e in logs if "loss" in e],
        "grad_norms": [e["grad_norm"] for e in logs if "grad_norm" in e],
        "is_ratio": [e.get("sampling/importance_sampling_ratio/mean") for e in logs if "loss" in e],
        "weights_moved": max(
            (p.detach() - q).abs().max().item() for p, q in zip(policy.parameters(), initial.parameters(), strict=True)
        ),
        "gap_trained_max": gaps_trained.max().item(),
        "gap_trained_mean": gaps_trained.mean().item(),
        "gap_initial_max": gaps_initial.max().item(),
        "gap_initial_mean": gaps_initial.mean().item(),
        "tokens_compared": gaps_trained.numel(),
    }
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])

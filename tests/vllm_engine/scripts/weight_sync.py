"""vLLM's CPU backend and weight syncs, on a float32 engine of smollm2:135m-instruct (enforce_eager).

1. TRL's colocate sync (``model.load_weights([(name, tensor)])``) raises the AttributeError of issue 27;
2. infopo's sync (vLLM's reload path, then the packed copies refreshed) makes the engine sample with the new weights:
   a sample's log-probs from vLLM equal a transformers forward of the perturbed model;
3. without the refresh, the tied output head keeps the old packed copy (the reload's one gap).

Usage: python weight_sync.py MODEL_DIR OUT_JSON
"""

import json
import os
import sys
from types import SimpleNamespace

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def main(model_dir: str, out: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from vllm import LLM, SamplingParams

    from infopo.vllm_sync import refresh_cpu_gemm, sync_weights

    result = {}
    llm = LLM(
        model=model_dir,
        dtype="float32",
        max_model_len=512,
        enforce_eager=True,
        seed=0,
        distributed_executor_backend="external_launcher",
        max_num_batched_tokens=2048,
    )
    worker = llm.llm_engine.model_executor.driver_worker
    engine_model = worker.model_runner.model
    policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_dict=False
    )

    # 1. TRL's way
    name, tensor = next((n, p.data) for n, p in policy.named_parameters() if n.endswith("q_proj.weight"))
    try:
        engine_model.load_weights([(name, tensor)])
        result["trl_load_weights_error"] = None
    except AttributeError as error:
        result["trl_load_weights_error"] = str(error)

    def sample_gap():
        """max |log-prob from vLLM - log-prob from the policy's forward| over a 12-token sample."""
        params = SamplingParams(temperature=1.0, max_tokens=12, logprobs=0, seed=3)
        output = llm.generate([{"prompt_token_ids": prompt}], params, use_tqdm=False)[0].outputs[0]
        completion = list(output.token_ids)
        engine = torch.tensor([next(iter(entry.values())).logprob for entry in output.logprobs])
        with torch.no_grad():
            logits = policy(torch.tensor([prompt + completion])).logits.float()
        own = torch.log_softmax(logits, -1)[0, len(prompt) - 1 : -1].gather(-1, torch.tensor(completion)[:, None])
        return (engine - own.squeeze(-1)).abs().max().item()

    def perturb(seed):
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in policy.parameters():
                noise = torch.randn(parameter.shape, generator=generator) * 0.1 * parameter.float().std()
                parameter.add_(noise.to(parameter.dtype))

    generation = SimpleNamespace(
        llm=llm, enable_sleep_mode=False, _iter_named_params=lambda: iter(policy.named_parameters())
    )
    result["gap_start"] = sample_gap()
    policy_before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    perturb(0)
    result["gap_stale"] = sample_gap()  # vLLM still holds the old weights
    sync_weights(generation)
    result["gap_synced"] = sample_gap()
    # the head's packed copy alone: after a reload without the refresh, logits vs h @ embed^T
    perturb(1)
    worker.reload_weights(
        weights_iterator=((n, p.detach().clone()) for n, p in policy.named_parameters()), is_checkpoint_format=True
    )
    hidden = torch.randn(4, engine_model.config.hidden_size)
    head, embed = engine_model.lm_head, engine_model.model.embed_tokens
    result["head_tied"] = head.weight is embed.weight

    def head_gap():
        return (head.quant_method.apply(head, hidden) - hidden @ embed.weight.T).abs().max().item()

    result["head_gap_without_refresh"] = head_gap()
    result["refreshed_layers"] = refresh_cpu_gemm(engine_model)
    result["head_gap_with_refresh"] = head_gap()
    llm.reset_prefix_cache()
    result["gap_synced_again"] = sample_gap()
    result["weights_moved"] = max((p - policy_before[n]).abs().max().item() for n, p in policy.named_parameters())
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])

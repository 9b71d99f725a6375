"""IGPOTrainer's tag loop through a real colocated vLLM engine on smollm2:135m-instruct: two training steps with
``probe_backend="vllm"``, greedy evaluation before and after (temperature 0), every generation call recorded (stop
strings, token limit, temperature), and at every probe the packed probe run on the same rollouts for comparison.

Usage: python igpo_colocate.py MODEL_DIR OUT_JSON
"""

import json
import os
import sys
import time

from colocate import COLOCATED_CPU  # this folder: a script's own folder is on sys.path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def main(model_dir: str, out: str) -> None:

    import infopo.igpo.trainer as igpo_trainer
    from infopo import IGPOConfig, IGPOTrainer
    from infopo.data.lookup import lookup_questions

    data = lookup_questions(16, seed=1, conversational=True)
    args = IGPOConfig(
        output_dir=os.path.join(os.path.dirname(out), "igpo"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_turns=3,
        max_turn_tokens=24,
        max_completion_length=192,
        max_steps=2,
        learning_rate=1e-5,
        vllm_max_model_length=1024,
        probe_backend="vllm",
        rollout_loop="per_turn",  # this scenario records the per-turn loop's calls; igpo_continuous.py the other
        greedy_eval_questions=2,
        seed=0,
        **COLOCATED_CPU,
    )
    evaluation = lookup_questions(8, seed=2, conversational=True)
    trainer = IGPOTrainer(model=model_dir, args=args, train_dataset=data, eval_dataset=evaluation)
    generation = trainer.vllm_generation
    calls = []
    generate = generation.generate

    def recorded(prompts, *rest, **kwargs):
        calls.append(
            {
                "stop": generation.generation_kwargs.get("stop"),
                "max_tokens": generation.max_completion_length,
                "temperature": generation.temperature,
                "prompts": len(prompts),
            }
        )
        return generate(prompts, *rest, **kwargs)

    generation.generate = recorded

    probes = []
    stats = {}
    vllm_logps, packed_logps = igpo_trainer.vllm_answer_logps, igpo_trainer.packed_answer_logps
    captured = {}

    def vllm_recorded(*a, **k):
        start = time.time()
        captured["vllm"] = vllm_logps(*a, stats=stats, **k)
        captured["vllm_s"] = time.time() - start
        return captured["vllm"]

    def packed_recorded(*a, **k):
        start = time.time()
        captured["packed"] = packed_logps(*a, **k)
        captured["packed_s"] = time.time() - start
        return captured["packed"]

    igpo_trainer.vllm_answer_logps, igpo_trainer.packed_answer_logps = vllm_recorded, packed_recorded
    probe = trainer._probe

    def compared(rows):
        values = probe(rows)
        if rows:
            trainer.args.probe_backend = "packed"
            try:
                packed_values = probe(rows)
            finally:
                trainer.args.probe_backend = "vllm"
            pairs = zip(captured["vllm"], captured["packed"], strict=True)
            logp_gap = max((a - b).abs().max().item() for a, b in pairs)
            value_gap = max((values[i] - packed_values[i]).abs().max().item() for i in rows)
            probes.append(
                {
                    "rows": len(rows),
                    "scored": sum(v.numel() for v in captured["vllm"]),
                    "logp_gap": logp_gap,
                    "value_gap": value_gap,
                    "vllm_s": captured["vllm_s"],
                    "packed_s": captured["packed_s"],
                    **stats,
                }
            )
        return values

    trainer._probe = compared
    start = time.time()
    trainer.train()
    train_s = time.time() - start
    logs = trainer.state.log_history
    rollouts = trainer._rollouts
    result = {
        "steps": trainer.state.global_step,
        "train_s": train_s,
        "sync": type(generation.sync_weights).__name__ + ":" + generation.sync_weights.__func__.__module__,
        "calls": calls,
        "probes": probes,
        "losses": [e["loss"] for e in logs if "loss" in e],
        "turns": [e.get("igpo/turns") for e in logs if "loss" in e],
        "greedy": trainer.greedy_results,
        "last_predictions": rollouts["predictions"],
        "last_spans": [len(s) for s in rollouts["spans"]],
        "temperature_after": generation.temperature,
        "generation_kwargs_after": generation.generation_kwargs,
        "example": trainer.processing_class.decode(rollouts["completion_ids"][0]),
    }
    with open(out, "w") as handle:
        json.dump(result, handle, default=str)


if __name__ == "__main__":
    main(*sys.argv[1:3])

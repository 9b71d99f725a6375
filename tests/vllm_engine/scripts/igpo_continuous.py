"""IGPO's continuous tag loop on a real colocated vLLM engine (smollm2:135m-instruct): its rollouts and the per-turn
loop's on the same inputs (greedy, and sampled with one seed per request; one rollout, then eight), then two training
steps through it with every engine request counted and no per-turn generation call made.

Usage: python igpo_continuous.py MODEL_DIR OUT_JSON
"""

import json
import os
import sys

from colocate import COLOCATED_CPU  # this folder: a script's own folder is on sys.path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def rollouts(trainer, rows, loop: str) -> dict:
    """``_tag_rollout`` of ``rows`` with ``rollout_loop`` set to ``loop``, from an empty prefix cache (cached blocks
    were computed in another batch)."""
    trainer.args.rollout_loop = loop
    trainer.vllm_generation.llm.reset_prefix_cache()
    trainer._inputs, trainer._rollouts = rows, {}
    result = trainer._tag_rollout([row["prompt"] for row in rows], trainer)
    return {
        "completion_ids": result["completion_ids"],
        "env_mask": result["env_mask"],
        "logprobs": result["logprobs"],
        "tool_errors": trainer._rollouts["tool_errors"],
    }


def main(model_dir: str, out: str) -> None:
    from infopo import IGPOConfig, IGPOTrainer
    from infopo.data.lookup import lookup_questions

    data = lookup_questions(16, seed=1, conversational=True)
    args = IGPOConfig(
        output_dir=os.path.join(os.path.dirname(out), "igpo"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_turns=3,
        max_turn_tokens=24,
        max_completion_length=160,
        max_steps=2,
        learning_rate=1e-5,
        vllm_max_model_length=1024,
        greedy_eval_questions=2,
        seed=0,
        **COLOCATED_CPU,
    )
    evaluation = lookup_questions(8, seed=2, conversational=True)
    trainer = IGPOTrainer(model=model_dir, args=args, train_dataset=data, eval_dataset=evaluation)
    generation, engine = trainer.vllm_generation, trainer.vllm_generation.llm.llm_engine
    rows = [dict(row) for row in lookup_questions(8, seed=3, conversational=True)]
    compared = {}
    for batch in ("one", "eight"):
        chosen = rows[:1] if batch == "one" else rows
        trainer._greedy = True
        compared[f"greedy_{batch}"] = {loop: rollouts(trainer, chosen, loop) for loop in ("per_turn", "continuous")}
        trainer._greedy = False
        generation.generation_kwargs = {"seed": 1234}  # one seed for every request, in both loops
        compared[f"seeded_{batch}"] = {loop: rollouts(trainer, chosen, loop) for loop in ("per_turn", "continuous")}
        generation.generation_kwargs = {}
    trainer.args.rollout_loop = "auto"

    counts = {"per_turn_calls": 0, "requests": 0}
    generate, add_request = generation.generate, engine.add_request

    def counted_generate(*a, **k):
        counts["per_turn_calls"] += 1
        return generate(*a, **k)

    def counted_request(*a, **k):
        counts["requests"] += 1
        return add_request(*a, **k)

    generation.generate, engine.add_request = counted_generate, counted_request
    trainer.train()
    logs = trainer.state.log_history
    result = {
        "compared": compared,
        "steps": trainer.state.global_step,
        "losses": [e["loss"] for e in logs if "loss" in e],
        "turns": [e.get("igpo/turns") for e in logs if "loss" in e],
        "greedy": trainer.greedy_results,
        "last_spans": [len(s) for s in trainer._rollouts["spans"]],
        "unfinished_after": engine.has_unfinished_requests(),
        **counts,
    }
    with open(out, "w") as handle:
        json.dump(result, handle, default=str)


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""Benchmark: IGPO's probe through vLLM (``probe_backend="vllm"``) against the packed probe, and an IGPO step with
each against a GRPO step, on the same rollouts, in one run (needs vLLM: the environment of ``make test-vllm``).

Model: ``smollm2:135m-instruct`` through TRL's colocated vLLM engine (``use_vllm=True, vllm_mode="colocate"``; bf16,
as TRL builds it; the trainer trains in float32). Rollouts: the lookup world's 2-hop demonstrations replayed through
a ``rollout_func`` (three turns, two observations, as ``scripts/bench/igpo_step.py`` does; untrained SmolLM2 answers
at once). In the real tag loop the engine has run every token of every rollout while generating it, so the rollout
function stands in for generation with a vLLM prefill of each trajectory (``max_tokens=1``) after resetting the
prefix cache (as a weight sync does): every step pays it, GRPO's included, and the prefixes then lie in the prefix
cache as after a real generation.

Per round and in the round's order: a GRPO step (TRL's scoring with the outcome only), an IGPO step with the packed
probe and one with the vLLM probe (scoring, loss, backward; no optimizer update, so the weights stay put). Then the
probes alone on the last rollouts: packed, vLLM reading the prefix cache, vLLM without it. Prints the values' largest
difference (vLLM against packed: answer log-probs and probe values), the prefix-cache hits, the median times and the
median per-round ratios IGPO/GRPO.

    VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_CI_ENV=1 NUMBA_NUM_THREADS=1 .venv-vllm/bin/python \\
        scripts/bench/igpo_probe_vllm.py [--rounds 3] [--questions 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--questions", type=int, default=4, help="questions per batch (4 rollouts each)")
    args = parser.parse_args()
    for name, value in (("VLLM_CPU_KVCACHE_SPACE", "1"), ("VLLM_CPU_CI_ENV", "1"), ("NUMBA_NUM_THREADS", "1")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

    from igpo_step import CPU, replay_demonstrations

    import infopo.igpo.trainer as igpo_module
    from infopo.data.lookup import lookup_trajectories
    from infopo.igpo.config import IGPOConfig
    from infopo.igpo.probe_vllm import vllm_answer_logps
    from infopo.igpo.trainer import IGPOTrainer
    from infopo.models import resolve_model

    size = 4 * args.questions
    folder = tempfile.mkdtemp()
    config = IGPOConfig(
        output_dir=os.path.join(folder, "igpo"),
        per_device_train_batch_size=size,
        num_generations=4,
        max_turns=4,
        max_turn_tokens=24,
        max_completion_length=256,
        learning_rate=1e-4,
        logging_steps=1000,
        max_steps=1,
        use_vllm=True,
        vllm_mode="colocate",
        vllm_max_model_length=1024,
        vllm_importance_sampling_correction=False,  # replayed rollouts carry no sampling log-probs
        **CPU,
    )

    def rollouts_with_prefill(prompts, trainer):
        result = replay_demonstrations(prompts, trainer)
        llm = trainer.vllm_generation.llm
        from vllm import SamplingParams

        llm.reset_prefix_cache()
        trajectories = [p + c for p, c in zip(result["prompt_ids"], result["completion_ids"], strict=True)]
        llm.generate(
            [{"prompt_token_ids": t} for t in trajectories],
            SamplingParams(max_tokens=1, detokenize=False),
            use_tqdm=False,
        )
        return result

    trainer = IGPOTrainer(
        model=resolve_model("smollm2:135m-instruct"),
        args=config,
        rollout_func=rollouts_with_prefill,
        train_dataset=lookup_trajectories(64, seed=1, conversational=True),
    )
    trainer.vllm_generation.sync_weights()  # the float32 policy's weights, as TRL syncs before generating
    trainer.create_optimizer_and_scheduler(num_training_steps=100)
    trainer.current_gradient_accumulation_steps = 1
    questions = lookup_trajectories(args.questions, seed=7, conversational=True, two_hop_share=1.0)
    inputs = [questions[i // 4] for i in range(size)]

    captured = {}
    packed, vllm_probe = igpo_module.packed_answer_logps, igpo_module.vllm_answer_logps

    def keep(key, function):
        def wrapped(*a, **k):
            captured[key] = (a, k, function(*a, **k))
            return captured[key][2]

        return wrapped

    igpo_module.packed_answer_logps = keep("packed", packed)
    igpo_module.vllm_answer_logps = keep("vllm", vllm_probe)
    probe = trainer._probe
    values = {}

    def probe_kept(rows):
        values[trainer.args.probe_backend] = probe(rows)
        return values[trainer.args.probe_backend]

    trainer._probe = probe_kept

    def step(credit: str, backend: str = "packed"):
        trainer.args.credit, trainer.args.probe_backend = credit, backend  # outcome: TRL's GRPO advantages
        return trainer._generate_and_score_completions(inputs)

    sides = {
        "grpo": lambda: step("outcome"),
        "igpo_packed": lambda: step("info_gain", "packed"),
        "igpo_vllm": lambda: step("info_gain", "vllm"),
    }
    times = {side: [] for side in sides}
    logp_gaps, value_gaps = [], []
    trainer.model.train()
    for round_index in range(args.rounds):
        order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
        for side in order:
            torch.manual_seed(round_index)
            started = time.perf_counter()
            batch = sides[side]()
            loss = trainer.compute_loss(trainer.model, batch)
            loss.backward()
            trainer.optimizer.zero_grad()
            times[side].append(time.perf_counter() - started)
        logp_gaps.append(
            max((a - b).abs().max().item() for a, b in zip(captured["vllm"][2], captured["packed"][2], strict=True))
        )
        value_gaps.append(max((values["vllm"][i] - values["packed"][i]).abs().max().item() for i in values["vllm"]))
        print(
            f"round {round_index + 1}: "
            + ", ".join(f"{side} {times[side][-1]:.2f} s" for side in sides)
            + f"; vLLM - packed: log-probs {logp_gaps[-1]:.4f}, values {value_gaps[-1]:.2e}",
            flush=True,
        )

    # the probes alone, on the last rollouts (the vLLM engine's prefix cache holds them: refilled first)
    a, k, _ = captured["vllm"]
    trajectories, boundaries, answers, prefix_lengths = a[1:5]
    llm = trainer.vllm_generation.llm
    alone = {}
    stats = {}
    for label, use_cache in (("vllm (prefix cache)", True), ("vllm (no prefix cache)", False)):
        from vllm import SamplingParams

        llm.reset_prefix_cache()
        llm.generate(
            [{"prompt_token_ids": t} for t in trajectories],
            SamplingParams(max_tokens=1, detokenize=False),
            use_tqdm=False,
        )
        started = time.perf_counter()
        stats[label] = {}
        vllm_answer_logps(
            llm, trajectories, boundaries, answers, prefix_lengths, prefix_cache=use_cache, stats=stats[label]
        )
        alone[label] = time.perf_counter() - started
    pa, pk, _ = captured["packed"]
    trainer.model.eval()
    started = time.perf_counter()
    packed(*pa, **pk)
    alone["packed"] = time.perf_counter() - started

    scored = sum(t.numel() for t in captured["vllm"][2])
    print(
        f"\n{size} rollouts, {sum(len(b) for b in boundaries)} probe boundaries, {scored} scored answer tokens, "
        f"{sum(len(t) for t in trajectories)} trajectory tokens"
    )
    print(
        f"values: vLLM (bf16) - packed (float32): largest |log-prob| difference {max(logp_gaps):.4f}, "
        f"largest probe-value difference {max(value_gaps):.2e}"
    )
    for label, value in stats.items():
        print(
            f"{label}: {value['requests']} requests, {value['prompt_tokens']} prompt tokens, "
            f"{value['cached_tokens']} served from the prefix cache, {value['rescored']} rescored; {alone[label]:.2f} s"
        )
    print(f"packed probe alone: {alone['packed']:.2f} s")
    medians = {side: statistics.median(t) for side, t in times.items()}
    for side in ("igpo_packed", "igpo_vllm"):
        ratio = statistics.median(i / g for i, g in zip(times[side], times["grpo"], strict=True))
        print(
            f"{side}: step {medians[side]:.2f} s against GRPO {medians['grpo']:.2f} s: ratio {ratio:.3f} "
            "(median of the per-round ratios)"
        )


if __name__ == "__main__":
    main()

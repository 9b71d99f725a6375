"""Benchmark: IGPO's packed probe against the official approach, on the same rollouts, at 2, 4 and 8 turns.

    python scripts/bench/igpo_probe.py [--rounds 5] [--rollouts 16] [--models toy smollm2:135m-instruct]

Baseline (the official code's way, batched over the rollouts of a step): one padded forward per turn index, each
over the prefix up to that turn's boundary plus the answer. infopo: one packed forward per chunk of rollouts with
a 4-D mask (infopo.igpo.probe). Models: ``toy``, the tiny kit's Llama at hidden 128, 4 layers (about 1M parameters,
as in the spec's measurements), and the real ``smollm2:135m-instruct`` (30 layers, vocabulary 49,152). Each rollout: a 20-token prompt, then per turn 10 assistant tokens and 15 observation tokens;
the answer is a 2-token forcing prefix plus 4 tokens. Prints the largest difference between the two (must be below
1e-4) and the median times and ratio per turn count.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from transformers import AutoModelForCausalLM

from infopo.igpo.probe import packed_answer_logps
from infopo.models import resolve_model
from infopo.tiny import build_tiny_model

PROMPT, ASSISTANT, OBSERVATION, PREFIX, ANSWER = 20, 10, 15, 2, 4


@torch.no_grad()
def per_turn_index_logps(model, trajectories, boundaries, answers, skip, pad=0):
    """The baseline: for each turn index t, one right-padded forward over [X[:b_t] + answer] of every rollout."""
    results = [[None] * len(b) for b in boundaries]
    for turn in range(max(len(b) for b in boundaries)):
        rows = [i for i, b in enumerate(boundaries) if turn < len(b)]
        sequences = [trajectories[i][: boundaries[i][turn]] + answers[i] for i in rows]
        width = max(len(s) for s in sequences)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros_like(input_ids)
        for row, sequence in enumerate(sequences):
            input_ids[row, : len(sequence)] = torch.tensor(sequence)
            attention[row, : len(sequence)] = 1
        logps = torch.log_softmax(model(input_ids=input_ids, attention_mask=attention).logits.float(), -1)
        for row, index in enumerate(rows):
            boundary, answer = boundaries[index][turn], answers[index]
            positions = [boundary + j - 1 for j in range(skip, len(answer))]
            targets = torch.tensor(answer[skip:])
            results[index][turn] = logps[row, positions].gather(-1, targets[:, None]).squeeze(-1)
    return [torch.stack(r) for r in results]


def rollouts(turns: int, count: int, generator):
    trajectories, boundaries, answers = [], [], []
    for _ in range(count):
        length = PROMPT + turns * ASSISTANT + (turns - 1) * OBSERVATION
        trajectories.append(torch.randint(5, 500, (length,), generator=generator).tolist())
        boundaries.append([PROMPT] + [PROMPT + t * (ASSISTANT + OBSERVATION) for t in range(1, turns)])
        answers.append(torch.randint(5, 500, (PREFIX + ANSWER,), generator=generator).tolist())
    return trajectories, boundaries, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--models", nargs="+", default=["toy", "smollm2:135m-instruct"])
    args = parser.parse_args()
    for name in args.models:
        if name == "toy":
            model = build_tiny_model("llama", seed=0, hidden_size=128, intermediate_size=512, num_hidden_layers=4,
                                     num_attention_heads=4, num_key_value_heads=4)
        else:
            model = AutoModelForCausalLM.from_pretrained(resolve_model(name))
        measure(name, model.eval(), args)


def measure(name: str, model, args) -> None:
    print(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, {args.rollouts} rollouts",
          flush=True)
    generator = torch.Generator().manual_seed(0)
    for turns in (2, 4, 8):
        data = rollouts(turns, args.rollouts, generator)
        times = {"baseline": [], "packed": []}
        for round_index in range(args.rounds):
            order = ("baseline", "packed") if round_index % 2 == 0 else ("packed", "baseline")
            for name in order:
                started = time.perf_counter()
                if name == "baseline":
                    baseline = per_turn_index_logps(model, *data, PREFIX)
                else:
                    packed = packed_answer_logps(model, *data, [PREFIX] * args.rollouts, chunk_size=args.rollouts)
                times[name].append(time.perf_counter() - started)
        difference = max((a - b).abs().max().item() for a, b in zip(baseline, packed, strict=True))
        base, fast = statistics.median(times["baseline"]), statistics.median(times["packed"])
        print(f"{name}, {turns} turns: per-turn-index {base * 1000:7.1f} ms, packed {fast * 1000:7.1f} ms, "
              f"ratio {base / fast:4.2f}x, max |difference| {difference:.1e}", flush=True)


if __name__ == "__main__":
    main()

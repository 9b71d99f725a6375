"""Benchmark: IGPO's packed probe against the official approach, on the same rollouts, at 2, 4 and 8 turns.

    python scripts/bench/igpo_probe.py [--rounds 5] [--rollouts 16] [--models toy smollm2:135m-instruct]

Baseline (the official code's way, batched over the rollouts of a step): one padded forward per turn index, each
over the prefix up to that turn's boundary plus the answer. infopo: one packed forward per chunk of rollouts with
a 4-D mask (infopo.igpo.probe). Models: ``toy``, the tiny kit's Llama at hidden 128, 4 layers (about 1M parameters,
as in the spec's measurements), and the real ``smollm2:135m-instruct`` (30 layers, vocabulary 49,152). Each
rollout: a 20-token prompt, then per turn 10 assistant tokens and 15 observation tokens;
the answer is a 2-token forcing prefix plus 4 tokens. Prints the largest difference between the two (must be below
1e-4) and the median times and ratio per turn count.

    python scripts/bench/igpo_probe.py --memory [--lengths 1024 2048 4096 8192] [--attention sdpa eager]

``--memory``: the probe's peak memory against trajectory length, for one 4-turn rollout (boundaries after the prompt
and after each of three observations, the prompt 1/8 of the trajectory, the turns evenly spaced; the answer 6
tokens) in one forward (``token_budget`` above the packed length). Each point runs in a fresh process (no allocator
state carried over): build the model, run one short probe (lazy allocations), then record the resident set
(VmRSS), reset the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``, Linux 4.0+) and run the probe;
peak = VmHWM - VmRSS before, i.e. every byte the probe's forward had resident at its peak (activations, the packed
(1, L', L') boolean mask, the additive float mask of eager, attention scores where the kernel materialises them).
CPU, float32; on a GPU the same run reports ``torch.cuda.max_memory_allocated`` above the model's weights.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
from transformers import AutoModelForCausalLM

from infopo.igpo.probe import packed_answer_logps, packed_size
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


def load(name: str, attention: str = "sdpa"):
    if name == "toy":
        model = build_tiny_model(
            "llama",
            seed=0,
            hidden_size=128,
            intermediate_size=512,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=4,
        )
        model.set_attn_implementation(attention)
    else:
        model = AutoModelForCausalLM.from_pretrained(resolve_model(name), attn_implementation=attention)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--models", nargs="+", default=["toy", "smollm2:135m-instruct"])
    parser.add_argument("--memory", action="store_true", help="peak memory against trajectory length (see above)")
    parser.add_argument("--lengths", nargs="+", type=int, default=[1024, 2048, 4096, 8192])
    parser.add_argument("--attention", nargs="+", default=["sdpa", "eager"])
    parser.add_argument("--point", nargs=3, metavar=("MODEL", "ATTENTION", "LENGTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point:
        print(json.dumps(memory_point(args.point[0], args.point[1], int(args.point[2]))))
    elif args.memory:
        memory_table(args)
    else:
        for name in args.models:
            measure(name, load(name), args)


def four_turn_rollout(length: int, generator):
    """One trajectory of ``length`` tokens with 4 probe boundaries, and a 2 + 4-token answer."""
    prompt = length // 8
    boundaries = [prompt + turn * (length - prompt) // 4 for turn in range(4)]
    trajectory = torch.randint(5, 500, (length,), generator=generator).tolist()
    return [trajectory], [boundaries], [torch.randint(5, 500, (PREFIX + ANSWER,), generator=generator).tolist()]


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key + ":"))


def memory_point(name: str, attention: str, length: int) -> dict:
    """Peak memory of one probe forward over a 4-turn rollout of ``length`` tokens (run in a fresh process)."""
    torch.manual_seed(0)
    model = load(name, attention).to("cuda" if torch.cuda.is_available() else "cpu")
    generator = torch.Generator().manual_seed(0)
    packed_answer_logps(model, *four_turn_rollout(64, generator), [PREFIX])  # lazy allocations out of the way
    data = four_turn_rollout(length, generator)
    packed = packed_size(data[0][0], data[1][0], data[2][0])
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        started = time.perf_counter()
        packed_answer_logps(model, *data, [PREFIX], token_budget=packed)
        torch.cuda.synchronize()
        seconds, peak = time.perf_counter() - started, torch.cuda.max_memory_allocated() - base
    else:
        base = _status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        started = time.perf_counter()
        packed_answer_logps(model, *data, [PREFIX], token_budget=packed)
        seconds, peak = time.perf_counter() - started, (_status_kib("VmHWM") - base) * 1024
    return {
        "model": name,
        "attention": attention,
        "length": length,
        "packed": packed,
        "peak_mib": peak / 2**20,
        "mask_mib": packed * packed / 2**20,
        "seconds": seconds,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }


def memory_table(args) -> None:
    print("| model | attention | trajectory | packed | peak MiB | bool mask MiB | s |")
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    for name in args.models:
        for attention in args.attention:
            for length in args.lengths:
                command = [sys.executable, __file__, "--point", name, attention, str(length)]
                result = subprocess.run(command, capture_output=True, text=True, check=True)
                point = json.loads(result.stdout.strip().splitlines()[-1])
                print(
                    f"| {name} | {attention} | {length} | {point['packed']} | {point['peak_mib']:.0f} | "
                    f"{point['mask_mib']:.0f} | {point['seconds']:.1f} |",
                    flush=True,
                )


def measure(name: str, model, args) -> None:
    print(
        f"{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, {args.rollouts} rollouts",
        flush=True,
    )
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
        print(
            f"{name}, {turns} turns: per-turn-index {base * 1000:7.1f} ms, packed {fast * 1000:7.1f} ms, "
            f"ratio {base / fast:4.2f}x, max |difference| {difference:.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()

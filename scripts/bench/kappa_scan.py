"""Benchmark: infopo's condition-number scan against peft's KappaTuneSelector on the same model, in one run.

    python scripts/bench/kappa_scan.py [--rounds 3] [--device cpu|cuda] [--layers 10]

The model is a random-init Qwen2-architecture model of about 110M parameters built by the tiny kit with larger
sizes (hidden 768, MLP 3072, 12 heads / 4 KV heads, 32k vocabulary so embeddings stay above max_dim, as in real
models). Each round runs peft then infopo (alternating order each round), both uncached, and selects top_p 0.2.
Prints the median times, the ratio, peak extra memory of each, whether the selections agree, and the time of an
infopo re-scan from its cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time

import psutil
import torch
from peft.helpers import KappaTuneSelector

from infopo.kappa import scan_condition_numbers, select_by_condition
from infopo.tiny import build_tiny_model


def peak_rss_during(function):
    """(result, seconds, peak RSS above the starting RSS in MiB) of ``function()``; RSS sampled every 5 ms."""
    process = psutil.Process(os.getpid())
    start_rss = process.memory_info().rss
    peak = [start_rss]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return result, seconds, (peak[0] - start_rss) / 2**20


def run_peft(model, top_p):
    selector = KappaTuneSelector(model, show_progress=False)
    return [name + ".weight" for name in selector.get_best_targets(top_p=top_p)]


def run_infopo(model, top_p, cache=None):
    return select_by_condition(scan_condition_numbers(model, progress=False, cache=cache), top_p=top_p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--top_p", type=float, default=0.2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    model = build_tiny_model(
        "qwen2", seed=0, hidden_size=768, intermediate_size=3072, num_hidden_layers=args.layers,
        num_attention_heads=12, num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048,
    ).to(args.device)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, device {args.device}, "
          f"torch threads {torch.get_num_threads()}")

    times = {"peft": [], "infopo": []}
    memory = {"peft": [], "infopo": []}
    selections = {}
    for round_index in range(args.rounds):
        order = ("peft", "infopo") if round_index % 2 == 0 else ("infopo", "peft")
        for name in order:
            runner = run_peft if name == "peft" else run_infopo
            selection, seconds, peak = peak_rss_during(lambda: runner(model, args.top_p))
            times[name].append(seconds)
            memory[name].append(peak)
            selections[name] = selection
        print(f"round {round_index + 1}: peft {times['peft'][-1]:.2f} s, infopo {times['infopo'][-1]:.2f} s")

    with tempfile.TemporaryDirectory() as folder:
        cache = os.path.join(folder, "kappa.json")
        run_infopo(model, args.top_p, cache)
        cached, cached_seconds, _ = peak_rss_during(lambda: run_infopo(model, args.top_p, cache))

    peft_s, infopo_s = statistics.median(times["peft"]), statistics.median(times["infopo"])
    print()
    print(f"peft KappaTuneSelector : {peft_s:7.2f} s (median of {args.rounds}), peak +{max(memory['peft']):.0f} MiB")
    print(f"infopo scan            : {infopo_s:7.2f} s (median of {args.rounds}), peak +{max(memory['infopo']):.0f} MiB")
    print(f"speed-up               : {peft_s / infopo_s:7.2f}x")
    print(f"infopo from its cache  : {cached_seconds:7.2f} s ({peft_s / cached_seconds:.0f}x)")
    same_set = set(selections["peft"]) == set(selections["infopo"])
    same_order = selections["peft"] == selections["infopo"]
    print(f"top_p {args.top_p} selections: {len(selections['infopo'])} tensors; same set: {same_set}; "
          f"same order: {same_order}; cached run same: {cached == selections['infopo']}")


if __name__ == "__main__":
    main()

"""Benchmark: KappaTune's selection (certified bounds, exact values near the cut) against peft's KappaTuneSelector,
on three models, in one run.

    python scripts/bench/kappa_scan.py [--rounds 3] [--models 111m 125m smollm2] [--bounds_gram float32]

Models: ``111m``, a random-init Qwen2 shape of 111M parameters (hidden 768, MLP 3072, 10 layers, 32k vocabulary);
``125m``, another random Qwen2 shape (hidden 768, MLP 2048, 12 layers); ``smollm2``, SmolLM2-135M-Instruct's real
weights (``smollm2:135m-instruct``, the Q4_1 GGUF dequantized; 210 scanned tensors). Each round runs peft's selector
(float32 ``svdvals`` of every matrix) and ``select_lowest_condition`` (alternating which goes first), uncached, for
top_p 0.2. Prints the median times and their ratio, and checks that the selections agree: with peft's, and with the
exact float64 values (``scan_condition_numbers``), for top_p 0.2, num 10 and a threshold between two of the exact
values, names and order. Also the full exact scan's time, for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from peft.helpers import KappaTuneSelector
from transformers import AutoModelForCausalLM

from infopo.kappa import bounds, scan_condition_numbers, select_by_condition, select_lowest_condition
from infopo.models import resolve_model
from infopo.tiny import build_tiny_model

MODELS = {
    "111m": lambda: build_tiny_model(
        "qwen2",
        seed=0,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=10,
        num_attention_heads=12,
        num_key_value_heads=4,
        vocab_size=32000,
        max_position_embeddings=2048,
    ),
    "125m": lambda: build_tiny_model(
        "qwen2",
        seed=1,
        hidden_size=768,
        intermediate_size=2048,
        num_hidden_layers=12,
        num_attention_heads=12,
        num_key_value_heads=4,
        vocab_size=32000,
        max_position_embeddings=2048,
    ),
    "smollm2": lambda: AutoModelForCausalLM.from_pretrained(resolve_model("smollm2:135m-instruct")),
}


def peft_selection(model, **budget) -> list[str]:
    """peft's selection, as parameter names (its module names; a tied lm_head is the embedding)."""
    selector = KappaTuneSelector(model, show_progress=False)
    names = selector.get_best_targets(
        top_p=budget.get("top_p"), num_modules=budget.get("num"), threshold=budget.get("threshold")
    )
    tied = getattr(model.config, "tie_word_embeddings", False)
    return [("model.embed_tokens" if name == "lm_head" and tied else name) + ".weight" for name in names]


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def bench(name: str, rounds: int) -> dict:
    model = MODELS[name]().eval()
    parameters = sum(p.numel() for p in model.parameters())
    times = {"peft": [], "infopo": []}
    for round_index in range(rounds):
        order = ("peft", "infopo") if round_index % 2 == 0 else ("infopo", "peft")
        for side in order:
            if side == "peft":
                _, seconds = timed(lambda: peft_selection(model, top_p=0.2))
            else:
                _, seconds = timed(lambda: select_lowest_condition(model, top_p=0.2, progress=False))
            times[side].append(seconds)
    exact, exact_seconds = timed(lambda: scan_condition_numbers(model, progress=False))
    finite = sorted(value for value in exact.values() if value < float("inf"))
    budgets = {
        "top_p 0.2": dict(top_p=0.2),
        "num 10": dict(num=10),
        "threshold": dict(threshold=(finite[len(finite) // 3] + finite[len(finite) // 3 + 1]) / 2),
    }
    agreement = {}
    for label, budget in budgets.items():
        ours = select_lowest_condition(model, progress=False, **budget)
        agreement[label] = {
            "peft": ours.names == peft_selection(model, **budget),
            "exact": ours.names == select_by_condition(exact, **budget),
            "selected": len(ours.names),
            "exact_values": len(ours.kappas),
        }
    peft_s, ours_s = statistics.median(times["peft"]), statistics.median(times["infopo"])
    return {
        "model": name,
        "parameters": parameters,
        "tensors": len(exact),
        "peft_s": peft_s,
        "infopo_s": ours_s,
        "ratio": statistics.median(p / o for p, o in zip(times["peft"], times["infopo"], strict=True)),
        "exact_scan_s": exact_seconds,
        "agreement": agreement,
    }


def machine_report() -> list[str]:
    """What the ratio depends on: the CPU, its vector extension, the BLAS/LAPACK library and threads, and the speed
    of the primitives each side spends its time in (peft: float32 SVDs; infopo: a bfloat16 or float32 Gram GEMM and
    vector-matrix products for the bounds, a float64 Gram GEMM and symmetric eigensolver for the exact values near the
    cut)."""
    import platform
    import re

    cpu = platform.processor() or platform.machine()
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except (OSError, AttributeError):
        pass
    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    lapack = re.search(r"LAPACK_INFO=(\w+)", config)
    lines = [
        f"torch {torch.__version__}; CPU {cpu}; vector extension {torch.backends.cpu.get_cpu_capability()}; "
        f"BLAS {blas.group(1) if blas else '?'}, LAPACK {lapack.group(1) if lapack else '?'}; "
        f"{torch.get_num_threads()} threads"
    ]
    generator = torch.Generator().manual_seed(0)
    a32 = torch.randn(768, 3072, generator=generator)
    a64 = a32.double()

    def best(function, repeats=3):
        return min(timed(function)[1] for _ in range(repeats))

    gemm32, gemm64 = best(lambda: a32 @ a32.T), best(lambda: a64 @ a64.T)
    a16 = a32.bfloat16()
    gemm16 = best(lambda: a16 @ a16.T)
    flops = 2 * 768 * 768 * 3072
    svd32 = best(lambda: torch.linalg.svdvals(a32))
    eigh64 = best(lambda: torch.linalg.eigvalsh(a64 @ a64.T))
    lines.append(
        f"primitives on a 768 x 3072 matrix: GEMM float32 {flops / gemm32 / 1e9:.0f}, bfloat16 "
        f"{flops / gemm16 / 1e9:.0f}, float64 {flops / gemm64 / 1e9:.0f} GFLOP/s; float32 svdvals (peft) "
        f"{svd32 * 1e3:.0f} ms, float64 Gram + eigvalsh (infopo's exact value) {eigh64 * 1e3:.0f} ms "
        f"({svd32 / eigh64:.1f}x); the bounds' Gram matrices in {bounds.gram_dtype(a32.device)}"
    )
    lines.append(
        "infopo's time: a Gram GEMM and 48 vector-matrix products per bound (every tensor), a float64 Gram + "
        "eigh per exact value (the tensors near the cut). The ratio grows with float32 SVD time against "
        "GEMM throughput; without fast bfloat16 (AVX512-BF16/AMX) the bounds' Gram is float32, ~1.4x slower"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--bounds_gram",
        choices=["auto", "float32"],
        default="auto",
        help="float32: the bounds' Gram matrices in float32 whatever the CPU (as on one without fast bfloat16)",
    )
    args = parser.parse_args()
    if args.bounds_gram == "float32":
        bounds.gram_dtype = lambda device: torch.float32
    for line in machine_report():
        print(line)
    print(
        "| model | tensors | peft | infopo | ratio | exact scan | same as peft / as exact (top_p, num, threshold) "
        "| exact values computed (top_p) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        r = bench(name, args.rounds)
        same = " ".join(f"{a['peft']}/{a['exact']}" for a in r["agreement"].values())
        print(
            f"| {name} ({r['parameters'] / 1e6:.0f}M) | {r['tensors']} | {r['peft_s']:.2f} s | {r['infopo_s']:.2f} s | "
            f"**{r['ratio']:.2f}x** | {r['exact_scan_s']:.2f} s | {same} | "
            f"{r['agreement']['top_p 0.2']['exact_values']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

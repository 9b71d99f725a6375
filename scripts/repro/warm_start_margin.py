"""The demo's warm start across seeds and CPU kernel paths: when the copy of unseen names appears, and what IGPO does
from there (issue 32).

``make demo`` runs two recipes: ``recipes/sft_igpo-warmstart_tiny.yaml`` (the warm start) and
``recipes/igpo_tiny.yaml`` (IGPO from it). For each kernel setting and seed this script runs exactly those recipes
(the seed changed, nothing else) in a fresh process whose environment selects the CPU kernels:

- ``default``: the machine's own (AVX-512 where the CPU has it);
- ``avx2``: ``ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2``, close to a CPU that
  has only AVX2.

The warm start saves its weights every ``--eval_every`` steps; each save answers the demo's 400 held-out test
questions greedily, as the IGPO recipe evaluates them (``IGPOTrainer.evaluate_greedily``), split into 1-hop and 2-hop
questions. The copy of unseen names has appeared once 1-hop success reaches ``ONSET_ONE_HOP`` (a 1-hop answer is
one copy of a name the model never saw from the search result). Then IGPO runs from the final weights with the
demo's floor off, so that every run reports its start and end.

``--env_scan`` instead trains ``--scan_steps`` steps with each kernel variable set alone and prints how far the
weights moved from the default run: which variables change the arithmetic of this warm start.

    python scripts/repro/warm_start_margin.py [--seeds 0 1 2 3 4] [--kernels default avx2] [--jobs 2]
    python scripts/repro/warm_start_margin.py --env_scan
    python scripts/repro/warm_start_margin.py --worker --kernel avx2 --seed 0 --run_dir DIR [--no_igpo]

Writes ``docs/repro/warm_start_margin.{md,json,png}`` (``--out``, ``--name``); each finished run is kept in
``<out>/<name>_runs/`` and reused, so a stopped study resumes where it was. The outcome is whatever the runs give.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WARM_RECIPE = REPO / "recipes" / "sft_igpo-warmstart_tiny.yaml"
IGPO_RECIPE = REPO / "recipes" / "igpo_tiny.yaml"
KERNELS = {
    "default": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
"""Environment variables of each kernel setting; they act when torch and MKL load, so each run is its own process."""
ONSET_ONE_HOP = 0.5
"""1-hop held-out success that marks the copy of unseen names as learned."""


def kernel_environment(kernel: str, threads: int | None = None) -> dict:
    env = {**os.environ, **KERNELS[kernel], "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.update(TOKENIZERS_PARALLELISM="false", TRL_EXPERIMENTAL_SILENCE="1")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


# ---- worker: one (kernel, seed) in this process ------------------------------------------------------------------


def greedy_by_hops(model: str, work: str) -> dict:
    """Greedy success of ``model`` on the IGPO recipe's test questions, as the recipe's start evaluation computes it,
    in all and for 1-hop and 2-hop questions apart."""
    from infopo.cli.igpo import IGPO
    from infopo.cli.parsing import parse_recipe
    from infopo.cli.train import load_splits, prepare_model

    argv = ["--config", str(IGPO_RECIPE), "--model_name_or_path", model, "--output_dir", work]
    (script_args, training_args, model_args), _ = parse_recipe(IGPO.dataclass_types, argv)
    train, test = load_splits(IGPO, script_args, training_args)
    trainer = IGPO.trainer_class(
        model=prepare_model(model_args, training_args), args=training_args, train_dataset=train, eval_dataset=test
    )
    count = training_args.greedy_eval_questions
    questions = test.select(range(min(count, len(test))))
    result = {}
    for name, hops in (("one_hop", [1]), ("two_hop", [2])):
        part = questions.filter(lambda row, hops=hops: row["hops"] in hops)
        result[name] = trainer.evaluate_greedily(part, len(part))["success"]
        result[f"{name}_questions"] = len(part)
    total = result["one_hop_questions"] + result["two_hop_questions"]
    result["success"] = (
        result["one_hop"] * result["one_hop_questions"] + result["two_hop"] * result["two_hop_questions"]
    ) / total
    result["questions"] = total
    return result


def worker(args) -> dict:
    """The warm start with saves every ``eval_every`` steps, each evaluated, then the demo's IGPO from the end."""
    import torch

    from infopo.cli.igpo import IGPO
    from infopo.cli.sft import SFT
    from infopo.cli.train import run_training

    run_dir = Path(args.run_dir)
    warm = run_dir / "warm"
    started = time.perf_counter()
    saves = ["--save_strategy", "steps", "--save_steps", str(args.eval_every), "--save_only_model", "true"]
    warm_argv = ["--config", str(WARM_RECIPE), "--seed", str(args.seed), "--output_dir", str(warm)]
    trainer = run_training(SFT, [*warm_argv, *(saves if args.eval_every else []), "--disable_tqdm", "true"])
    sft_seconds = time.perf_counter() - started
    losses = [(entry["step"], entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    final_step = trainer.state.global_step
    del trainer
    checkpoints = sorted(warm.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    curve = []
    for path in [*checkpoints, warm]:
        step = int(path.name.split("-")[1]) if path != warm else final_step
        if curve and curve[-1]["step"] == step:
            continue
        curve.append({"step": step, **greedy_by_hops(str(path), str(run_dir / "eval"))})
    result = {
        "kernel": args.kernel,
        "seed": args.seed,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "max_steps": final_step,
        "sft_seconds": round(sft_seconds, 1),
        "losses": losses,
        "curve": curve,
        "start": curve[-1],
    }
    if not args.no_igpo:
        started = time.perf_counter()
        igpo_argv = ["--config", str(IGPO_RECIPE), "--model_name_or_path", str(warm), "--seed", str(args.seed)]
        igpo_argv += ["--output_dir", str(run_dir / "igpo"), "--greedy_min_start_success", "0"]
        trainer = run_training(IGPO, [*igpo_argv, "--disable_tqdm", "true"])
        result["igpo_seconds"] = round(time.perf_counter() - started, 1)
        result["igpo_start"] = trainer.greedy_results["start"]
        result["igpo_end"] = trainer.greedy_results["end"]
    return result


# ---- study: every (kernel, seed), resumable -----------------------------------------------------------------------


def run_one(kernel: str, seed: int, args, runs: Path, threads: int | None) -> dict:
    path = runs / f"{kernel}-seed{seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    with tempfile.TemporaryDirectory() as work:
        command = [sys.executable, __file__, "--worker", "--kernel", kernel, "--seed", str(seed)]
        command += ["--run_dir", work, "--eval_every", str(args.eval_every), "--result", str(path)]
        done = subprocess.run(command, env=kernel_environment(kernel, threads), capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{kernel} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(path.read_text())


def onset(run: dict) -> int | None:
    """The first evaluated step whose 1-hop held-out success reaches ONSET_ONE_HOP (None: never)."""
    return next((point["step"] for point in run["curve"] if point["one_hop"] >= ONSET_ONE_HOP), None)


def report(runs: list[dict], out: Path, name: str, floor: float) -> None:
    from infopo.igpo.report import interval95
    from infopo.machine import cpu_model

    runs = sorted(runs, key=lambda run: (run["kernel"] != "default", run["seed"]))
    lines = [
        "# The demo's warm start across seeds and CPU kernel paths",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores; "
        f"{time.strftime('%Y-%m-%d')}. Recipes: `{WARM_RECIPE.relative_to(REPO)}` then "
        f"`{IGPO_RECIPE.relative_to(REPO)}`, seed changed, nothing else. Copy onset: the first save whose 1-hop "
        f"held-out success is >= {ONSET_ONE_HOP}. "
        f"Greedy success on the recipe's 400 held-out test questions (95% interval); the demo's floor is {floor:g}.",
        "",
        "| kernels (PyTorch) | seed | copy onset (step of max) | start: success (1-hop, 2-hop) | IGPO end | gain |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        start, first = run["start"], onset(run)
        end = run.get("igpo_end")
        n = start["questions"]
        cells = [
            f"{run['kernel']} ({run['cpu_capability']})",
            str(run["seed"]),
            "never" if first is None else f"{first} of {run['max_steps']}",
            f"{start['success']:.3f} ± {interval95(start['success'], n):.3f} ({start['one_hop']:.2f}, "
            f"{start['two_hop']:.2f})",
            "-" if end is None else f"{end['success']:.3f} ± {interval95(end['success'], end['questions']):.3f}",
            "-" if end is None else f"{end['success'] - run['igpo_start']['success']:+.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    starts = [run["start"]["success"] for run in runs]
    ends = [run["igpo_end"]["success"] for run in runs if "igpo_end" in run]
    lines += ["", f"Start success over the {len(runs)} runs: {min(starts):.3f} to {max(starts):.3f}."]
    if ends:
        lines.append(f"End success: {min(ends):.3f} to {max(ends):.3f}.")
    seconds = [run["sft_seconds"] for run in runs]
    lines.append(
        f"Warm-start time per run: {min(seconds):.0f}-{max(seconds):.0f} s (with the saves and two runs at once)."
    )
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    (out / f"{name}.json").write_text(json.dumps({"floor": floor, "runs": runs}, indent=1))
    plot(runs, out / f"{name}.png", floor)
    print("\n".join(lines))


def plot(runs: list[dict], path: Path, floor: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kernels = sorted({run["kernel"] for run in runs})
    figure, axes = plt.subplots(1, len(kernels), figsize=(5.5 * len(kernels), 3.8), sharey=True, squeeze=False)
    for axis, kernel in zip(axes[0], kernels, strict=True):
        for run in (run for run in runs if run["kernel"] == kernel):
            steps = [point["step"] for point in run["curve"]]
            line = axis.plot(steps, [point["success"] for point in run["curve"]], marker="o", ms=3)[0]
            axis.plot(steps, [point["one_hop"] for point in run["curve"]], ls=":", color=line.get_color())
            if "igpo_end" in run:
                axis.plot([steps[-1] + 60], [run["igpo_end"]["success"]], marker="*", ms=9, color=line.get_color())
            line.set_label(f"seed {run['seed']}")
        axis.axhline(floor, color="grey", lw=0.8, ls="--")
        axis.set_title(f"kernels: {kernel} ({runs[0]['cpu_capability'] if kernel == 'default' else 'AVX2'})")
        axis.set_xlabel("warm-start step (star: after 60 IGPO steps)")
    axes[0][0].set_ylabel("greedy held-out success (dotted: 1-hop)")
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def env_scan(args) -> None:
    """Train ``scan_steps`` steps with each kernel variable alone; print the largest weight change from default."""
    variables = [("default", {})] + [(f"{k}={v}", {k: v}) for k, v in KERNELS["avx2"].items()]
    with tempfile.TemporaryDirectory() as work:
        folders = {}
        for label, extra in variables:
            folder = Path(work) / label.replace("=", "_")
            command = [sys.executable, "-m", "infopo", "sft", "--config", str(WARM_RECIPE), "--output_dir", str(folder)]
            command += ["--max_steps", str(args.scan_steps), "--disable_tqdm", "true"]
            env = {**kernel_environment("default"), **extra}
            subprocess.run(command, env=env, check=True, capture_output=True, cwd=REPO)
            folders[label] = folder / "model.safetensors"
        from safetensors.torch import load_file

        reference = load_file(folders["default"])
        for label, path in folders.items():
            weights = load_file(path)
            moved = max((weights[key] - reference[key]).abs().max().item() for key in reference)
            print(f"{label}: largest weight change from default after {args.scan_steps} steps: {moved:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    parser.add_argument("--eval_every", type=int, default=100, help="warm-start steps between evaluated saves")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, each on one thread (1: one run, 2 threads)")
    parser.add_argument("--out", default=str(REPO / "docs" / "repro"))
    parser.add_argument("--name", default="warm_start_margin")
    parser.add_argument("--env_scan", action="store_true")
    parser.add_argument("--scan_steps", type=int, default=100)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kernel", default="default", choices=list(KERNELS), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--run_dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--no_igpo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args)
        text = json.dumps(result, indent=1)
        Path(args.result).write_text(text) if args.result else print(text)
        return
    if args.env_scan:
        env_scan(args)
        return
    out = Path(args.out)
    runs_dir = out / f"{args.name}_runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    threads = 1 if args.jobs > 1 else None
    cells = [(kernel, seed) for seed in args.seeds for kernel in args.kernels]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            pool.submit(run_one, kernel, seed, args, runs_dir, threads): (kernel, seed) for kernel, seed in cells
        }
        for future in concurrent.futures.as_completed(futures):
            run = future.result()
            print(
                f"{run['kernel']} seed {run['seed']}: onset {onset(run)}, start {run['start']['success']:.3f}",
                flush=True,
            )
    runs = [json.loads((runs_dir / f"{kernel}-seed{seed}.json").read_text()) for kernel, seed in cells]
    report(runs, out, args.name, demo_floor())


def demo_floor() -> float:
    """The ``--greedy_min_start_success`` that ``make demo`` passes to its IGPO command (0 without one)."""
    found = re.search(r"--greedy_min_start_success[ =]([0-9.]+)", (REPO / "Makefile").read_text())
    return float(found.group(1)) if found else 0.0


if __name__ == "__main__":
    main()

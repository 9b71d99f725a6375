"""Rollouts and time to a target accuracy: uniform sampling, dynamic sampling, the learnability order, and the two
together (issue 33), on the tiny GRPO arithmetic task from a weak start.

Dynamic sampling (DAPO) pays for groups with a signal after generating them; the learnability order (GRESO-like:
predicted zero-variance prompts skipped) tries to predict them before. GRESO (arXiv 2506.02177) reports up to 2.4x
fewer rollouts than dynamic sampling at equal accuracy. This measures both on our miniature.

Protocol: the weak start of ``gainrl_efficiency.py`` (a 1.1M-parameter Llama after 300 SFT steps on arithmetic
statements; sampled accuracy about 0.1), then per seed and arm GRPO with InfopoGRPOTrainer on 512 prompts
(answer_match, 4 prompts x 8 rollouts per step, learning rate 1e-4, ``--steps`` steps). Arms:

- ``uniform``: TRL's sampler;
- ``dynamic``: the same with ``dynamic_sampling`` (groups whose rewards all agree dropped and refilled, at most 10
  generations per step);
- ``learnability``: ``gainrl_order: learnability`` (64 prompts per epoch, uniform prior);
- ``learnability+dynamic``: both;
- ``thompson``, ``thompson+dynamic``: the learnability order with MoPPS's Thompson draw (``learnability_draw``).

Every ``--eval_every`` steps: accuracy of 4 samples (temperature 1) per prompt on 256 held-out prompts, with the
rollouts generated so far (``rollouts_generated``) and the training seconds so far (evaluations excluded). Reported
per arm and seed: the rollouts and seconds at the first evaluation that reached the target (the start plus
``--gain``), the mean fraction of generated groups with zero variance, and the final accuracy.

    python scripts/repro/dynamic_sampling.py [--seeds 0 1 2] [--steps 160] [--eval_every 16] [--gain 0.015]
        [--arms ...] [--out docs/repro] [--name dynamic_sampling]

Writes <name>.md, .json and .png (the longer run: ``--steps 320 --eval_every 32 --gain 0.025 --name
dynamic_sampling_320``). The outcome is whatever the runs give.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from gainrl_efficiency import STARTS, accuracy, grpo_fields, problems, warm_start
from transformers import AutoTokenizer, TrainerCallback

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer
from infopo.machine import cpu_model
from infopo.rewards import answer_match

ARMS = {
    "uniform": {},
    "dynamic": {"dynamic_sampling": True},
    "learnability": {"gainrl_order": "learnability"},
    "learnability+dynamic": {"gainrl_order": "learnability", "dynamic_sampling": True},
    "thompson": {"gainrl_order": "learnability", "learnability_draw": "thompson"},
    "thompson+dynamic": {"gainrl_order": "learnability", "learnability_draw": "thompson", "dynamic_sampling": True},
}
"""Arm -> config fields on top of the shared GRPO settings."""


class Curve(TrainerCallback):
    """(step, rollouts generated, training seconds, accuracy) every ``every`` steps; evaluation time is left out."""

    def __init__(self, every, tokenizer, prompts):
        self.every, self.tokenizer, self.prompts = every, tokenizer, prompts
        self.points, self.started, self.evaluating = [], None, 0.0
        self.trainer = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            began = time.perf_counter()
            seconds = began - self.started - self.evaluating
            value = accuracy(model, self.tokenizer, self.prompts)
            self.points.append((state.global_step, self.trainer.rollouts_generated, seconds, value))
            self.evaluating += time.perf_counter() - began


def run_arm(arm, model, seed, steps, eval_every, work, train, evaluation, tokenizer) -> dict:
    fields = grpo_fields(os.path.join(work, f"{arm}-{seed}"), seed, steps, logging_steps=1)
    settings = ARMS[arm]
    if "gainrl_order" in settings:
        fields.update(gainrl_samples_per_epoch=64, gainrl_success_threshold=0.5)
    fields.update(settings)
    torch.manual_seed(seed)
    curve = Curve(eval_every, tokenizer, evaluation)
    trainer = InfopoGRPOTrainer(
        model=model,
        reward_funcs=[answer_match],
        args=InfopoGRPOConfig(**fields),
        train_dataset=train,
        callbacks=[curve],
    )
    curve.trainer = trainer
    curve.points.append((0, 0, 0.0, accuracy(trainer.model, tokenizer, evaluation)))
    trainer.train()
    logs = trainer.state.log_history
    zero = [h["frac_reward_zero_std"] for h in logs if "frac_reward_zero_std" in h]
    rounds = [h["dynamic_sampling/rounds"] for h in logs if "dynamic_sampling/rounds" in h]
    shorts = [h["dynamic_sampling/short_batches"] for h in logs if "dynamic_sampling/short_batches" in h]
    return {
        "points": curve.points,
        "zero_std": statistics.mean(zero),
        "rounds": statistics.mean(rounds) if rounds else 1.0,
        "short_batches": shorts[-1] if shorts else 0,
    }


def first_reaching(points: list, target: float):
    return next((point for point in points if point[3] >= target), None)


def report(result: dict, args, out: Path) -> None:
    runs, target, start = result["runs"], result["target"], result["start"]
    settings = result["settings"]
    lines = [
        "# Dynamic sampling and the learnability order: rollouts and time to a target accuracy (miniature)",
        "",
        f"{result['date']}, {result['machine']}, one process, 2 threads. Weak start (300 SFT steps, sampled "
        f"accuracy {start:.3f} at step 0, mean over arms and seeds); GRPO {settings['steps']} steps x 32 "
        f"rollouts (4 prompts x 8) from 512 prompts, learning rate 1e-4; seeds {settings['seeds']}. Target: "
        f"{target:.3f} (start + {settings['gain']:g}); evaluation every {settings['eval_every']} steps: exact "
        "accuracy of 4 samples (temperature 1) per prompt on 256 held-out prompts. 'rollouts' counts every "
        "generated rollout, kept or dropped; 'seconds' is "
        "training time, evaluations excluded.",
        "",
        "| arm | rollouts to target (per seed) | seconds to target (per seed) | zero-variance groups generated | "
        "generations per step | final accuracy |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for arm, arm_runs in runs.items():
        reached = [first_reaching(run["points"], target) for run in arm_runs]
        rollouts = ", ".join("never" if r is None else str(r[1]) for r in reached)
        seconds = ", ".join("never" if r is None else f"{r[2]:.0f}" for r in reached)
        final = [run["points"][-1][3] for run in arm_runs]
        lines.append(
            f"| {arm} | {rollouts} | {seconds} | {statistics.mean(r['zero_std'] for r in arm_runs):.2f} | "
            f"{statistics.mean(r['rounds'] for r in arm_runs):.2f} | "
            f"{statistics.mean(final):.3f} ± {statistics.pstdev(final):.3f} |"
        )
    lines += ["", "Median rollouts to target, where every seed reached it:", ""]
    medians = {}
    for arm, arm_runs in runs.items():
        reached = [first_reaching(run["points"], target) for run in arm_runs]
        if all(reached):
            medians[arm] = statistics.median(r[1] for r in reached)
            lines.append(f"- {arm}: {medians[arm]:.0f}")
        else:
            lines.append(f"- {arm}: not every seed reached the target")
    for numerator, denominator in (("dynamic", "learnability+dynamic"), ("dynamic", "uniform")):
        if numerator in medians and denominator in medians:
            lines.append(
                f"- ratio {numerator} / {denominator}: {medians[numerator] / medians[denominator]:.2f}x the rollouts"
            )
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=1))
    plot(runs, target, out / f"{args.name}.png")
    print("\n".join(lines))


def plot(runs: dict, target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for index, (arm, arm_runs) in enumerate(runs.items()):
        color = f"C{index}"
        for number, run in enumerate(arm_runs):
            rollouts = [point[1] for point in run["points"]]
            seconds = [point[2] for point in run["points"]]
            values = [point[3] for point in run["points"]]
            label = arm if number == 0 else None
            axes[0].plot(rollouts, values, color=color, alpha=0.7, marker=".", label=label)
            axes[1].plot(seconds, values, color=color, alpha=0.7, marker=".")
    for axis in axes:
        axis.axhline(target, color="grey", linestyle=":")
    axes[0].set_xlabel("rollouts generated")
    axes[1].set_xlabel("training seconds (evaluation excluded)")
    axes[0].set_ylabel("held-out sampled accuracy")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=160)
    parser.add_argument("--eval_every", type=int, default=16)
    parser.add_argument("--gain", type=float, default=STARTS["weak"]["gain"])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--out", default="docs/repro")
    parser.add_argument("--name", default="dynamic_sampling", help="file name of the report (.md, .json, .png)")
    parser.add_argument("--report_only", action="store_true", help="rebuild the report from the saved JSON")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        report(json.loads((out / f"{args.name}.json").read_text()), args, out)
        return
    weak = STARTS["weak"]
    limits = dict(operand_max=weak["operand_max"], product_max=weak["product_max"])
    train, evaluation = problems(512, 100, **limits, sft=False), problems(256, 999, **limits, sft=False)
    runs: dict[str, list] = {arm: [] for arm in args.arms}
    with tempfile.TemporaryDirectory() as work:
        model = warm_start(os.path.join(work, "warm"), weak["warm_steps"], **limits)
        tokenizer = AutoTokenizer.from_pretrained(model)
        for seed in args.seeds:
            for arm in args.arms:
                run = run_arm(arm, model, seed, args.steps, args.eval_every, work, train, evaluation, tokenizer)
                runs[arm].append(run)
                print(
                    f"seed {seed} {arm}: "
                    + ", ".join(f"{step}/{rollouts}:{value:.3f}" for step, rollouts, _, value in run["points"])
                    + f"; zero-variance {run['zero_std']:.2f}, rounds {run['rounds']:.2f}",
                    flush=True,
                )
    start = statistics.mean(run["points"][0][3] for arm_runs in runs.values() for run in arm_runs)
    result = {
        "runs": runs,
        "start": start,
        "target": start + args.gain,
        "settings": {"steps": args.steps, "eval_every": args.eval_every, "gain": args.gain, "seeds": args.seeds},
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
    }
    report(result, args, out)


if __name__ == "__main__":
    main()

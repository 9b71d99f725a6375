"""The report of ``credit_study.py``: tables, paired comparisons and one plot per setting, from its run files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from credit_study import ARMS, LEARNING_RATES, SETTINGS, TUNE_SEED, TUNE_SETTING, area, best_rates

from infopo.machine import cpu_model


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample standard deviation / sqrt(n); 0 for one value)."""
    mean = statistics.mean(values)
    return mean, (statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0)


def cell(values: list[float], digits: int = 3) -> str:
    mean, se = mean_se(values)
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def setting_runs(runs: dict, setting: str) -> dict[str, list[dict]]:
    chosen = [run for run in runs.values() if run["phase"] == "run" and run["setting"] == setting]
    by_arm = {arm: sorted((r for r in chosen if r["arm"] == arm), key=lambda r: r["seed"]) for arm in ARMS}
    return {arm: arm_runs for arm, arm_runs in by_arm.items() if arm_runs}


def tuning_lines(runs: dict, args) -> list[str]:
    lines = [
        f"## Learning rate per arm (setting `{TUNE_SETTING}`, seed {TUNE_SEED}, {args.tune_rollouts} rollouts)",
        "",
        "Area under the success curve (final success); the chosen rate in bold.",
        "",
        "| arm | " + " | ".join(f"lr {rate:g}" for rate in LEARNING_RATES) + " |",
        "| --- |" + " --- |" * len(LEARNING_RATES),
    ]
    rates = best_rates(runs, args) or {}
    for arm in ARMS:
        cells = []
        for rate in LEARNING_RATES:
            run = next(
                (r for r in runs.values() if r["phase"] == "tune" and r["arm"] == arm and r["learning_rate"] == rate),
                None,
            )
            if run is None:
                cells.append("not run")
                continue
            text = f"{area(run['points'], args.tune_rollouts):.3f} ({run['points'][-1][3]:.3f})"
            cells.append(f"**{text}**" if rates.get(arm) == rate else text)
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def setting_lines(setting: str, by_arm: dict, start: float | None, args) -> tuple[list[str], dict]:
    nominal = [index * args.eval_rollouts for index in range(args.rollouts // args.eval_rollouts + 1)]
    lines = [f"## Setting `{setting}`: {describe(setting)}", ""]
    if start is not None:
        lines += [f"Greedy success of the warm start: {start:.3f}.", ""]
    lines += [
        "Greedy held-out success (mean ± standard error over seeds) at each evaluation, by rollouts generated:",
        "",
        "| arm | seeds | " + " | ".join(str(x) for x in nominal) + " |",
        "| --- | --- |" + " --- |" * len(nominal),
    ]
    summary = {}
    for arm, arm_runs in by_arm.items():
        points = min(len(run["points"]) for run in arm_runs)
        cells = [cell([run["points"][i][3] for run in arm_runs]) for i in range(points)]
        lines.append(f"| {arm} | {len(arm_runs)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| arm | lr | final success | area under the curve | training seconds (1 thread) | optimizer steps "
        "| groups with zero outcome variance | steps with a gradient |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm, arm_runs in by_arm.items():
        finals = [run["points"][-1][3] for run in arm_runs]
        areas = [area(run["points"], args.rollouts) for run in arm_runs]
        seconds = [run["points"][-1][2] for run in arm_runs]
        steps = [run["points"][-1][0] for run in arm_runs]
        summary[arm] = {
            "learning_rate": arm_runs[0]["learning_rate"],
            "seeds": [run["seed"] for run in arm_runs],
            "final": finals,
            "area": areas,
            "seconds": seconds,
        }
        lines.append(
            f"| {arm} | {arm_runs[0]['learning_rate']:g} | {cell(finals)} | {cell(areas)} | {cell(seconds, 0)} | "
            f"{statistics.mean(steps):.0f} | {statistics.mean(r['frac_reward_zero_std'] for r in arm_runs):.2f} | "
            f"{statistics.mean(r['steps_with_gradient'] for r in arm_runs):.0f} |"
        )
    baseline = "GRPO+DS"
    if baseline in by_arm:
        lines += [
            "",
            f"Paired by seed against {baseline} (arm minus {baseline}; mean ± standard error; seeds where the arm "
            "is ahead):",
            "",
            "| arm | final success | area under the curve |",
            "| --- | --- | --- |",
        ]
        reference = {run["seed"]: run for run in by_arm[baseline]}
        for arm, arm_runs in by_arm.items():
            if arm == baseline:
                continue
            pairs = [(run, reference[run["seed"]]) for run in arm_runs if run["seed"] in reference]
            if not pairs:
                continue
            final = [a["points"][-1][3] - b["points"][-1][3] for a, b in pairs]
            areas = [area(a["points"], args.rollouts) - area(b["points"], args.rollouts) for a, b in pairs]
            summary[arm]["paired_vs_" + baseline] = {"final": final, "area": areas}
            lines.append(
                f"| {arm} | {cell(final):s} ({sum(d > 0 for d in final)}/{len(final)}) | "
                f"{cell(areas)} ({sum(d > 0 for d in areas)}/{len(areas)}) |"
            )
    return lines + ["", f"![{setting}](credit_study_{setting}.png)", ""], summary


def describe(setting: str) -> str:
    values = SETTINGS[setting]
    hops = "2-hop only" if values["two_hop_share"] == 1.0 else f"{values['two_hop_share']:.0%} 2-hop, the rest 1-hop"
    return f"{hops}, corpus coverage {values['coverage']:g}"


def plot(setting: str, by_arm: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_rollouts, by_time) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for arm, arm_runs in by_arm.items():
        count = min(len(run["points"]) for run in arm_runs)
        columns = [[run["points"][i] for run in arm_runs] for i in range(count)]
        success = [mean_se([p[3] for p in column]) for column in columns]
        means, errors = [m for m, _ in success], [e for _, e in success]
        rollouts = [statistics.mean(p[1] for p in column) for column in columns]
        seconds = [statistics.mean(p[2] for p in column) for column in columns]
        by_rollouts.errorbar(rollouts, means, yerr=errors, marker="o", capsize=3, label=arm)
        by_time.errorbar(seconds, means, yerr=errors, marker="o", capsize=3, label=arm)
    by_rollouts.set_xlabel("rollouts generated")
    by_time.set_xlabel("training seconds (one thread, evaluations excluded)")
    by_rollouts.set_ylabel("greedy held-out success")
    by_rollouts.set_title(f"{setting}: {describe(setting)}", fontsize=9)
    by_rollouts.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def report(runs: dict, args, out: Path) -> None:
    """credit_study.md, credit_study.json and one plot per setting with runs."""
    starts_file = out / "credit_study_start.json"
    starts = json.loads(starts_file.read_text()) if starts_file.exists() else {}
    machine = next((run.get("machine") for run in runs.values() if run.get("machine")), cpu_model())
    dates = sorted({run["date"] for run in runs.values() if "date" in run})
    lines = [
        "# When turn-level information gain pays: GRPO, GRPO + dynamic sampling, IGPO, IGPO counterfactual",
        "",
        f"{', '.join(dates) or 'not run'}; {machine}; {args.workers} worker processes of one thread each. "
        "Protocol: `scripts/repro/credit_study.py` (its docstring). Every run: the demo's warm start, 8 questions x "
        f"4 rollouts per step, temperature 0.3, constant learning rate, {args.rollouts} rollouts generated (kept "
        f"or dropped), greedy success on 400 held-out questions every {args.eval_rollouts} rollouts (± 0.05 at "
        "95% near 0.5 for one evaluation).",
        "",
        *tuning_lines(runs, args),
        "",
    ]
    summaries = {}
    for setting in SETTINGS:
        by_arm = setting_runs(runs, setting)
        if not by_arm:
            continue
        text, summaries[setting] = setting_lines(setting, by_arm, starts.get(setting), args)
        lines += text
        plot(setting, by_arm, out / f"credit_study_{setting}.png")
    (out / "credit_study.md").write_text("\n".join(lines))
    payload = {"starts": starts, "rates": best_rates(runs, args), "settings": summaries}
    (out / "credit_study.json").write_text(json.dumps(payload, indent=1))
    print("\n".join(lines))

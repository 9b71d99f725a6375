"""Shared reporting for the reproductions that compare arms by learning curves over seeds.

``curves`` maps an arm's name to one curve per seed; a curve is a list of (step, value) at the same steps for
every seed and arm.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def steps_to(curve: list, target: float) -> int | None:
    """The first evaluated step whose value reaches ``target`` (None: never)."""
    return next((step for step, value in curve if value >= target), None)


def arm_table(curves: dict[str, list], value_name: str, target: float | None = None) -> list[str]:
    """Markdown rows: mean ± std over seeds at every evaluated step, and the steps each seed took to the target."""
    steps = [step for step, _ in next(iter(curves.values()))[0]]
    header = "| arm | " + " | ".join(f"{value_name} at step {s}" for s in steps)
    rule = "| --- | " + " | ".join("---" for _ in steps)
    if target is not None:
        header, rule = header + " | steps to target (per seed)", rule + " | ---"
    lines = [header + " |", rule + " |"]
    for arm, arm_curves in curves.items():
        cells = []
        for index in range(len(steps)):
            values = [curve[index][1] for curve in arm_curves]
            cells.append(f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f}")
        if target is not None:
            reached = [steps_to(curve, target) for curve in arm_curves]
            cells.append(", ".join("never" if r is None else str(r) for r in reached))
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def plot_arms(curves: dict[str, list], path: str | Path, xlabel: str, ylabel: str, target: float | None = None) -> None:
    """Mean ± std over seeds per arm; a dotted line at the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for arm, arm_curves in curves.items():
        steps = [s for s, _ in arm_curves[0]]
        means = [statistics.mean(c[i][1] for c in arm_curves) for i in range(len(steps))]
        stds = [statistics.pstdev(c[i][1] for c in arm_curves) for i in range(len(steps))]
        axes.errorbar(steps, means, yerr=stds, marker="o", capsize=3, label=arm)
    if target is not None:
        axes.axhline(target, color="grey", linestyle=":", label="target")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def start_and_target(curves: dict[str, list], gain: float) -> tuple[float, float]:
    """The mean value at the first evaluation over every arm and seed, and that plus ``gain``."""
    start = statistics.mean(curve[0][1] for arm_curves in curves.values() for curve in arm_curves)
    return start, start + gain


def write_report(
    out: Path,
    name: str,
    title: str,
    intro: str,
    curves: dict[str, list],
    payload,
    *,
    value_name: str,
    xlabel: str,
    ylabel: str,
    target: float,
    extra: list[str] = (),
) -> None:
    """``name``.md (the intro, :func:`arm_table` and the ``extra`` lines), ``name``.json (``payload``) and
    ``name``.png; prints the text."""
    text = "\n".join([f"# {title}", "", intro, "", *arm_table(curves, value_name, target), *extra]) + "\n"
    (out / f"{name}.md").write_text(text)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1))
    plot_arms(curves, out / f"{name}.png", xlabel, ylabel, target)
    print(text)

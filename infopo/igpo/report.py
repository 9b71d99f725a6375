"""IGPO's training curves from a trainer's log history: a printed table and a PNG (the command line writes both)."""

from __future__ import annotations

import math
from pathlib import Path

CURVES = {
    "igpo/success": "success",
    "igpo/outcome": "outcome",
    "igpo/info_gain": "info gain",
    "igpo/probe_last": "probe (last)",
    "igpo/turns": "turns",
}
"""Logged metrics shown, and their column titles."""


def curve_rows(log_history: list[dict]) -> list[dict]:
    """One row per training log that carries IGPO metrics: the step and the values of :data:`CURVES`."""
    return [
        {"step": entry["step"], **{key: entry[key] for key in CURVES if key in entry}}
        for entry in log_history
        if "igpo/outcome" in entry
    ]


def format_curves(rows: list[dict]) -> str:
    """A plain-text table of the rows."""
    lines = ["step  " + "  ".join(f"{title:>12}" for title in CURVES.values())]
    for row in rows:
        cells = [f"{row[key]:12.3f}" if key in row else f"{'-':>12}" for key in CURVES]
        lines.append(f"{row['step']:>4}  " + "  ".join(cells))
    return "\n".join(lines)


def interval95(success: float, questions: float) -> float:
    """Half-width of the 95% interval of a success rate over ``questions`` (normal approximation)."""
    return 1.96 * math.sqrt(success * (1 - success) / questions)


def format_greedy(results: dict[str, dict[str, float]]) -> str:
    """Greedy held-out success at the start and at the end of training, with 95% intervals (normal approximation)."""
    lines = []
    for moment, result in results.items():
        n, p = result["questions"], result["success"]
        lines.append(
            f"greedy held-out success at the {moment} of training: {p:.3f} ± {interval95(p, n):.3f} "
            f"({int(n)} questions; F1 {result['f1']:.3f}, format errors {result['format_error_frac']:.3f})"
        )
    return "\n".join(lines)


def plot_curves(rows: list[dict], path: str | Path, greedy: dict[str, dict[str, float]] | None = None) -> Path:
    """Success, outcome and mean information gain against the step; with ``greedy`` (``IGPOTrainer.greedy_results``),
    the greedy held-out success before (step 0) and after training (the last step) with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    steps = [row["step"] for row in rows]
    for key in ("igpo/success", "igpo/outcome"):
        left.plot(steps, [row.get(key, float("nan")) for row in rows], marker="o", label=CURVES[key])
    moments = {"start": 0, "end": steps[-1]}
    points = [(moments[moment], result) for moment, result in (greedy or {}).items() if moment in moments]
    if points:
        successes = [result["success"] for _, result in points]
        intervals = [interval95(p, result["questions"]) for p, (_, result) in zip(successes, points, strict=True)]
        left.errorbar(
            [step for step, _ in points],
            successes,
            yerr=intervals,
            marker="s",
            color="black",
            capsize=4,
            linestyle="--",
            label=f"greedy, {int(points[0][1]['questions'])} held-out questions",
        )
    left.set_xlabel("step")
    left.set_title("success: sampled rollouts (train batch) and greedy")
    left.legend()
    right.plot(steps, [row.get("igpo/info_gain", float("nan")) for row in rows], marker="o", color="tab:green")
    right.axhline(0.0, color="grey", linewidth=0.8)
    right.set_xlabel("step")
    right.set_title("mean information gain per search turn")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)

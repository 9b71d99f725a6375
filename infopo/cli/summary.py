"""The readable end-of-run summary printed by the training commands (main process only)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from infopo.model_card import final_metrics

HEADLINE_METRICS = (
    "train_loss",
    "loss",
    "kappa/selected",
    "kappa/trainable_fraction",
    "kappa/max_selected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
    "did/ordered_frac",
    "did/displacement_frac",
    "did/pair_entropy",
    "did/entropy",
    "igpo/outcome",
    "igpo/success",
    "igpo/info_gain",
    "igpo/format_error_frac",
    "igpo/greedy_success_start",
    "igpo/greedy_success_end",
    "gainrl/mu",
    "gainrl/acc",
    "reward",
    "reward_std",
    "completions/mean_length",
    "eval_loss",
    "eval_rewards/accuracies",
    "eval_rewards/margins",
)
"""Metrics shown when present, in this order; every metric is in the model card."""


def process_seconds() -> float:
    """Seconds since this process started: the wall time a user waited, start-up and imports included."""
    import time

    import psutil

    return time.time() - psutil.Process().create_time()


def print_summary(trainer, command: str, seconds: float, console: Console | None = None) -> None:
    """Print what was trained, on what, how long it took (``seconds``: since the process started), the headline metrics
    and the saved folder."""
    console = console or Console()
    metrics = final_metrics(trainer.state.log_history)
    output = Path(trainer.args.output_dir)
    table = Table(title=f"infopo {command}: done", show_header=False, title_justify="left")
    table.add_row("model", str(trainer.base_model_name))
    table.add_row("data", f"{trainer.dataset_name} ({len(trainer.train_dataset)} rows)")
    table.add_row("processes", str(trainer.accelerator.num_processes))
    table.add_row("steps", str(trainer.state.global_step))
    table.add_row("wall time", f"{seconds:.1f} s")
    for key in HEADLINE_METRICS:
        if key in metrics:
            table.add_row(key, f"{metrics[key]:.4g}")
    table.add_row("saved to", f"{output} ({', '.join(sorted(p.name for p in output.iterdir() if p.is_file()))})")
    console.print(table)

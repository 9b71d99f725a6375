"""``infopo igpo``: multi-turn search-agent RL with IGPO's turn-level information-gain advantages."""

from pathlib import Path

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.data import require_columns
from infopo.data.validation import check_rows, is_answer, is_prompt
from infopo.igpo.config import IGPOConfig
from infopo.igpo.report import curve_rows, format_curves, format_greedy, plot_curves
from infopo.igpo.trainer import IGPOTrainer


def _check_questions(dataset, name: str, script_args, training_args) -> None:
    """A question (text or messages) and a non-empty ground-truth answer in every row."""
    require_columns(dataset, ("prompt", training_args.answer_column), name, "IGPO (questions and their answers)")
    check_rows(dataset, {"prompt": is_prompt, training_args.answer_column: is_answer}, name)


def _report_curves(trainer) -> None:
    """Print the greedy held-out success before and after training (``greedy_eval_questions``), and the success and
    information-gain curves; write the curves to ``igpo_curves.png`` when matplotlib is there."""
    if trainer.greedy_results:
        print(format_greedy(trainer.greedy_results))
    rows = curve_rows(trainer.state.log_history)
    if not rows:
        return
    print(format_curves(rows))
    try:
        path = plot_curves(rows, Path(trainer.args.output_dir) / "igpo_curves.png", trainer.greedy_results)
    except ImportError:
        return
    print(f"infopo igpo: wrote {path}")


IGPO = TrainingCommand(
    name="igpo",
    script_class=InfopoScriptArguments,
    config_class=IGPOConfig,
    trainer_class=IGPOTrainer,
    check_dataset=_check_questions,
    after_training=_report_curves,
    needs_test_split=lambda args: args.eval_strategy != "no" or args.greedy_eval_questions > 0,
)

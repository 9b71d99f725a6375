"""``infopo igpo``: multi-turn search-agent RL with IGPO's turn-level information-gain advantages."""

from dataclasses import dataclass, field
from pathlib import Path

from infopo.cli.grpo import load_reward_function
from infopo.cli.train import InfopoScriptArguments, TrainingCommand, evaluation_purpose
from infopo.data import require_columns
from infopo.data.nested import answer_like_columns, with_nested_column
from infopo.data.validation import check_rows, is_answer, is_prompt
from infopo.errors import InfopoConfigError
from infopo.igpo.config import IGPOConfig
from infopo.igpo.report import curve_rows, format_curves, format_greedy, plot_curves
from infopo.igpo.trainer import IGPOTrainer
from infopo.rewards import REWARD_FUNCTIONS


@dataclass
class IGPOScriptArguments(InfopoScriptArguments):
    reward_funcs: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Outcome reward functions in place of IGPO's F1 (or exact match) of the final answer: names from "
            f"infopo.rewards ({', '.join(REWARD_FUNCTIONS)}), dotted paths (my_rewards.search_r1_em) or "
            "module:function paths; empty: the built-in outcome."
        },
    )


def _check_questions(dataset, name: str, script_args, training_args) -> None:
    """A question (text or messages) and a non-empty ground-truth answer in every row (``answer_column`` may be a
    dotted path into nested columns)."""
    require_columns(dataset, ("prompt",), name, "IGPO (questions and their answers)")
    column = training_args.answer_column
    dataset = with_nested_column(dataset, column, name)
    if column not in dataset.column_names:
        likely = answer_like_columns(dataset)
        raise InfopoConfigError(
            f"dataset {name!r} has no answer column {column!r} (--answer_column; a dotted path reads nested columns); "
            f"its columns: {', '.join(dataset.column_names)}"
            + (f"; answers may be in: {', '.join(likely)}" if likely else "")
        )
    require_columns(dataset, ("prompt", column), name, "IGPO (questions and their answers)")
    check_rows(dataset, {"prompt": is_prompt, column: is_answer}, name)


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
    script_class=IGPOScriptArguments,
    config_class=IGPOConfig,
    trainer_class=IGPOTrainer,
    check_dataset=_check_questions,
    after_training=_report_curves,
    trainer_kwargs=lambda script_args: (
        {"reward_funcs": [load_reward_function(name) for name in script_args.reward_funcs]}
        if script_args.reward_funcs
        else {}
    ),
    test_split_purpose=lambda args: (
        evaluation_purpose(args)
        or (
            f"the greedy evaluation, greedy_eval_questions: {args.greedy_eval_questions}; "
            "or set greedy_eval_questions: 0"
            if args.greedy_eval_questions > 0
            else None
        )
    ),
)

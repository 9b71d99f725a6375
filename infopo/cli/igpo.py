"""``infopo igpo``: multi-turn search-agent RL with IGPO's turn-level information-gain advantages."""

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.data import require_columns
from infopo.igpo.config import IGPOConfig
from infopo.igpo.trainer import IGPOTrainer


def _check_questions(dataset, name: str, script_args) -> None:
    require_columns(dataset, ("prompt",), name, "IGPO (questions)")


IGPO = TrainingCommand(
    name="igpo",
    script_class=InfopoScriptArguments,
    config_class=IGPOConfig,
    trainer_class=IGPOTrainer,
    check_dataset=_check_questions,
)

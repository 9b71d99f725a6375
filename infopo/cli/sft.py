"""``infopo sft``: TRL's SFT through infopo's recipes, checks, KappaTune fields and model card."""

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.configs import InfopoSFTConfig
from infopo.errors import InfopoConfigError
from infopo.trainers import InfopoSFTTrainer

SFT_FORMATS = (("text",), ("messages",), ("prompt", "completion"))
"""The data set formats TRL's SFTTrainer reads: language modelling, conversational, prompt-completion."""


def _check_sft_columns(dataset, name: str, _) -> None:
    if not any(all(column in dataset.column_names for column in form) for form in SFT_FORMATS):
        accepted = " or ".join("+".join(form) for form in SFT_FORMATS)
        raise InfopoConfigError(
            f"dataset {name!r} has none of the SFT formats ({accepted}); its columns: {', '.join(dataset.column_names)}"
        )


SFT = TrainingCommand(
    name="sft",
    script_class=InfopoScriptArguments,
    config_class=InfopoSFTConfig,
    trainer_class=InfopoSFTTrainer,
    check_dataset=_check_sft_columns,
)

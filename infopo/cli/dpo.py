"""``infopo dpo``: TRL's DPO through infopo's recipes, checks and model card."""

from trl import DPOConfig

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.trainers import InfopoDPOTrainer

DPO = TrainingCommand(
    name="dpo",
    script_class=InfopoScriptArguments,
    config_class=DPOConfig,
    trainer_class=InfopoDPOTrainer,
    required_columns=lambda script_args: {"DPO (preference pairs)": ("chosen", "rejected")},
)

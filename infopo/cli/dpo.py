"""``infopo dpo``: TRL's DPO through infopo's recipes, checks, KappaTune fields and model card."""

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.configs import InfopoDPOConfig
from infopo.data import require_columns
from infopo.trainers import InfopoDPOTrainer

DPO = TrainingCommand(
    name="dpo",
    script_class=InfopoScriptArguments,
    config_class=InfopoDPOConfig,
    trainer_class=InfopoDPOTrainer,
    check_dataset=lambda dataset, name, _: require_columns(dataset, ("chosen", "rejected"), name, "DPO (preference pairs)"),
)

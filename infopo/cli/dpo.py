"""``infopo dpo`` and ``infopo did-dpo``: TRL's DPO through infopo's recipes, checks, KappaTune and model card.

``did-dpo`` is the same run with :class:`~infopo.did.trainer.DIDDPOTrainer`: the ``did/*`` metrics every logging
step and, with ``did_entropy_steps``, the DID entropy estimate.
"""

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.configs import InfopoDPOConfig
from infopo.data import require_columns
from infopo.data.validation import check_rows, check_same_kind, is_text_or_messages
from infopo.did.config import DIDDPOConfig
from infopo.did.trainer import DIDDPOTrainer
from infopo.trainers import InfopoDPOTrainer


def check_preference_pairs(dataset, name: str, script_args, training_args) -> None:
    """chosen and rejected (and the prompt, when there is one) in every row: text, or lists of messages, one kind per
    row. Degenerate pairs (chosen equal to rejected, empty ones) are counted by the trainer, which warns."""
    require_columns(dataset, ("chosen", "rejected"), name, "DPO (preference pairs)")
    columns = tuple(column for column in ("prompt", "chosen", "rejected") if column in dataset.column_names)
    check_rows(dataset, {column: is_text_or_messages for column in columns}, name)
    check_same_kind(dataset, columns, name)


DPO = TrainingCommand(
    name="dpo",
    script_class=InfopoScriptArguments,
    config_class=InfopoDPOConfig,
    trainer_class=InfopoDPOTrainer,
    check_dataset=check_preference_pairs,
)

DID_DPO = TrainingCommand(
    name="did-dpo",
    script_class=InfopoScriptArguments,
    config_class=DIDDPOConfig,
    trainer_class=DIDDPOTrainer,
    check_dataset=check_preference_pairs,
)

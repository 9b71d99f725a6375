"""``infopo dpo`` and ``infopo did-dpo``: TRL's DPO through infopo's recipes, checks, KappaTune and model card.

``did-dpo`` is the same run with :class:`~infopo.did.trainer.DIDDPOTrainer`: the ``did/*`` metrics every logging
step and, with ``did_entropy_steps``, the DID entropy estimate.
"""

import warnings

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.configs import InfopoDPOConfig
from infopo.data import require_columns
from infopo.did.config import DIDDPOConfig
from infopo.did.trainer import DIDDPOTrainer
from infopo.trainers import InfopoDPOTrainer


def check_preference_pairs(dataset, name: str, _) -> None:
    """The pair columns must be there; pairs whose chosen equals rejected teach nothing: count them and warn."""
    require_columns(dataset, ("chosen", "rejected"), name, "DPO (preference pairs)")
    identical = sum(chosen == rejected for chosen, rejected in zip(dataset["chosen"], dataset["rejected"], strict=True))
    if identical:
        warnings.warn(f"dataset {name!r}: {identical} of {len(dataset)} pairs have chosen identical to rejected; "
                      "they carry no preference (zero gradient)", stacklevel=2)


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

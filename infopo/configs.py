"""infopo's trainer configs: TRL's configs plus the fields every infopo trainer shares (KappaTune; GAIN-RL for GRPO)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from trl import DPOConfig, GRPOConfig, SFTConfig

from infopo.gainrl.config import GainRLArguments
from infopo.kappa.config import KappaArguments
from infopo.recipe import SECRET_FIELDS


class RedactedPickle:
    """Pickling drops the Hub token: transformers pickles the training arguments into ``training_args.bin`` next to
    every saved model and checkpoint (and uploads it with them); a deep copy keeps it, for the trainer's own use."""

    def __getstate__(self):
        return {key: (None if key in SECRET_FIELDS else value) for key, value in self.__dict__.items()}

    def __deepcopy__(self, memo):
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone


TRACKER_PACKAGES = {"azure_ml": "azureml-core", "comet_ml": "comet_ml", "tensorboard": "tensorboard",
                    "wandb": "wandb", "trackio": "trackio", "mlflow": "mlflow", "neptune": "neptune",
                    "codecarbon": "codecarbon", "clearml": "clearml", "dagshub": "dagshub", "dvclive": "dvclive",
                    "swanlab": "swanlab", "flyte": "flytekit"}
"""The package each ``report_to`` tracker needs (what to pip install)."""


def check_trackers(report_to) -> None:
    """Every tracker in ``report_to`` can be started: its package is installed (a missing one would otherwise end the
    run in a traceback once the trainer is built)."""
    from transformers.integrations import get_available_reporting_integrations

    available = set(get_available_reporting_integrations())
    for tracker in report_to or []:
        if tracker not in available and tracker in TRACKER_PACKAGES:
            raise ValueError(f"report_to {tracker!r} needs the package {TRACKER_PACKAGES[tracker]}: pip install "
                             f"{TRACKER_PACKAGES[tracker]} (or report to another tracker, or none)")


@dataclass
class InfopoSFTConfig(RedactedPickle, SFTConfig, KappaArguments):
    """TRL's ``SFTConfig`` with :class:`~infopo.kappa.config.KappaArguments`."""

    def __post_init__(self):
        super().__post_init__()
        check_trackers(self.report_to)
        self.check_kappa()


@dataclass
class InfopoDPOConfig(RedactedPickle, DPOConfig, KappaArguments):
    """TRL's ``DPOConfig`` with :class:`~infopo.kappa.config.KappaArguments`."""

    def __post_init__(self):
        super().__post_init__()
        check_trackers(self.report_to)
        self.check_kappa()


@dataclass
class InfopoGRPOConfig(RedactedPickle, GRPOConfig, KappaArguments, GainRLArguments):
    """TRL's ``GRPOConfig`` with :class:`~infopo.kappa.config.KappaArguments` and
    :class:`~infopo.gainrl.config.GainRLArguments`."""

    def __post_init__(self):
        super().__post_init__()
        check_trackers(self.report_to)
        self.check_kappa()
        self.check_gainrl()

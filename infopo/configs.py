"""infopo's trainer configs: TRL's configs plus the fields every infopo trainer shares (KappaTune, the DID entropy;
GAIN-RL and dynamic sampling for GRPO)."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

from trl import DPOConfig, GRPOConfig, SFTConfig

from infopo.did.arguments import DIDEntropyArguments
from infopo.dynamic_sampling.config import DynamicSamplingArguments
from infopo.gainrl.config import GainRLArguments
from infopo.kappa.config import KappaArguments
from infopo.prompt_length import PromptLengthArguments
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


TRACKER_PACKAGES = {
    "azure_ml": "azureml-core",
    "comet_ml": "comet_ml",
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "trackio": "trackio",
    "mlflow": "mlflow",
    "neptune": "neptune",
    "codecarbon": "codecarbon",
    "clearml": "clearml",
    "dagshub": "dagshub",
    "dvclive": "dvclive",
    "swanlab": "swanlab",
    "flyte": "flytekit",
}
"""The package each ``report_to`` tracker needs (what to pip install)."""


def tracker_list(report_to) -> list[str]:
    """``report_to`` as a list of tracker names: ``"wandb,tensorboard"`` (the comma form, from a flag or a YAML
    string) is split as the space-separated form and a YAML list are."""
    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    return [part.strip() for name in names for part in str(name).split(",") if part.strip()]


def check_trackers(report_to) -> None:
    """Every tracker in ``report_to`` (a list of names) is one transformers knows, and can be started: its package is
    installed (a missing one would otherwise end the run in a traceback once the trainer is built)."""
    from transformers.integrations import get_available_reporting_integrations
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    available = set(get_available_reporting_integrations())
    for tracker in report_to:
        if tracker not in INTEGRATION_TO_CALLBACK and tracker not in ("all", "none"):
            raise ValueError(
                f"report_to {tracker!r} is not a tracker transformers knows (one of "
                f"{', '.join(sorted(INTEGRATION_TO_CALLBACK))}, or none); give several as a list"
            )
        if tracker not in available and tracker in TRACKER_PACKAGES:
            raise ValueError(
                f"report_to {tracker!r} needs the package {TRACKER_PACKAGES[tracker]}: pip install "
                f"{TRACKER_PACKAGES[tracker]} (or report to another tracker, or none)"
            )


@dataclass
class InfopoSFTConfig(RedactedPickle, SFTConfig, KappaArguments, DIDEntropyArguments):
    """TRL's ``SFTConfig`` with :class:`~infopo.kappa.config.KappaArguments` and
    :class:`~infopo.did.arguments.DIDEntropyArguments`."""

    def __post_init__(self):
        super().__post_init__()
        self.check_infopo_fields()

    def check_infopo_fields(self) -> None:
        """Check the fields infopo adds (also run on a TRL config adopted by a trainer: :func:`adopt_config`)."""
        self.report_to = tracker_list(self.report_to)
        check_trackers(self.report_to)
        self.check_kappa()
        self.check_did()


@dataclass
class InfopoDPOConfig(RedactedPickle, DPOConfig, KappaArguments, DIDEntropyArguments):
    """TRL's ``DPOConfig`` with :class:`~infopo.kappa.config.KappaArguments` and
    :class:`~infopo.did.arguments.DIDEntropyArguments`."""

    def __post_init__(self):
        super().__post_init__()
        self.check_infopo_fields()

    def check_infopo_fields(self) -> None:
        """Check the fields infopo adds (also run on a TRL config adopted by a trainer: :func:`adopt_config`)."""
        self.report_to = tracker_list(self.report_to)
        check_trackers(self.report_to)
        self.check_kappa()
        self.check_did()


@dataclass
class InfopoGRPOConfig(
    RedactedPickle,
    GRPOConfig,
    KappaArguments,
    GainRLArguments,
    DIDEntropyArguments,
    DynamicSamplingArguments,
    PromptLengthArguments,
):
    """TRL's ``GRPOConfig`` with :class:`~infopo.kappa.config.KappaArguments`,
    :class:`~infopo.gainrl.config.GainRLArguments`, :class:`~infopo.did.arguments.DIDEntropyArguments`,
    :class:`~infopo.dynamic_sampling.config.DynamicSamplingArguments` and
    :class:`~infopo.prompt_length.PromptLengthArguments` (``max_prompt_length``)."""

    def __post_init__(self):
        super().__post_init__()
        self.check_infopo_fields()

    def check_infopo_fields(self) -> None:
        """Check the fields infopo adds (also run on a TRL config adopted by a trainer: :func:`adopt_config`)."""
        self.report_to = tracker_list(self.report_to)
        check_trackers(self.report_to)
        self.check_kappa()
        self.check_did()
        self.check_gainrl()
        self.check_dynamic_sampling()
        self.check_prompt_length()


def adopt_config(config, config_class: type, default_output_dir: str):
    """The training arguments an infopo trainer runs with: ``config`` itself when it is a ``config_class``; TRL's own
    config (``trl.DPOConfig`` for ``DIDDPOTrainer``) as a ``config_class`` with the same values and infopo's fields at
    their defaults (checked as usual); None as ``config_class(output_dir=default_output_dir)``, as TRL makes its own.

    The user's object is never changed. A config of another class (a user's subclass of TRL's) is kept as it is; the
    trainers read infopo's fields from it only where it has them.
    """
    if config is None:
        return config_class(output_dir=default_output_dir)
    if isinstance(config, config_class) or not issubclass(config_class, type(config)):
        return config
    adopted = config_class.__new__(config_class)
    adopted.__dict__.update(copy.deepcopy(config.__dict__))
    for item in dataclasses.fields(config_class):
        if item.name not in adopted.__dict__:
            default = item.default if item.default_factory is dataclasses.MISSING else item.default_factory()
            setattr(adopted, item.name, default)
    adopted.check_infopo_fields()
    return adopted

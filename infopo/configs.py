"""infopo's trainer configs: TRL's configs plus the fields every infopo trainer shares (KappaTune)."""

from __future__ import annotations

from dataclasses import dataclass

from trl import DPOConfig, GRPOConfig, SFTConfig

from infopo.kappa.config import KappaArguments


@dataclass
class InfopoSFTConfig(SFTConfig, KappaArguments):
    """TRL's ``SFTConfig`` with :class:`~infopo.kappa.config.KappaArguments`."""

    def __post_init__(self):
        super().__post_init__()
        self.check_kappa()


@dataclass
class InfopoDPOConfig(DPOConfig, KappaArguments):
    """TRL's ``DPOConfig`` with :class:`~infopo.kappa.config.KappaArguments`."""

    def __post_init__(self):
        super().__post_init__()
        self.check_kappa()


@dataclass
class InfopoGRPOConfig(GRPOConfig, KappaArguments):
    """TRL's ``GRPOConfig`` with :class:`~infopo.kappa.config.KappaArguments`."""

    def __post_init__(self):
        super().__post_init__()
        self.check_kappa()

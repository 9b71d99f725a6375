"""``DIDDPOConfig``: DPO with differential-information metrics (arXiv 2505.23761)."""

from __future__ import annotations

from dataclasses import dataclass

from infopo.configs import InfopoDPOConfig


@dataclass
class DIDDPOConfig(InfopoDPOConfig):
    """``InfopoDPOConfig`` for :class:`~infopo.did.trainer.DIDDPOTrainer`: the per-batch ``did/*`` metrics cost
    nothing and are always on; the periodic DID entropy estimate is every infopo config's ``did_entropy_*`` fields
    (:class:`~infopo.did.arguments.DIDEntropyArguments`), off unless ``did_entropy_steps`` is set."""

    def check_infopo_fields(self) -> None:
        super().check_infopo_fields()
        if not self.beta > 0:
            raise ValueError(f"beta must be positive for DID metrics (l = reward / beta), got {self.beta}")

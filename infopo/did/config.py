"""``DIDDPOConfig``: DPO with differential-information metrics (arXiv 2505.23761)."""

from __future__ import annotations

from dataclasses import dataclass, field

from infopo.configs import InfopoDPOConfig


@dataclass
class DIDDPOConfig(InfopoDPOConfig):
    """``InfopoDPOConfig`` plus the periodic DID entropy estimate.

    The per-batch ``did/*`` metrics cost nothing and are always on. The DID entropy estimate samples
    ``did_entropy_k`` completions from the policy for each of ``did_entropy_prompts`` fixed training prompts every
    ``did_entropy_steps`` steps and scores them under the policy and the reference (one generation and two forward
    passes per prompt); 0 turns it off.
    """

    did_entropy_steps: int = field(
        default=0, metadata={"help": "Estimate the DID entropy every this many steps (0: never)."}
    )
    did_entropy_prompts: int = field(
        default=4, metadata={"help": "Fixed training prompts the DID entropy is estimated on."}
    )
    did_entropy_k: int = field(
        default=16, metadata={"help": "Policy samples per prompt for the entropy estimate (K >= 2; bias falls with K)."}
    )
    did_entropy_max_new_tokens: int = field(default=32, metadata={"help": "Length limit of the sampled completions."})

    def check_infopo_fields(self) -> None:
        super().check_infopo_fields()
        if not self.beta > 0:
            raise ValueError(f"beta must be positive for DID metrics (l = reward / beta), got {self.beta}")
        if self.did_entropy_steps < 0:
            raise ValueError(f"did_entropy_steps must be >= 0, got {self.did_entropy_steps}")
        if self.did_entropy_steps:
            if self.did_entropy_k < 2:
                raise ValueError(
                    f"did_entropy_k must be at least 2 (a self-normalised estimate), got {self.did_entropy_k}"
                )
            if self.did_entropy_prompts < 1 or self.did_entropy_max_new_tokens < 1:
                raise ValueError("did_entropy_prompts and did_entropy_max_new_tokens must be at least 1")

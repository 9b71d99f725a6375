"""DID entropy fields shared by every infopo trainer config (SFT, DPO, GRPO, IGPO; arXiv 2505.23761)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DIDEntropyArguments:
    """The periodic DID entropy estimate: what kind of update a run makes. Off unless ``did_entropy_steps`` is set.

    The differential information distribution q(y) proportional to pi_theta(y) / pi_ref(y) exists for any policy and
    reference: a low entropy says the update sharpened the policy (few responses gained: knowledge-like), a high one
    that it smoothed it (instruction-following-like). Every ``did_entropy_steps`` steps, ``did_entropy_k``
    completions are sampled from the policy for each of ``did_entropy_prompts`` fixed training prompts and scored
    under the policy and the reference (one generation and two forward passes per prompt, the prompts split over the
    processes). The reference is the trainer's own when it has one (DPO's reference model, GRPO's with ``beta > 0``;
    a LoRA policy with its adapters off); otherwise a frozen copy of the starting weights.
    """

    did_entropy_steps: int = field(
        default=0,
        metadata={
            "help": "Estimate the DID entropy every this many steps (0: never). Without a reference of the trainer's "
            "own (SFT, GRPO with beta 0, DPO with precompute_ref_log_probs; a LoRA policy needs none: its adapters "
            "go off) this keeps a frozen copy of the starting weights: one more copy of the model in its dtype on "
            "every process (2 bytes per parameter in bf16: 15 GB for a 7B model), not sharded, so refused under "
            "ZeRO-3. GRPO and IGPO also log did/ordered_frac each step: two no-grad forwards over the best and the "
            "worst rollout of every group."
        },
    )
    did_entropy_prompts: int = field(
        default=4, metadata={"help": "Fixed training prompts (the first rows) the DID entropy is estimated on."}
    )
    did_entropy_k: int = field(
        default=16, metadata={"help": "Policy samples per prompt for the entropy estimate (K >= 2; bias falls with K)."}
    )
    did_entropy_max_new_tokens: int = field(default=32, metadata={"help": "Length limit of the sampled completions."})

    def check_did(self) -> None:
        """Checks of the DID entropy fields (the reference and the prompts are checked when the trainer is built)."""
        if self.did_entropy_steps < 0:
            raise ValueError(f"did_entropy_steps must be >= 0, got {self.did_entropy_steps}")
        if self.did_entropy_steps:
            if self.did_entropy_k < 2:
                raise ValueError(
                    f"did_entropy_k must be at least 2 (a self-normalised estimate), got {self.did_entropy_k}"
                )
            if self.did_entropy_prompts < 1 or self.did_entropy_max_new_tokens < 1:
                raise ValueError("did_entropy_prompts and did_entropy_max_new_tokens must be at least 1")

"""KappaTune fields shared by every infopo trainer config (``InfopoDPOConfig``, ``InfopoGRPOConfig``, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field

from infopo.kappa.select import MODES, check_budget


@dataclass
class KappaArguments:
    """Condition-number selective fine-tuning (KappaTune, arXiv 2506.16289). Off unless a budget is set.

    Setting one of ``kappa_top_p``, ``kappa_num`` or ``kappa_threshold`` (or ``kappa_unfrozen_yaml``) scans the
    model's weights before the optimizer is built and trains only the selected tensors (``kappa_mode: full``) or
    LoRA on them (``kappa_mode: lora``; r, alpha and dropout come from the peft config / ``lora_*`` fields).
    """

    kappa_top_p: float | None = field(
        default=None,
        metadata={"help": "Train this fraction (0, 1] of the scanned tensors, those with the lowest condition number."},
    )
    kappa_num: int | None = field(default=None, metadata={"help": "Train this many lowest-kappa tensors."})
    kappa_threshold: float | None = field(
        default=None, metadata={"help": "Train every tensor whose condition number is at most this value."}
    )
    kappa_mode: str = field(
        default="full",
        metadata={"help": "'full': unfreeze the selected tensors; 'lora': LoRA adapters on exactly those modules."},
    )
    kappa_lowest: bool = field(
        default=True,
        metadata={"help": "Select the lowest kappa (KappaTune). False selects the highest: the paper's control."},
    )
    kappa_max_dim: int = field(
        default=16384, metadata={"help": "Skip tensors with a dimension above this (keeps embeddings/lm_head out)."}
    )
    kappa_cache: str | None = field(
        default=None,
        metadata={"help": "JSON cache of condition numbers (by name, shape, content hash); skips SVDs on a re-run."},
    )
    kappa_unfrozen_yaml: str | None = field(
        default=None,
        metadata={"help": "Train the tensors of this Spectrum/Axolotl unfrozen_parameters YAML instead of scanning."},
    )

    @property
    def kappa_enabled(self) -> bool:
        return self.kappa_unfrozen_yaml is not None or any(
            value is not None for value in (self.kappa_top_p, self.kappa_num, self.kappa_threshold)
        )

    def check_kappa(self) -> None:
        """Validate at config time, so a bad budget fails before any model is loaded."""
        if self.kappa_mode not in MODES:
            raise ValueError(f"kappa_mode must be one of {', '.join(MODES)}, got {self.kappa_mode!r}")
        budgets = (self.kappa_top_p, self.kappa_num, self.kappa_threshold)
        if self.kappa_unfrozen_yaml is not None:
            if any(value is not None for value in budgets):
                raise ValueError("kappa_unfrozen_yaml replaces the scan: set no kappa_top_p/kappa_num/kappa_threshold")
        elif self.kappa_enabled:
            check_budget(*budgets, prefix="kappa_")

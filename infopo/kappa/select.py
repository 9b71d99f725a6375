"""Choosing tensors by condition number, applying the choice to a model, and the Spectrum/Axolotl YAML format.

KappaTune (arXiv 2506.16289): a high kappa marks a specialised unit (it amplifies few directions) and stays frozen;
the tensors with the LOWEST kappa (the most isotropic) are fine-tuned. ``lowest=False`` picks the highest instead:
the paper's control.
"""

from __future__ import annotations

import copy
import math
import os
import re
from pathlib import Path

import yaml
from torch import nn

from infopo.errors import InfopoConfigError

MODES = ("full", "lora")


def check_budget(
    top_p: float | None = None, num: int | None = None, threshold: float | None = None, prefix: str = ""
) -> None:
    """Exactly one budget, each within its range; the error names the fields (``prefix`` + name)."""
    names = [prefix + name for name in ("top_p", "num", "threshold")]
    given = [name for name, value in zip(names, (top_p, num, threshold), strict=True) if value is not None]
    if len(given) != 1:
        raise InfopoConfigError(
            f"a kappa selection needs exactly one budget of {', '.join(names)}; got {', '.join(given) or 'none'}"
        )
    if top_p is not None and not 0 < top_p <= 1:
        raise InfopoConfigError(f"{names[0]} must be in (0, 1], got {top_p}")
    if num is not None and num < 1:
        raise InfopoConfigError(f"{names[1]} must be at least 1, got {num}")
    if threshold is not None and not threshold > 0:
        raise InfopoConfigError(f"{names[2]} must be positive, got {threshold}")


def select_by_condition(
    kappas: dict[str, float],
    *,
    top_p: float | None = None,
    num: int | None = None,
    threshold: float | None = None,
    lowest: bool = True,
) -> list[str]:
    """Names of the tensors to train, ordered by kappa (ascending when ``lowest``, else descending), ties by name.

    Budgets (exactly one): ``top_p`` keeps k = max(1, int(N * top_p)) of the N scanned tensors, ``num`` keeps k,
    ``threshold`` keeps kappa <= t (kappa >= t when ``lowest=False``). Rank-deficient tensors (kappa = inf) are never
    selected.
    """
    check_budget(top_p, num, threshold)
    finite = [(kappa, name) for name, kappa in kappas.items() if math.isfinite(kappa)]
    ordered = sorted(finite, key=lambda item: ((item[0] if lowest else -item[0]), item[1]))
    if threshold is not None:
        return [name for kappa, name in ordered if (kappa <= threshold if lowest else kappa >= threshold)]
    k = max(1, int(len(kappas) * top_p)) if top_p is not None else num
    return [name for _, name in ordered[:k]]


def check_names(model: nn.Module, names: list[str]) -> None:
    """Raise naming every entry of ``names`` that is not a parameter of ``model``."""
    known = {name for name, _ in model.named_parameters()}
    missing = [name for name in names if name not in known]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InfopoConfigError(f"selected tensor(s) not in the model: {shown}")
    if not names:
        raise InfopoConfigError("the kappa selection is empty: nothing would be trained")


def apply_selection(model: nn.Module, names: list[str], mode: str = "full", lora_config=None):
    """Make ``model`` train exactly ``names``.

    ``mode="full"``: ``requires_grad`` is True on the selected parameters and False on every other one; returns None.
    ``mode="lora"``: returns a copy of ``lora_config`` (default: r=16, alpha=32, causal LM) whose ``target_modules``
    are the modules owning the selected 2-D weights, in selection order, and whose ``target_parameters`` are the
    selected 3-D (MoE) weights; the model itself is left untouched for peft to wrap. A selected input embedding that
    is tied to the output head gets its adapter on the embedding only (TRL computes log-probs from
    ``lm_head.weight`` and refuses adapters there); peft warns that the tying is not kept inside the adapter. At
    real scale the default ``max_dim`` keeps embeddings out of the scan.
    """
    if mode not in MODES:
        raise InfopoConfigError(f"kappa mode must be one of {', '.join(MODES)}, got {mode!r}")
    check_names(model, names)
    if mode == "full":
        chosen = set(names)
        for name, param in model.named_parameters():
            param.requires_grad_(name in chosen)
        return None
    params = dict(model.named_parameters())
    modules = [name.removesuffix(".weight") for name in names if params[name].ndim == 2 and name.endswith(".weight")]
    parameters = [name for name in names if params[name].ndim == 3]
    from peft import LoraConfig

    config = copy.deepcopy(lora_config) if lora_config is not None else LoraConfig(r=16, lora_alpha=32)
    config.task_type = config.task_type or "CAUSAL_LM"
    config.target_modules = modules or None
    config.target_parameters = parameters or None
    return config


def export_unfrozen_yaml(names: list[str], path: str | os.PathLike) -> Path:
    """Write ``unfrozen_parameters:`` with one anchored regex per tensor (``^name$``), as Spectrum does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"unfrozen_parameters": [f"^{name}$" for name in names]}, sort_keys=False))
    return path


def load_unfrozen_yaml(path: str | os.PathLike) -> list[str]:
    """The tensor names of a Spectrum/Axolotl ``unfrozen_parameters`` YAML (anchors and escapes removed)."""
    path = Path(path)
    if not path.is_file():
        raise InfopoConfigError(f"unfrozen-parameters file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not isinstance(data.get("unfrozen_parameters"), list):
        raise InfopoConfigError(f"{path}: expected a mapping with an 'unfrozen_parameters' list")
    return [
        re.sub(r"\\(.)", r"\1", str(entry).removeprefix("^").removesuffix("$")) for entry in data["unfrozen_parameters"]
    ]

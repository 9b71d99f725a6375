"""KappaTune in the trainers: select tensors before TRL builds the trainer (and long before the optimizer).

The mixin sits in front of a TRL trainer and keeps its constructor. When the config's ``kappa_*`` budget is set it
loads the model (if given as a path, the way TRL would), scans it, and then either freezes everything but the
selection (``kappa_mode: full``) or hands TRL a LoRA config on exactly the selected modules (``kappa_mode: lora``).
The selection's statistics are logged as ``kappa/*`` metrics with the first training log and written into the
model card.
"""

from __future__ import annotations

import copy
import math

from trl.trainer.utils import create_model_from_path

from infopo.errors import InfopoConfigError
from infopo.kappa.scan import scan_condition_numbers, select_lowest_condition
from infopo.kappa.select import apply_selection, load_unfrozen_yaml, select_by_condition
from infopo.papers import KAPPATUNE
from infopo.trl_utils import trl_constructor_arguments


def _load_model(model_id: str, args, quantization_config):
    """The model TRL would load for ``model_id`` (same ``model_init_kwargs`` handling)."""
    init_kwargs = dict(args.model_init_kwargs or {})
    if quantization_config is not None:
        init_kwargs["quantization_config"] = quantization_config
    if args.distributed_state.distributed_type in ("MULTI_GPU", "DEEPSPEED"):
        init_kwargs["device_map"] = None
    init_kwargs.setdefault("trust_remote_code", args.trust_remote_code)
    return create_model_from_path(model_id, **init_kwargs)


def select_tensors(model, args) -> tuple[list[str], dict[str, float], int]:
    """The tensors the config's KappaTune fields select, the exact condition numbers the choice needed (the lowest
    selection computes them only near the cut: :func:`~infopo.kappa.scan.select_lowest_condition`), and how many
    tensors were scanned."""
    if args.kappa_unfrozen_yaml is not None:
        return load_unfrozen_yaml(args.kappa_unfrozen_yaml), {}, 0
    budget = dict(top_p=args.kappa_top_p, num=args.kappa_num, threshold=args.kappa_threshold)
    scan = dict(max_dim=args.kappa_max_dim, cache=args.kappa_cache, progress=args.process_index == 0)
    if args.kappa_lowest:
        selection = select_lowest_condition(model, **budget, **scan)
        names, kappas, scanned = selection.names, selection.kappas, len(selection.lower_bounds)
    else:  # the control selects the highest: every value is needed
        kappas = scan_condition_numbers(model, **scan)
        names, scanned = select_by_condition(kappas, **budget, lowest=False), len(kappas)
    if not scanned:
        raise InfopoConfigError(
            f"no tensor of the model is eligible for a kappa scan (ndim >= 2, dims <= {args.kappa_max_dim})"
        )
    return names, kappas, scanned


def selection_report(names: list[str], kappas: dict[str, float], scanned: int, model) -> dict[str, float]:
    """``kappa/*`` statistics of a selection: counts, kappa range, trainable parameters after it was applied."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    report = {
        "kappa/selected": len(names),
        "kappa/trainable_params": trainable,
        "kappa/trainable_fraction": trainable / total,
    }
    finite = [kappas[n] for n in names if n in kappas and math.isfinite(kappas[n])]
    if scanned:
        report.update({"kappa/scanned": scanned, "kappa/exact_values": len(kappas)})
    if finite:
        report.update({"kappa/min_selected": min(finite), "kappa/max_selected": max(finite)})
    return report


class KappaTrainerMixin:
    """Applies the ``kappa_*`` fields of an infopo config; a no-op when no budget is set."""

    kappa_selection: list[str] | None = None
    kappa_condition_numbers: dict[str, float] | None = None
    kappa_report: dict[str, float] | None = None

    def __init__(self, *args, **kwargs):
        arguments = trl_constructor_arguments(type(self), args, kwargs)
        config = arguments.get("args")
        if config is None or not getattr(config, "kappa_enabled", False):
            super().__init__(**arguments)
            return
        if config.kappa_mode == "full" and arguments.get("peft_config") is not None:
            raise InfopoConfigError(
                "KappaTune's kappa_mode 'full' trains the selected tensors themselves and takes no "
                "LoRA adapters: drop the peft config (peft_config= in Python, use_peft in a "
                "recipe), or set kappa_mode 'lora' to put the adapters on the selected modules"
            )
        model = arguments["model"]
        if isinstance(model, str):
            model = _load_model(model, config, arguments.get("quantization_config"))
            arguments["model"], arguments["quantization_config"] = model, None
            # TRL gets a copy without model_init_kwargs (they were used here; it would warn that they are ignored);
            # the user's config is left as it was and becomes self.args again below.
            arguments["args"] = copy.deepcopy(config)
            arguments["args"].model_init_kwargs = None
        names, kappas, scanned = select_tensors(model, config)
        if config.kappa_mode == "full":
            apply_selection(model, names, "full")
        else:
            arguments["peft_config"] = apply_selection(model, names, "lora", arguments.get("peft_config"))
        super().__init__(**arguments)
        self.args = config
        self.kappa_selection, self.kappa_condition_numbers = names, kappas
        self.kappa_report = selection_report(names, kappas, scanned, self.model)
        for key, value in self.kappa_report.items():  # logged with the first training step
            self._metrics["train"][key].append(value)

    def _card_papers(self) -> list[dict]:
        return super()._card_papers() + ([KAPPATUNE] if self.kappa_selection is not None else [])

    def _card_tags(self) -> list[str]:
        return super()._card_tags() + (["kappatune"] if self.kappa_selection is not None else [])

    def _card_sections(self) -> list[tuple[str, str]]:
        sections = super()._card_sections()
        if self.kappa_selection is None:
            return sections
        args = self.args
        budget = next(
            f"{name} = {value}"
            for name, value in (
                ("kappa_top_p", args.kappa_top_p),
                ("kappa_num", args.kappa_num),
                ("kappa_threshold", args.kappa_threshold),
                ("kappa_unfrozen_yaml", args.kappa_unfrozen_yaml),
            )
            if value is not None
        )
        side = "lowest" if args.kappa_lowest else "highest (the paper's control)"
        lines = [
            f"Condition-number selective fine-tuning (KappaTune): {budget}, {side} kappa, mode `{args.kappa_mode}`.",
            "",
            "| statistic | value |",
            "| --- | --- |",
            *(f"| {key} | {value:.6g} |" for key, value in self.kappa_report.items()),
            "",
            "Trained tensors (kappa):",
            "",
            *(
                f"- `{name}`"
                + (f" ({self.kappa_condition_numbers[name]:.4g})" if name in self.kappa_condition_numbers else "")
                for name in self.kappa_selection
            ),
        ]
        return [*sections, ("KappaTune selection", "\n".join(lines))]

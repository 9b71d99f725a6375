"""``infopo kappa scan``: condition numbers of a model's weights, the selection, and a histogram.

Writes, into ``--output_dir``:
- ``kappas.json``: {parameter name: kappa} ("inf" for rank-deficient tensors), in model order;
- ``unfrozen_parameters.yaml``: the selection in the Spectrum/Axolotl format (feed it back with
  ``kappa_unfrozen_yaml``);
- ``kappa_histogram.png``: log10(kappa) per module type (q_proj, up_proj, ...), the selection's cut-off marked.

``--fast``: only the selection (lowest kappa), computing exact values only where certified bounds cannot decide
(what KappaTune does in training); ``kappas.json`` then holds the exact values that were computed and no histogram
is drawn.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

from infopo.errors import InfopoConfigError
from infopo.kappa.scan import scan_condition_numbers, select_lowest_condition
from infopo.kappa.select import check_budget, export_unfrozen_yaml, select_by_condition
from infopo.models import resolve_model


def module_type(name: str) -> str:
    """The kind of a tensor: its module's last name component (``q_proj``, ``embed_tokens``) or its own name."""
    parts = name.split(".")
    return parts[-2] if parts[-1] in ("weight", "bias") and len(parts) > 1 else parts[-1]


def plot_histogram(kappas: dict[str, float], selected: list[str], path: Path) -> Path:
    """Histogram of log10(kappa) per module type; a dashed line at the largest selected kappa."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_type = defaultdict(list)
    for name, kappa in kappas.items():
        if math.isfinite(kappa):
            by_type[module_type(name)].append(math.log10(kappa))
    figure, axes = plt.subplots(figsize=(8, 4.5))
    axes.hist(list(by_type.values()), bins=30, stacked=True, label=list(by_type))
    chosen = [kappas[name] for name in selected if math.isfinite(kappas.get(name, math.inf))]
    if chosen:
        axes.axvline(math.log10(max(chosen)), color="black", linestyle="--", label=f"cut-off ({len(chosen)} selected)")
    axes.set_xlabel("log10(condition number)")
    axes.set_ylabel("tensors")
    axes.set_title(f"condition numbers of {len(kappas)} tensors")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infopo kappa scan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model folder, Hub id, or tiny:<arch>")
    parser.add_argument("--output_dir", default="kappa_scan", help="where the three files go")
    budget = parser.add_argument_group("selection budget (default: --top_p 0.2)")
    budget.add_argument("--top_p", type=float, default=None, help="fraction of scanned tensors, in (0, 1]")
    budget.add_argument("--num", type=int, default=None, help="number of tensors")
    budget.add_argument("--threshold", type=float, default=None, help="every tensor with kappa <= threshold")
    parser.add_argument("--highest", action="store_true", help="select the highest kappa (the paper's control)")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="the selection only: exact values near the cut, certified bounds elsewhere; no histogram",
    )
    parser.add_argument("--max_dim", type=int, default=16384, help="skip tensors with a larger dimension")
    parser.add_argument("--cache", default=None, help="JSON cache of condition numbers to read and update")
    parser.add_argument("--dtype", default="auto", help="dtype to load the weights in (auto, bfloat16, float32, ...)")
    parser.add_argument("--trust_remote_code", action="store_true", help="allow the model's own code to run")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def run_kappa(argv: list[str]) -> dict[str, float]:
    if not argv or argv[0] != "scan":
        raise InfopoConfigError(
            "usage: infopo kappa scan --model PATH [--output_dir DIR] [--top_p P | --num N | --threshold T]"
        )
    args = _parser().parse_args(argv[1:])
    if args.top_p is None and args.num is None and args.threshold is None:
        args.top_p = 0.2
    check_budget(args.top_p, args.num, args.threshold, prefix="--")
    try:
        import matplotlib  # noqa: F401  (checked before the scan, not after it)
    except ImportError as error:
        raise InfopoConfigError("the histogram needs matplotlib: pip install 'infopo[plot]'") from error
    from transformers import AutoModelForCausalLM

    path = resolve_model(args.model)
    if args.model.startswith(("/", "./", "../")) and not Path(path).exists():
        raise InfopoConfigError(f"model folder not found: {args.model}")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=args.dtype, trust_remote_code=args.trust_remote_code)
    budget = dict(top_p=args.top_p, num=args.num, threshold=args.threshold)
    scan = dict(max_dim=args.max_dim, cache=args.cache, progress=not args.no_progress)
    if args.fast and args.highest:
        raise InfopoConfigError("--fast selects the lowest kappa; the highest needs every value: drop --fast")
    if args.fast:
        selection = select_lowest_condition(model, **budget, **scan)
        kappas, selected, scanned = selection.kappas, selection.names, len(selection.lower_bounds)
    else:
        kappas = scan_condition_numbers(model, **scan)
        selected, scanned = select_by_condition(kappas, **budget, lowest=not args.highest), len(kappas)
    if not scanned:
        raise InfopoConfigError(f"{args.model}: no tensor with ndim >= 2 and every dimension <= {args.max_dim}")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "kappas.json").write_text(
        json.dumps({k: ("inf" if math.isinf(v) else v) for k, v in kappas.items()}, indent=1)
    )
    export_unfrozen_yaml(selected, out / "unfrozen_parameters.yaml")
    written = [out / "kappas.json", out / "unfrozen_parameters.yaml"]
    if not args.fast:
        written.append(plot_histogram(kappas, selected, out / "kappa_histogram.png"))
    print(
        f"scanned {scanned} tensors ({len(kappas)} exact values), selected {len(selected)}; wrote "
        + ", ".join(map(str, written))
    )
    return kappas

"""Memory plan of a recipe on one GPU, printed as a Markdown table (an estimate from shapes, not a measurement).

    python scripts/memory_plan.py --recipe recipes/igpo_qwen2.5-7b.yaml --gpu_gb 80 [--num_gpus 8]

The terms and their formulas are in :mod:`infopo.memory_plan`. ``--num_gpus`` defaults to ``num_processes`` of the
accelerate config the recipe's launch line names (else 8). Exit status 0 when the peak leaves ``--margin`` free,
1 when it does not, 2 on bad input (one line on stderr naming the file or field).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infopo.errors import InfopoConfigError  # noqa: E402
from infopo.memory_plan import format_plan, plan_recipe  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", required=True, type=Path, action="append", help="recipe YAML (repeatable)")
    parser.add_argument("--gpu_gb", required=True, type=float, help="memory of one GPU in GB")
    parser.add_argument("--num_gpus", type=int, default=None, help="GPUs (default: the accelerate config's)")
    parser.add_argument("--margin", type=float, default=0.10, help="share of the GPU to leave free (default 0.10)")
    args = parser.parse_args(argv)
    if args.gpu_gb <= 0 or (args.num_gpus is not None and args.num_gpus < 1):
        print("error: memory plan: --gpu_gb must be > 0 and --num_gpus >= 1", file=sys.stderr)
        return 2
    fits = True
    for recipe in args.recipe:
        try:
            plan = plan_recipe(recipe, args.gpu_gb, args.num_gpus)
        except InfopoConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(format_plan(plan, f"{recipe.name} on {args.gpu_gb:g} GB"), end="\n\n")
        fits = fits and plan.fits(args.margin)
    return 0 if fits else 1


if __name__ == "__main__":
    sys.exit(main())

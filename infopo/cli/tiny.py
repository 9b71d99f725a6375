"""``infopo tiny``: build a tiny model and tokenizer into a folder (or the ``tiny:`` cache) and print the path."""

from __future__ import annotations

import argparse

from infopo.models import resolve_model
from infopo.tiny import TINY_ARCHITECTURES, TINY_PREFIX, save_tiny


def run_tiny(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="infopo tiny", description=__doc__)
    parser.add_argument("--arch", choices=TINY_ARCHITECTURES, default="qwen2", help="model architecture")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    parser.add_argument(
        "--output_dir", default=None, help="folder to write; default: the cache folder that tiny:<arch> names"
    )
    args = parser.parse_args(argv)
    if args.output_dir is None:
        if args.seed != 0:
            parser.error("--seed needs --output_dir: the tiny:<arch> cache holds seed 0")
        path = resolve_model(TINY_PREFIX + args.arch)
    else:
        path = str(save_tiny(args.output_dir, arch=args.arch, seed=args.seed))
    print(path)
    return path

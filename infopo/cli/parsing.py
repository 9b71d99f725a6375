"""Recipe parsing: a YAML file mapped onto dataclass configs, command-line flags on top (as ``trl <cmd> --config``).

Every problem is an :class:`~infopo.errors.InfopoConfigError` that names the file and the field: a missing config
file, a YAML that is not a mapping, a field no config knows (with the closest known names), a flag no config knows,
and a value a config rejects.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

import yaml
from trl import TrlParser

from infopo.errors import InfopoConfigError
from infopo.recipe import plain_value

RESERVED_KEYS = ("env",)
"""Top-level YAML keys that are not config fields: ``env`` sets environment variables (TRL's convention)."""


class _RecipeParser(TrlParser):
    """TRL's parser, raising :class:`InfopoConfigError` instead of printing the whole usage text and exiting."""

    def error(self, message):
        raise InfopoConfigError(message)


def _known_fields(dataclass_types) -> set[str]:
    return {f.name for cls in dataclass_types for f in dataclasses.fields(cls) if f.init}


def read_recipe(path: str, dataclass_types) -> dict:
    """The YAML mapping in ``path``, checked: the file exists, holds a mapping, and every key is a known field."""
    file = Path(path)
    if not file.is_file():
        raise InfopoConfigError(f"config file not found: {path}")
    with file.open() as handle:
        try:
            recipe = yaml.safe_load(handle) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            raise InfopoConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(recipe, dict):
        raise InfopoConfigError(f"{path}: a recipe must be a YAML mapping of field: value, got {type(recipe).__name__}")
    known = _known_fields(dataclass_types)
    unknown = [key for key in recipe if key not in known and key not in RESERVED_KEYS]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise InfopoConfigError(f"{path}: unknown field(s) {', '.join(hints)}")
    return recipe


def _flag_names(argv: list[str], known: set[str]) -> list[str]:
    """Field names of the ``--flag`` tokens in ``argv``; ``--no_x`` names the boolean field ``x``."""
    names = []
    for token in argv:
        if token.startswith("--"):
            name = token[2:].split("=", 1)[0].replace("-", "_")
            if name not in known and name.startswith("no_") and name[3:] in known:
                name = name[3:]
            names.append(name)
    return names


def normalized_argv(argv: list[str]) -> list[str]:
    """``--field=value`` as ``--field value`` (``--config=recipe.yaml`` included), as argparse reads both."""
    tokens: list[str] = []
    for token in argv:
        tokens.extend(token.split("=", 1) if token.startswith("--") and "=" in token else [token])
    return tokens


def parse_recipe(dataclass_types, argv: list[str], prog: str = "infopo") -> tuple[tuple, dict]:
    """Parse ``argv`` (``--config FILE`` and ``--field value`` flags) into one instance of each dataclass type.

    Returns the instances and the recipe: the YAML's fields updated with the flags given, as plain values, which is
    what the model card records. ``-h``/``--help`` prints every field with its help text and exits.
    """
    argv = normalized_argv(argv)
    if "-h" in argv or "--help" in argv:
        _RecipeParser(
            dataclass_types,
            prog=prog,
            usage=f"{prog} [--config recipe.yaml] [--field value ...]",
            description="--config recipe.yaml: a YAML mapping of the fields below (an env: section sets "
            "environment variables); --field value flags override it.",
        ).print_help()
        raise SystemExit(0)
    recipe: dict = {}
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise InfopoConfigError("--config needs a file path")
        recipe = read_recipe(argv[index + 1], dataclass_types)
    known = _known_fields(dataclass_types)
    flags = [name for name in _flag_names(argv, known) if name != "config"]
    unknown = [name for name in flags if name not in known]
    if unknown:
        raise InfopoConfigError(f"unknown flag(s): {', '.join('--' + name for name in unknown)}")
    try:
        configs = _RecipeParser(dataclass_types).parse_args_and_config(argv)
    except InfopoConfigError:
        raise
    except ValueError as error:
        raise InfopoConfigError(f"invalid configuration: {error}") from error
    values = {f.name: getattr(c, f.name) for c in configs for f in dataclasses.fields(c) if f.name in flags}
    recipe = {key: value for key, value in recipe.items() if key not in RESERVED_KEYS}
    recipe.update({name: plain_value(values[name]) for name in flags})
    return configs, recipe

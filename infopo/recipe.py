"""A run's recipe: the configuration fields that differ from their defaults, as plain YAML-able values."""

from __future__ import annotations

import dataclasses
import enum


def plain_value(value):
    """Enums by value, tuples as lists, dataclasses and dicts recursively; other objects by ``str``."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {f.name: plain_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def non_default_fields(config) -> dict:
    """Init fields of the dataclass ``config`` whose value differs from the field's declared default.

    Values that ``__post_init__`` normalises (an enum from its string, say) compare by their plain form, so a field
    left at its default does not show up.
    """
    recipe = {}
    for field in dataclasses.fields(config):
        if not field.init or field.name.startswith("_"):
            continue
        value = plain_value(getattr(config, field.name))
        default = _default(field)
        if default is dataclasses.MISSING or value != plain_value(default):
            recipe[field.name] = value
    return recipe


SECRET_FIELDS = ("hub_token", "push_to_hub_token")
"""Fields whose values never leave the process: not in model cards, summaries or pickled training arguments."""


def redact(recipe: dict) -> dict:
    """``recipe`` with the values of :data:`SECRET_FIELDS` replaced by a placeholder."""
    return {key: ("<redacted>" if key in SECRET_FIELDS and value else value) for key, value in recipe.items()}


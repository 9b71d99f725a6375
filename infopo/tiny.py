"""Tiny offline model kit: a small byte-level BPE tokenizer and small Qwen2/Llama models, built locally from a seed.

Nothing here touches the network. :func:`save_tiny` writes a folder that loads with
``AutoTokenizer.from_pretrained(path)`` and ``AutoModelForCausalLM.from_pretrained(path)``, so every path-based
mechanism of TRL (reference-model reload, processing-class loading) works on it.
:func:`infopo.models.resolve_model` turns the recipe name ``tiny:qwen2`` (or ``tiny:llama``, ``tiny:llama-1m``) into
such a folder (:func:`tiny_folder`), building it on first use under a file lock.

Example::

    from infopo.tiny import save_tiny
    path = save_tiny("/tmp/tiny-qwen2", arch="qwen2", seed=0)
    model = AutoModelForCausalLM.from_pretrained(path)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import torch
from tokenizers import pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedModel, Qwen2Config, Qwen2Tokenizer

from infopo import vocab
from infopo.errors import InfopoConfigError
from infopo.model_cache import build_once, cache_root, write_model_files

TINY_PREFIX = "tiny:"

CHAT_TEMPLATE = (
    "{%- if tools -%}"
    "{{ '<|im_start|>system\n' }}"
    "{%- if messages[0]['role'] == 'system' -%}{{ messages[0]['content'] + '\n\n' }}{%- endif -%}"
    '{{ \'# Tools\nCall a function as <tool_call>\n{"name": <name>, "arguments": <args>}\n</tool_call>\n<tools>\' }}'
    "{%- for tool in tools -%}{{ '\n' }}{{ tool | tojson }}{%- endfor -%}"
    "{{ '\n</tools><|im_end|>\n' }}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' and tools and loop.first -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] or '' }}"
    "{%- for call in message['tool_calls'] or [] -%}"
    "{%- set call = call['function'] if call['function'] is defined else call -%}"
    "{{ '<tool_call>\n{\"name\": \"' + call['name'] + '\", \"arguments\": ' }}{{ call['arguments'] | tojson }}"
    "{{ '}\n</tool_call>' }}"
    "{%- endfor -%}"
    "{{ '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{%- elif message['role'] == 'tool' -%}"
    "{%- if loop.first or messages[loop.index0 - 1]['role'] != 'tool' -%}{{ '<|im_start|>user' }}{%- endif -%}"
    "{{ '\n<tool_response>\n' + message['content'] + '\n</tool_response>' }}"
    "{%- if loop.last or messages[loop.index0 + 1]['role'] != 'tool' -%}{{ '<|im_end|>\n' }}{%- endif -%}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)
"""ChatML turns with Qwen-style tool calls: given ``tools``, a system message lists them; an assistant message renders
its ``tool_calls`` as ``<tool_call>`` JSON, tool results come back in a user turn as ``<tool_response>`` blocks. The
assistant's content sits inside ``{% generation %}``, so ``assistant_only_loss`` masks the rest. The tokenizer's
``response_template`` (:data:`RESPONSE_TEMPLATE`) parses the tool calls back, so TRL's tool loop runs on it."""

RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}
"""transformers' response parsing for :data:`CHAT_TEMPLATE`: content up to ``<|im_end|>``, tool calls as JSON."""

TINY_SIZES = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}
"""Default sizes: about 60k parameters, a training step in milliseconds on one CPU core."""

_CONFIG_CLASSES = {"qwen2": Qwen2Config, "llama": LlamaConfig}
TINY_ARCHITECTURES = tuple(_CONFIG_CLASSES)

TINY_PRESETS = {
    "qwen2": ("qwen2", {}),
    "llama": ("llama", {}),
    "llama-1m": (
        "llama",
        {
            "hidden_size": 128,
            "intermediate_size": 512,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
        },
    ),
}
"""Names ``tiny:<name>`` understands: an architecture and size overrides. ``llama-1m`` (1.1M parameters) is large
enough to learn to copy names it never saw (the IGPO demo and reproduction)."""


def build_tokenizer() -> Qwen2Tokenizer:
    """A byte-level BPE tokenizer trained on :func:`infopo.vocab.training_corpus`, with a ChatML template.

    It is a ``Qwen2Tokenizer`` (Qwen2's pre-tokenizer: single digits, byte-level, exact decoding) so
    ``AutoTokenizer`` restores the same class for both tiny architectures. Special tokens: ``<|endoftext|>`` (pad),
    ``<|im_start|>``, ``<|im_end|>`` (eos). Training is deterministic: the same vocabulary gives the same file.
    """
    special = list(vocab.SPECIAL_TOKENS)
    scratch = Qwen2Tokenizer()._tokenizer  # Qwen2's normalizer and pre-tokenizer, to be trained on our corpus
    trainer = trainers.BpeTrainer(
        vocab_size=4096,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    scratch.train_from_iterator(vocab.training_corpus(), trainer=trainer)
    model = json.loads(scratch.to_str())["model"]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=[tuple(merge) for merge in model["merges"]],
        unk_token=None,
        pad_token=vocab.PAD_TOKEN,
        eos_token=vocab.EOS_TOKEN,
        additional_special_tokens=[vocab.BOS_TOKEN],
        model_max_length=TINY_SIZES["max_position_embeddings"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.response_template = RESPONSE_TEMPLATE
    return tokenizer


@functools.lru_cache(maxsize=1)
def _token_ids() -> tuple[int, int, int, int]:
    """Vocabulary size and pad/eos/bos ids of :func:`build_tokenizer`, trained once per process for the configs."""
    tokenizer = build_tokenizer()
    return (
        len(tokenizer),
        tokenizer.pad_token_id,
        tokenizer.eos_token_id,
        tokenizer.convert_tokens_to_ids(vocab.BOS_TOKEN),
    )


def tiny_config(arch: str = "qwen2", **overrides):
    """The model config of a tiny ``arch`` ("qwen2" or "llama"); ``overrides`` change any config field."""
    if arch not in _CONFIG_CLASSES:
        raise ValueError(f"unknown tiny architecture {arch!r}; choose one of {', '.join(TINY_ARCHITECTURES)}")
    vocab_size, pad_id, eos_id, bos_id = _token_ids()
    fields = {
        **TINY_SIZES,
        "vocab_size": vocab_size,
        "pad_token_id": pad_id,
        "eos_token_id": eos_id,
        "bos_token_id": bos_id,
        "tie_word_embeddings": True,
        **overrides,
    }
    return _CONFIG_CLASSES[arch](**fields)


def build_tiny_model(arch: str = "qwen2", seed: int = 0, **overrides) -> PreTrainedModel:
    """A randomly initialised causal LM of the tiny config; the same ``seed`` gives the same weights."""
    config = tiny_config(arch, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    return model


def save_tiny(path: str | os.PathLike, arch: str = "qwen2", seed: int = 0, **overrides) -> Path:
    """Build the tokenizer and a tiny model and save both (safetensors) to ``path``; returns the path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    build_tokenizer().save_pretrained(path)
    write_model_files(build_tiny_model(arch, seed, **overrides), path)
    return path


def fingerprint(arch: str = "qwen2", seed: int = 0, **overrides) -> str:
    """A short hash of everything that defines a tiny model: vocabulary, chat template, config and seed."""
    spec = {
        "corpus": vocab.training_corpus(),
        "template": CHAT_TEMPLATE,
        "response_template": RESPONSE_TEMPLATE,
        "config": tiny_config(arch, **overrides).to_dict(),
        "seed": seed,
    }
    spec["config"].pop("transformers_version", None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def tiny_folder(name: str) -> str:
    """The cached folder of ``tiny:<preset>``, built on first use (see :func:`infopo.models.resolve_model`)."""
    preset = name[len(TINY_PREFIX) :]
    if preset not in TINY_PRESETS:
        raise InfopoConfigError(
            f"unknown tiny model {name!r}; choose one of " + ", ".join(TINY_PREFIX + known for known in TINY_PRESETS)
        )
    arch, overrides = TINY_PRESETS[preset]
    target = cache_root() / "tiny" / f"{preset}-{fingerprint(arch, **overrides)}"
    return build_once(target, lambda staging: save_tiny(staging, arch=arch, **overrides))

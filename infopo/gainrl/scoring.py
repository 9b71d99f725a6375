"""Offline angle scores of prompts (GAIN-RL step 1): one batched prefill that stops at the hooked layer.

The hidden states are the input of decoder layer ``layer``'s MLP (the official choice, with ``layer = -1``: the
post-attention norm output of the last layer). A forward pre-hook records them and stops the forward there, so no
later layer and no LM head run. Question and template tokens come from the chat template's rendering: the tokens
whose characters fall inside the last user message are the question, every other token (system prompt, role
markers, generation prompt) is template. A plain-text prompt is all question.
"""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn

from infopo.errors import InfopoConfigError
from infopo.gainrl.signals import prompt_angle_score


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder's layer list: the ModuleList with ``config.num_hidden_layers`` entries (any wrapper, peft too)."""
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise InfopoConfigError(f"cannot find the decoder layers of {type(model).__name__} (no ModuleList of {count})")


def hooked_module(model: nn.Module, layer: int) -> nn.Module:
    """The MLP of decoder layer ``layer`` (negative counts from the end); errors name the valid range."""
    layers = decoder_layers(model)
    if not -len(layers) <= layer < len(layers):
        raise InfopoConfigError(
            f"gainrl layer {layer} is out of range for a model with {len(layers)} decoder layers "
            f"(use {-len(layers)}..{len(layers) - 1})"
        )
    block = layers[layer]
    if not hasattr(block, "mlp"):
        raise InfopoConfigError(f"decoder layer {layer} ({type(block).__name__}) has no 'mlp' to hook")
    return block.mlp


def prompt_token_masks(tokenizer, prompt) -> tuple[list[int], list[bool]]:
    """Token ids of a prompt as the trainer feeds it, and which of them are the question's own tokens.

    A token is the question's when its characters overlap the question's (character offsets of one tokenization of the
    rendered prompt), so a token that a real BPE merges across the question's edge counts as question; special tokens
    (empty offsets) and the rest of the template do not.
    """
    if isinstance(prompt, str):  # as TRL tokenizes a text prompt: with the tokenizer's special tokens (template)
        text, start, end, special = prompt, 0, len(prompt), True
    else:
        users = [m for m in prompt if m.get("role") == "user"]
        if not users or not isinstance(users[-1].get("content"), str):
            raise InfopoConfigError("a conversational prompt needs a user message with text content to score")
        text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        question = users[-1]["content"]
        start = text.rfind(question)
        if start < 0:
            raise InfopoConfigError("the chat template does not reproduce the user message verbatim; cannot locate it")
        end, special = start + len(question), False
    encoded = tokenizer(text, add_special_tokens=special, return_offsets_mapping=True)
    is_question = [begin < end and stop > start for begin, stop in encoded["offset_mapping"]]
    return encoded["input_ids"], is_question


class _Stop(Exception):
    """Raised by the hook once it has the hidden states: nothing after the hooked layer runs."""


@torch.no_grad()
def score_prompts(
    model, tokenizer, prompts: list, *, layer: int = -1, inter_weight: float = 1.0, batch_size: int = 16
) -> dict[str, list]:
    """Angle score and token length of every prompt (batches of similar length, right padding)."""
    module = hooked_module(model, layer)
    encoded = [prompt_token_masks(tokenizer, prompt) for prompt in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i][0]))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    captured: list[torch.Tensor] = []

    def capture(_module, args):
        captured.append(args[0])
        raise _Stop

    scores = [0.0] * len(prompts)
    handle = module.register_forward_pre_hook(capture)
    try:
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            width = max(len(encoded[i][0]) for i in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            attention = torch.zeros_like(ids)
            question = torch.zeros_like(ids, dtype=torch.bool)
            for slot, i in enumerate(rows):
                tokens, is_question = encoded[i]
                ids[slot, : len(tokens)] = torch.tensor(tokens)
                attention[slot, : len(tokens)] = 1
                question[slot, : len(tokens)] = torch.tensor(is_question)
            captured.clear()
            try:
                model(input_ids=ids.to(device), attention_mask=attention.to(device), use_cache=False)
            except _Stop:
                pass
            template = attention.bool() & ~question
            batch_scores = prompt_angle_score(captured[0].cpu(), question, template, inter_weight)
            for slot, i in enumerate(rows):
                scores[i] = batch_scores[slot].item()
    finally:
        handle.remove()
    return {"scores": scores, "lengths": [len(tokens) for tokens, _ in encoded]}


def ranks_by_score(scores: list[float]) -> list[int]:
    """Data set indices from the highest score (rank 0) down; ties keep data set order."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation (average ranks for ties); 0 when either side is constant."""

    def average_ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        ranks = [0.0] * len(values)
        start = 0
        while start < len(order):
            stop = start
            while stop + 1 < len(order) and values[order[stop + 1]] == values[order[start]]:
                stop += 1
            for k in range(start, stop + 1):
                ranks[order[k]] = (start + stop) / 2
            start = stop + 1
        return torch.tensor(ranks, dtype=torch.float64)

    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = (rx.norm() * ry.norm()).item()
    return (rx @ ry).item() / denominator if denominator > 0 else 0.0


def prompts_fingerprint(prompts: list) -> str:
    """A hash of the prompts in order: an ordering file is valid only for the data set it was scored on."""
    digest = hashlib.blake2b(digest_size=12)
    for prompt in prompts:
        digest.update(json.dumps(prompt, sort_keys=True).encode())
        digest.update(b"\0")
    return digest.hexdigest()

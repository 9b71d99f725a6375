"""Turns of a multi-turn completion: where they are and where a turn's text ends. Pure functions.

Every way IGPO gets rollouts (its own tag loop, TRL's tool loop, a user's ``rollout_func``) ends with the completion's
token ids and a mask that is 1 on the model's tokens and 0 on the environment's (TRL's ``tool_mask`` /
``env_mask``). A turn is a maximal run of the model's tokens; the environment's tokens between two runs are the
observation. The probe scores the answer after the prompt and after every observation, i.e. at the start of every
turn but the first.
"""

from __future__ import annotations

import re


def turn_spans(mask: list[int]) -> list[tuple[int, int]]:
    """[start, end) of every maximal run of 1s in ``mask``, in order: the model's turns.

    >>> turn_spans([1, 1, 0, 0, 1, 0, 1])
    [(0, 2), (4, 5), (6, 7)]
    """
    spans, start = [], None
    for position, value in enumerate(list(mask) + [0]):
        if value and start is None:
            start = position
        elif not value and start is not None:
            spans.append((start, position))
            start = None
    return spans


def probe_boundaries(prompt_length: int, spans: list[tuple[int, int]]) -> list[int]:
    """Positions in prompt + completion after which the probe scores the answer: after the prompt, then after every
    observation (the start of turns 2..T); T values v_0..v_{T-1} for a T-turn rollout."""
    return [prompt_length] + [prompt_length + start for start, _ in spans[1:]]


def cut_at_stop(tokenizer, ids: list[int], stop_strings) -> list[int]:
    """``ids`` up to and including the token that completes the first of ``stop_strings`` in the decoded text.

    Generation backends stop late or not at all: transformers pads a row that stopped while others go on, vLLM may
    return the whole token that carries the stop string, continuous batching knows no stop strings. Whatever follows
    the first closing tag is not part of the turn. Decoding is monotone in the prefix, so a binary search finds the
    cut in O(log n) decodes. Rows without a stop string come back unchanged.
    """

    def stopped(count: int) -> bool:
        text = tokenizer.decode(ids[:count], skip_special_tokens=False)
        return any(stop in text for stop in stop_strings)

    if not stop_strings or not stopped(len(ids)):
        return list(ids)
    low, high = 1, len(ids)
    while low < high:
        middle = (low + high) // 2
        if stopped(middle):
            high = middle
        else:
            low = middle + 1
    return list(ids[:low])


def observation_ids(tokenizer, observation: str, limit: int | None) -> tuple[list[int], bool]:
    """The tokens of an observation, and whether it was cut: past ``limit`` tokens (``max_observation_tokens``) it
    keeps its first tokens and its closing tag (``</information>``), ``limit`` tokens in all (Search-R1 cuts at
    ``max_obs_length`` tokens, closing tag included)."""
    ids = tokenizer(observation, add_special_tokens=False)["input_ids"]
    if limit is None or len(ids) <= limit:
        return ids, False
    closing = re.search(r"</[^<>]+>\s*$", observation)
    tail = tokenizer(closing.group(0), add_special_tokens=False)["input_ids"] if closing else []
    return ids[: limit - len(tail)] + tail, True

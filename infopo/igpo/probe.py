"""IGPO's probe in one packed forward: the answer's log-probs after every turn boundary of every rollout.

For a rollout with trajectory tokens X (prompt and completion) and turn boundaries b_0 < b_1 < ..., the probe needs
log pi(answer | X[:b_t]) for each t. Instead of one forward per prefix, each trajectory is followed by one copy of
the answer (forcing prefix + answer tokens) per boundary, and a 4-D attention mask lets copy t see only X[:b_t]
and itself (causally), with position ids continuing from b_t. One forward over [X, copy_0, copy_1, ...] gives all
values; several rollouts go into one padded batch, as many as fit a token budget (rows x padded width per forward,
:func:`probe_chunks`) to bound memory. The forward runs with a kernel that honours the 4-D mask whatever the model was
loaded with (flash attention ignores it: :mod:`infopo.igpo.probe_attention`).

The answer copy is the forcing prefix and the answer tokenized together (:func:`answer_tokens`): only the tokens that
carry the answer's characters are scored. :mod:`infopo.igpo.probe_context` builds it the authors' way when the forcing
prefix is theirs (``<think>`` opened, their answer suffix).
"""

from __future__ import annotations

import torch

from infopo.errors import InfopoConfigError
from infopo.igpo.probe_attention import mask_honouring_attention
from infopo.scoring import answer_tokens  # noqa: F401 (part of the probe's API: infopo.igpo.answer_tokens)


def pack_rollout(trajectory: list[int], boundaries: list[int], answer: list[int]):
    """Token ids, position ids and the boolean attention pattern (True = may attend) of one packed rollout."""
    n, k = len(trajectory), len(answer)
    length = n + len(boundaries) * k
    input_ids = torch.tensor(trajectory + answer * len(boundaries), dtype=torch.long)
    positions = torch.cat([torch.arange(n)] + [torch.arange(b, b + k) for b in boundaries])
    allowed = torch.zeros((length, length), dtype=torch.bool)
    allowed[:n, :n] = torch.ones((n, n), dtype=torch.bool).tril()
    causal = torch.ones((k, k), dtype=torch.bool).tril()
    for index, boundary in enumerate(boundaries):
        start = n + index * k
        allowed[start : start + k, :boundary] = True
        allowed[start : start + k, start : start + k] = causal
    return input_ids, positions, allowed


def additive_mask(allowed: torch.Tensor, model) -> torch.Tensor:
    """(B, 1, L, L) mask for the attention kernel, which transformers passes a 4-D mask to as it is: boolean for SDPA
    (True = may attend), otherwise additive in the model's dtype (0 allowed, the dtype's minimum elsewhere), since
    eager attention adds the mask to the scores."""
    if getattr(model.config, "_attn_implementation", None) == "sdpa":
        return allowed[:, None].to(next(model.parameters()).device)
    dtype = next(model.parameters()).dtype
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return mask[:, None].to(next(model.parameters()).device)


def _answer_positions(trajectories, boundaries, answers, prefix_lengths, chunk):
    """(row, position, target token, rollout index, turn) of every scored answer token of a chunk."""
    entries = []
    for row, index in enumerate(chunk):
        n, k, skip = len(trajectories[index]), len(answers[index]), prefix_lengths[index]
        for turn, boundary in enumerate(boundaries[index]):
            start = n + turn * k
            for j in range(skip, k):
                entries.append((row, boundary - 1 if j == 0 else start + j - 1, answers[index][j], index, turn))
    return entries


def _scored_logps(model, input_ids, positions, mask, rows, columns, targets):
    """log pi(target) at the given (row, column) positions; the output head runs only on those positions, unless
    the model post-processes its logits (soft-capping, scaling), in which case the full forward is used."""
    config = model.config
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        logits = model(input_ids=input_ids, position_ids=positions, attention_mask=mask).logits[rows, columns]
    else:
        hidden = model.get_decoder()(input_ids=input_ids, position_ids=positions, attention_mask=mask)
        logits = model.get_output_embeddings()(hidden.last_hidden_state[rows, columns])
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[:, None]).squeeze(-1)


def packed_size(trajectory: list[int], boundaries: list[int], answer: list[int]) -> int:
    """Tokens of one packed rollout: the trajectory and one answer copy per boundary."""
    return len(trajectory) + len(boundaries) * len(answer)


def probe_chunks(sizes: list[int], token_budget: int) -> list[list[int]]:
    """Rollout indices of each probe forward: longest first, a chunk of r rollouts whose widest has w tokens costs
    r * w padded tokens and holds as many as keep r * w <= ``token_budget``; a rollout longer than the budget goes
    alone. The (r, w, w) mask is then at most ``token_budget * w`` entries.

    >>> probe_chunks([10, 30, 20, 5], token_budget=40)
    [[1], [2, 0], [3]]
    """
    if token_budget < 1:
        raise InfopoConfigError(f"probe_token_budget must be at least 1, got {token_budget}")
    chunks: list[list[int]] = []
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        if chunks and (len(chunks[-1]) + 1) * sizes[chunks[-1][0]] <= token_budget:
            chunks[-1].append(index)
        else:
            chunks.append([index])
    return chunks


@torch.no_grad()
def packed_answer_logps(
    model,
    trajectories: list[list[int]],
    boundaries: list[list[int]],
    answers: list[list[int]],
    prefix_lengths: list[int],
    pad_token_id: int = 0,
    chunk_size: int = 16,
    num_forwards: int | None = None,
    token_budget: int | None = None,
) -> list[torch.Tensor]:
    """For each rollout, a (turns, answer length) tensor of log pi(answer token | boundary prefix, earlier ones).

    ``answers[i]`` is the forcing prefix followed by the answer; its first ``prefix_lengths[i]`` tokens are context,
    the rest are scored. ``token_budget``: padded tokens per forward (:func:`probe_chunks`); without it,
    ``chunk_size`` rollouts per forward in order. ``num_forwards``: run one-token dummy forwards besides the real ones
    up to this count, so that every ZeRO-3 rank runs as many forwards as the busiest (see
    :func:`infopo.distributed.zero3_collectives_active`). Every forward runs under :func:`mask_honouring_attention`.
    """
    if token_budget is not None:
        sizes = [packed_size(*rollout) for rollout in zip(trajectories, boundaries, answers, strict=True)]
        chunks = probe_chunks(sizes, token_budget)
    else:
        chunks = [
            list(range(start, min(start + chunk_size, len(trajectories))))
            for start in range(0, len(trajectories), chunk_size)
        ]
    with mask_honouring_attention(model):
        return _chunked_logps(
            model, trajectories, boundaries, answers, prefix_lengths, pad_token_id, chunks, num_forwards
        )


def _chunked_logps(model, trajectories, boundaries, answers, prefix_lengths, pad_token_id, chunks, num_forwards):
    device = next(model.parameters()).device
    results: list[torch.Tensor | None] = [None] * len(trajectories)
    for _ in range((num_forwards or 0) - len(chunks)):
        one = torch.tensor([[pad_token_id]], device=device)
        _scored_logps(
            model,
            one,
            torch.zeros_like(one),
            additive_mask(torch.ones((1, 1, 1), dtype=torch.bool), model),
            torch.tensor([0], device=device),
            torch.tensor([0], device=device),
            one[0],
        )
    for chunk in chunks:
        packed = [pack_rollout(trajectories[i], boundaries[i], answers[i]) for i in chunk]
        width = max(ids.numel() for ids, _, _ in packed)
        input_ids = torch.full((len(packed), width), pad_token_id, dtype=torch.long)
        positions = torch.zeros((len(packed), width), dtype=torch.long)
        allowed = torch.eye(width, dtype=torch.bool).repeat(len(packed), 1, 1)  # padding rows see themselves only
        for row, (ids, pos, mask) in enumerate(packed):
            size = ids.numel()
            input_ids[row, :size], positions[row, :size] = ids, pos
            allowed[row, :size, :size] = mask
        entries = _answer_positions(trajectories, boundaries, answers, prefix_lengths, chunk)
        rows, columns, targets, owners, _ = (torch.tensor(values) for values in zip(*entries, strict=True))
        scored = _scored_logps(
            model,
            input_ids.to(device),
            positions.to(device),
            additive_mask(allowed, model),
            rows.to(device),
            columns.to(device),
            targets.to(device),
        ).cpu()
        for index in chunk:
            turns, length = len(boundaries[index]), len(answers[index]) - prefix_lengths[index]
            results[index] = scored[owners == index].reshape(turns, length)
    return results

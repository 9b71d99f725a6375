"""Dynamic sampling's pure parts: which groups carry a signal, joining the kept rollouts of several generations into
one batch, and the stream of prompts that refills a batch.

A group carries a signal when its values vary: GRPO's advantage ``(r - mean(r_group)) / (std(r_group) + eps)`` is
zero for every rollout of a group whose rewards agree, so such a group adds nothing to the policy gradient (DAPO,
arXiv 2503.14476, Eq. 11: ``0 < |{o_i : is_equivalent(a, o_i)}| < G``; verl's ``filter_groups`` drops a group whose
metric has std 0). Values that are NaN (a rollout no reward function scored) stay out, as in TRL's group statistics.
"""

from __future__ import annotations

import math

import torch

SIGNAL_TOLERANCE = 1e-6
"""Spread of a group's values below which it carries no signal (float sums of equal rewards may differ in the last
bits)."""


def groups_with_signal(values: list[list[float]], group_size: int) -> list[bool]:
    """For each group of ``group_size`` consecutive rows, whether the finite values of its rows (each row a list:
    one reward, or a rollout's turn rewards) are not all equal (``max - min > SIGNAL_TOLERANCE``)."""
    if len(values) % group_size:
        raise ValueError(f"{len(values)} rows do not split into groups of {group_size}")
    signal = []
    for start in range(0, len(values), group_size):
        finite = [value for row in values[start : start + group_size] for value in row if math.isfinite(value)]
        signal.append(bool(finite) and max(finite) - min(finite) > SIGNAL_TOLERANCE)
    return signal


def group_rows(groups: list[int], group_size: int) -> list[int]:
    """The rows of the given groups, in order."""
    return [group * group_size + offset for group in groups for offset in range(group_size)]


LEFT_PADDED = ("prompt_ids", "prompt_mask")
"""Keys of a GRPO rollout batch padded on the left (TRL left-pads prompts); every other (B, T) tensor is aligned with
the completion and padded on the right."""


def _pad_to(tensor: torch.Tensor, length: int, value, left: bool) -> torch.Tensor:
    missing = length - tensor.shape[1]
    if missing == 0:
        return tensor
    fill = tensor.new_full((tensor.shape[0], missing, *tensor.shape[2:]), value)
    return torch.cat([fill, tensor] if left else [tensor, fill], dim=1)


def merge_rollout_batches(
    parts: list[tuple[dict, list[int]]], pad_token_id: int, pad_to_multiple_of: int | None = None
) -> dict:
    """One rollout batch (the dict ``GRPOTrainer._generate_and_score_completions`` returns) of the given rows of
    several: ``parts`` lists (batch, rows). Prompts are left-padded to the longest, completion-aligned tensors
    right-padded (ids with ``pad_token_id``, masks, log-probs and advantages with 0); 1-D tensors and (B, 1)
    tensors are joined as they are; then the columns no row uses are trimmed (:func:`trim_padding`).
    ``num_items_in_batch`` (a sum over every process) is left to the caller.

    Raises ``ValueError`` for a field it cannot join (the multimodal fields of vision models)."""
    parts = [(batch, rows) for batch, rows in parts if rows]
    if not parts:
        raise ValueError("no rows to merge")
    first = parts[0][0]
    prompt_length = max(batch["prompt_ids"].shape[1] for batch, _ in parts)
    completion_length = max(batch["completion_ids"].shape[1] for batch, _ in parts)
    merged = {}
    for key, value in first.items():
        if key == "num_items_in_batch":
            continue
        if not isinstance(value, torch.Tensor) or value.ndim == 0:
            raise ValueError(f"dynamic sampling cannot join the rollout field {key!r} ({type(value).__name__})")
        pieces = []
        for batch, rows in parts:
            tensor = batch[key][torch.as_tensor(rows, device=batch[key].device)]
            if key in LEFT_PADDED:
                tensor = _pad_to(tensor, prompt_length, pad_token_id if key == "prompt_ids" else 0, left=True)
            elif tensor.ndim == 2 and batch[key].shape[1] == batch["completion_ids"].shape[1]:
                tensor = _pad_to(tensor, completion_length, pad_token_id if key == "completion_ids" else 0, left=False)
            elif tensor.ndim > 2 or (tensor.ndim == 2 and tensor.shape[1] != 1):
                raise ValueError(
                    f"dynamic sampling cannot join the rollout field {key!r} of shape {tuple(tensor.shape)}"
                )
            pieces.append(tensor)
        merged[key] = torch.cat(pieces, dim=0)
    return trim_padding(merged, pad_to_multiple_of)


def _width(used: torch.Tensor, multiple: int | None) -> int:
    """Columns needed to hold every used one: from the last used column, rounded up to ``multiple``."""
    columns = used.any(dim=0).nonzero()
    width = int(columns.max()) + 1 if columns.numel() else 1
    return -(-width // multiple) * multiple if multiple else width


def trim_padding(batch: dict, pad_to_multiple_of: int | None = None) -> dict:
    """``batch`` without the prompt columns that are padding in every row (on the left) and the completion columns
    masked in every row (on the right), as TRL pads a batch of just these rows: the rows keep the positions they
    would have had in a batch of their own."""
    prompt_width = _width(batch["prompt_mask"].flip(1).bool(), pad_to_multiple_of)
    completion_width = _width(batch["completion_mask"].bool(), pad_to_multiple_of)
    completion_length = batch["completion_ids"].shape[1]
    trimmed = {}
    for key, value in batch.items():
        if key in LEFT_PADDED:
            value = value[:, -min(prompt_width, value.shape[1]) :]
        elif isinstance(value, torch.Tensor) and value.ndim == 2 and value.shape[1] == completion_length:
            value = value[:, : min(completion_width, completion_length)]
        trimmed[key] = value
    return trimmed


class RefillStream:
    """The prompts that refill a generation batch, in the order of ``draw_pass(pass_index)``: one list of data set
    indices per pass (a seeded permutation, or the run's GAIN-RL draw), used up in order, then the next pass.

    Every process holds the same stream, so each draws the same prompts and takes its own share. The state (the pass,
    its indices and the position in it) goes into every checkpoint, so a resumed run refills as the uninterrupted one
    did, even where a pass depends on state that has moved since it was drawn."""

    def __init__(self, draw_pass):
        self.draw_pass = draw_pass
        self.pass_index, self.position, self.order = 0, 0, None

    def draw(self, count: int) -> list[int]:
        drawn = []
        while len(drawn) < count:
            if self.order is None or self.position >= len(self.order):
                if self.order is not None:
                    self.pass_index += 1
                self.order, self.position = [int(index) for index in self.draw_pass(self.pass_index)], 0
                if not self.order:
                    raise ValueError(f"refill pass {self.pass_index} drew no prompts")
            take = self.order[self.position : self.position + count - len(drawn)]
            drawn += take
            self.position += len(take)
        return drawn

    def state_dict(self) -> dict:
        return {"pass_index": self.pass_index, "position": self.position, "order": self.order}

    def load_state_dict(self, state: dict) -> None:
        self.pass_index, self.position, self.order = state["pass_index"], state["position"], state["order"]

"""Angle concentration of hidden states (GAIN-RL, arXiv 2506.02281): the signals the schedule is built on.

For the unit vectors h^_i = h_i / |h_i| of a sequence's valid tokens at one layer, the cosine-similarity matrix is
C = H^ H^T. Every mean over C used here is computed from sums of unit vectors, in O(L * D) instead of O(L^2 * D):

    sum_{i != j} C_ij = |s|^2 - sum_i |h^_i|^2,   s = sum_i h^_i
    sum_{i in Q, j in P} C_ij = s_Q . s_P

A zero vector has no direction: it counts as a token with similarity 0 to everything (itself included).
"""

from __future__ import annotations

import torch


def _unit_vectors(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """h / |h| in float32 for the tokens where ``mask`` is set, zero elsewhere."""
    hidden = hidden.float()
    norms = hidden.norm(dim=-1, keepdim=True)
    unit = torch.where(norms > 0, hidden / norms.clamp_min(torch.finfo(torch.float32).tiny), torch.zeros_like(hidden))
    return unit * mask.to(unit.dtype).unsqueeze(-1)


def _mean_distinct_pairs(unit: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Mean of C_ij over ordered pairs i != j (equal to the strict lower-triangle mean: C is symmetric)."""
    total = unit.sum(dim=-2)
    off_diagonal = total.pow(2).sum(-1) - unit.pow(2).sum(dim=(-2, -1))
    pairs = count * (count - 1)
    return torch.where(pairs > 0, off_diagonal / pairs.clamp_min(1), torch.zeros_like(off_diagonal))


def angle_concentration(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Online angle concentration: mean cosine similarity over the strict lower triangle of C (pairs i > j).

    ``hidden`` (B, L, D) any float dtype, ``mask`` (B, L) of valid tokens; returns (B,) in float32, 0 for rows with
    fewer than two valid tokens. GAIN-RL computes it on prompt + completion from the policy's training forward.
    Worked value: (1,0), (1,1), (0,1), (1,0) -> 0.5202.
    """
    if hidden.dim() != 3 or mask.shape != hidden.shape[:2]:
        raise ValueError(f"hidden must be (B, L, D) and mask (B, L); got {tuple(hidden.shape)} and {tuple(mask.shape)}")
    mask = mask.bool()
    return _mean_distinct_pairs(_unit_vectors(hidden, mask), mask.sum(-1).float())


def prompt_angle_score(
    hidden: torch.Tensor, question_mask: torch.Tensor, template_mask: torch.Tensor, inter_weight: float = 1.0
) -> torch.Tensor:
    """Offline score of a prompt: C_intra + inter_weight * C_inter (higher: the model learns the prompt sooner).

    C_intra is the mean of C over distinct pairs of question tokens, C_inter the mean over (question, template)
    pairs. The paper uses inter_weight 1, the official code 8. Rows without template tokens score C_intra alone.
    ``hidden`` (B, L, D), masks (B, L); returns (B,) float32.
    """
    if question_mask.shape != hidden.shape[:2] or template_mask.shape != hidden.shape[:2]:
        raise ValueError("question_mask and template_mask must be (B, L) like hidden's first two dimensions")
    question_mask, template_mask = question_mask.bool(), template_mask.bool()
    if (question_mask & template_mask).any():
        raise ValueError("a token cannot be both question and template")
    question = _unit_vectors(hidden, question_mask)
    template = _unit_vectors(hidden, template_mask)
    question_count, template_count = question_mask.sum(-1).float(), template_mask.sum(-1).float()
    intra = _mean_distinct_pairs(question, question_count)
    cross = (question.sum(-2) * template.sum(-2)).sum(-1)
    pairs = question_count * template_count
    inter = torch.where(pairs > 0, cross / pairs.clamp_min(1), torch.zeros_like(cross))
    return intra + inter_weight * inter

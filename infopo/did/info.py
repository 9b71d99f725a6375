"""Differential information of a preference update: pure tensor functions, batched over leading dimensions.

Source: "Differential Information: An Information-Theoretic Perspective on Preference Optimization"
(arXiv 2505.23761). Notation: pi_theta the trained policy, pi_ref the reference, l(y) = log pi_theta(y) -
log pi_ref(y) the sequence log-ratio (DPO's implicit reward is beta * l).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def sequence_log_ratio(
    policy_logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """l(y) = log pi_theta(y|x) - log pi_ref(y|x).

    Sequence log-probs of shape (...,) give their difference; per-token log-probs of shape (..., T) with a
    ``mask`` of completion tokens are summed over the mask first.
    """
    if mask is not None:
        mask = mask.to(policy_logps.dtype)
        return ((policy_logps - ref_logps) * mask).sum(-1)
    return policy_logps - ref_logps


def did_distribution(log_ratios: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """q(y) = (pi_theta(y) / pi_ref(y)) / sum_y' (pi_theta(y') / pi_ref(y')): the softmax of l over the candidates."""
    return torch.softmax(log_ratios, dim=dim)


def did_entropy(log_ratios: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """H(q) = -sum q log q of the DID distribution over an enumerated support (<= log N for N candidates).

    High H: the update smooths the policy; low H: it sharpens it.
    """
    log_q = torch.log_softmax(log_ratios, dim=dim)
    return -(log_q.exp() * log_q).sum(dim)


def did_entropy_snis(policy_logps: torch.Tensor, ref_logps: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, int]:
    """Self-normalised estimate of H(q) from K samples y_k ~ pi_theta, and K.

    w_k = (1 / pi_ref(y_k)) / sum_j (1 / pi_ref(y_j)), log Z = logmeanexp_k(-log pi_ref(y_k)),
    H_hat = log Z - sum_k w_k l(y_k). Consistent, but biased at small K, and not in one direction: in an audit over 6
    toy policies it fell below the exact value in 2 of 6 at K = 4 and in 4 of 6 at K = 32 (infopo's own enumerable
    toy: 2.37 at K = 8 against the exact 3.51). Report K and read the estimate as a trend at a fixed K.
    """
    samples = policy_logps.shape[dim]
    if samples < 2:
        raise ValueError(f"the DID entropy estimate needs K >= 2 samples, got {samples}")
    inverse_ref = -ref_logps
    log_z = torch.logsumexp(inverse_ref, dim=dim) - math.log(samples)
    weights = torch.softmax(inverse_ref, dim=dim)
    return log_z - (weights * (policy_logps - ref_logps)).sum(dim), samples


def pair_did_entropy(l_chosen: torch.Tensor, l_rejected: torch.Tensor) -> torch.Tensor:
    """Binary entropy of q restricted to a pair: q_w = sigmoid(l(y_w) - l(y_l)); in [0, log 2]."""
    margin = l_chosen - l_rejected
    return F.binary_cross_entropy_with_logits(margin, torch.sigmoid(margin), reduction="none")


def log_margin_ordered(
    m_rejected_gen: torch.Tensor | None, m_ref: torch.Tensor, m_policy: torch.Tensor
) -> torch.Tensor:
    """Whether a pair's log-margins are ordered as differential information requires: m_l <= m_ref <= m_theta.

    m_pi = log pi(y_w) - log pi(y_l). Without the rejected generator (``m_rejected_gen=None``) only the observable
    half, m_ref <= m_theta, is tested.
    """
    ordered = m_ref <= m_policy
    return ordered if m_rejected_gen is None else ordered & (m_rejected_gen <= m_ref)


def optimal_rejected_logprobs(ref_logps: torch.Tensor, target_logps: torch.Tensor, beta: float, dim: int = -1):
    """log pi_l*(y) over an enumerated support: pi_l* proportional to pi_ref^(1 + beta) * pi*^(-beta).

    With chosen responses drawn from pi_ref, rejected responses drawn from pi_l* make DPO's optimum the target pi*.
    """
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    return torch.log_softmax((1 + beta) * ref_logps - beta * target_logps, dim=dim)


def optimal_rejected_weights(ref_logps: torch.Tensor, target_logps: torch.Tensor, beta: float, dim: int = -1):
    """Resampling weights of K candidates drawn from pi_ref: softmax(-beta * l*(y_k)), l* = log pi* - log pi_ref.

    Resampling the candidates with these weights draws from pi_l* (as K grows).
    """
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    return torch.softmax(-beta * (target_logps - ref_logps), dim=dim)


def resample_rejected(
    ref_logps: torch.Tensor,
    target_logps: torch.Tensor,
    beta: float,
    num: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Indices of ``num`` rejected responses per row among K reference samples (shape (..., K) in, (..., num) out)."""
    weights = optimal_rejected_weights(ref_logps, target_logps, beta)
    flat = weights.reshape(-1, weights.shape[-1])
    picks = torch.multinomial(flat, num, replacement=True, generator=generator)
    return picks.reshape(*weights.shape[:-1], num)


def group_extremes(scores: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (into ``scores``) of the best and the worst rollout of every group of ``group_size`` consecutive
    rollouts whose best score is above its worst: the pair a group's rewards prefer, for the log-margin ordering of an
    RL update (the rewards play the labels' part: y_w the best rollout, y_l the worst). Groups whose finite scores
    are all equal (or fewer than two) prefer nothing and are left out; NaN scores (unscorable rollouts) never count.
    """
    if scores.numel() % group_size:
        raise ValueError(f"{scores.numel()} scores do not split into groups of {group_size}")
    grouped = scores.reshape(-1, group_size).double()
    finite = torch.isfinite(grouped)
    best = grouped.masked_fill(~finite, -math.inf).argmax(1)
    worst = grouped.masked_fill(~finite, math.inf).argmin(1)
    rows = torch.arange(grouped.shape[0], device=scores.device)
    offsets = rows * group_size
    keep = finite.sum(1).ge(2) & (grouped[rows, best] > grouped[rows, worst])
    return (offsets + best)[keep], (offsets + worst)[keep]

"""GAIN-RL's schedule (arXiv 2506.02281): a Gaussian over angle ranks whose centre moves with accuracy and angle.

Each epoch draws M prompts without replacement with p_i proportional to exp(-0.5 * ((i - mu) / sigma)^2) over ranks
i = 0..N-1 (rank 0 = highest angle score) and iterates them in rank order. After the epoch

    delta = step * tanh(alpha * (acc - target_acc)) + step * tanh(alpha * angle),   mu <- mu + clip(delta)

with acc in [0, 1] the epoch's success rate and angle its mean online angle concentration.

The authors fix target_acc (beta = 0.5). :func:`running_target` is infopo's alternative for policies far from 50%
success (see its docstring): the target is the policy's own recent accuracy.
"""

from __future__ import annotations

import math

import torch


def gaussian_rank_probs(n: int, mu: float, sigma: float) -> torch.Tensor:
    """Sampling probabilities of ranks 0..n-1 (float64, sum 1). N = 5, sigma = 1, mu = 0 -> [0.5703, 0.3459, ...]."""
    if n < 1:
        raise ValueError(f"need at least one prompt, got n={n}")
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be a positive finite number, got {sigma}")
    if not math.isfinite(mu):
        raise ValueError(f"mu must be finite, got {mu}")
    log_weights = -0.5 * ((torch.arange(n, dtype=torch.float64) - mu) / sigma) ** 2
    return torch.softmax(log_weights, dim=0)  # stable when mu lies far outside 0..n-1


def update_center(
    mu: float,
    acc: float,
    angle: float,
    *,
    step: float = 500.0,
    alpha: float = 2.0,
    target_acc: float = 0.5,
    clip: tuple[float, float] = (0.0, 1000.0),
) -> tuple[float, float]:
    """The new centre and the clipped delta: mu + clip(step*tanh(alpha*(acc - target)) + step*tanh(alpha*angle)).

    Worked values (defaults): (acc, angle) = (0.75, 0.30) -> delta 499.58; (0.20, 0.05) -> -218.69, clipped to 0.
    """
    if not 0.0 <= acc <= 1.0:
        raise ValueError(f"acc must lie in [0, 1], got {acc}")
    low, high = clip
    if low > high:
        raise ValueError(f"clip must be (low, high) with low <= high, got {clip}")
    delta = step * math.tanh(alpha * (acc - target_acc)) + step * math.tanh(alpha * angle)
    delta = min(max(delta, low), high)
    return mu + delta, delta


def running_target(previous: float | None, acc: float, momentum: float = 0.5) -> float:
    """The accuracy target after an epoch: an exponential moving average of the policy's own epoch accuracies
    (momentum * previous + (1 - momentum) * acc; the first epoch's accuracy itself when there is no previous).

    Why: the accuracy term of the update asks "is the current window easy for this policy?" and moves mu on when it
    is. Against a fixed target of 0.5, a policy whose success rate is below 0.5 on every window never finds one easy:
    every delta is negative, the clip at 0 holds mu at rank 0, and training narrows to the highest-angle prompts
    (measured: success 0.09-0.19, mu 0 for 160 steps, held-out accuracy falling). Measured against the policy's own
    recent accuracy, the question becomes "is this window easier than what the policy has been seeing?". The term is
    centred at 0 on average, so the angle term, GAIN-RL's other signal, drives a steady advance; a window harder than
    the recent ones (acc below the target) slows it, an easier one speeds it up, and the target follows the policy as
    it learns. It holds mu only while acc stays below the target by more than the angle term's worth, which a
    moving average does not allow for long. The update formula is otherwise the authors' (n, alpha, tanh, clip).

    Worked values (momentum 0.5): accuracies 0.10, 0.15, 0.08 give targets 0.10, 0.125, 0.1025; with angle 0.28 and
    the default n = 500, alpha = 2, the deltas of the three epochs (target before each epoch; the first epoch
    measures against its own accuracy) are 253.99, 303.82 and 209.11.
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    return acc if previous is None else momentum * previous + (1.0 - momentum) * acc


def draw_epoch(n: int, num_samples: int, mu: float, sigma: float, generator: torch.Generator) -> list[int]:
    """``num_samples`` distinct ranks drawn by :func:`gaussian_rank_probs`, in ascending rank order."""
    if num_samples > n:
        raise ValueError(f"cannot draw {num_samples} prompts per epoch from a data set of {n}")
    probs = gaussian_rank_probs(n, mu, sigma)
    # Ranks far in the tails can underflow to 0; torch.multinomial needs enough non-zero weights to draw from.
    probs = probs.clamp_min(torch.finfo(torch.float64).tiny)
    return sorted(torch.multinomial(probs, num_samples, replacement=False, generator=generator).tolist())

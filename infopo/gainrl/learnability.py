"""Learnability scheduling (``gainrl_order: learnability``): draw the prompts whose next group of rollouts is most
likely to carry a policy-gradient signal, predicted from each prompt's own success history.

Why. A GRPO group's advantages are (r - mean) / std within the group: a group whose G rollouts all succeed or all fail
has zero variance and teaches nothing, and the expected signal of a prompt is its success variance p(1 - p) (LILO,
arXiv 2502.12272; balanced online filtering, arXiv 2504.03380). A prompt's zero-variance status persists across
epochs and is predictable from its history (GRESO, arXiv 2506.02177; MoPPS, arXiv 2507.04632 models each prompt's
success rate with a Beta posterior).

Model. Prompt i's success rate p_i ~ Beta(a_i, b_i): the prior has mean p0_i and strength s (pseudo-rollouts), p0_i
from the offline answer log-prob when given (exp of the answer's summed log-prob: the probability of writing exactly
the answer after the prompt), else the uniform Beta(1, 1); each observed rollout adds a success to a or a failure
to b. Under the posterior, with B the beta function:

    E[p(1 - p)]            = a b / ((a + b)(a + b + 1))                      (predicted success variance)
    P(group has zero var.) = E[p^G + (1 - p)^G] = (B(a + G, b) + B(a, b + G)) / B(a, b)

Draw of an epoch (M prompts, deterministic in (seed, epoch) and the posterior at the epoch's start, so every rank and
a resumed run draw the same): first the ``explore`` share of M goes to the least-tried prompts (fewest rollouts, ties
at random), so every prompt is tried and a changed policy is seen again; the rest goes in decreasing predicted
variance, each candidate skipped with probability min(P(zero variance), 1 - ``skip_floor``): a prompt is passed over
in proportion to the chance its group would be wasted, and even a prompt certain to be all-correct or all-wrong keeps
a ``skip_floor`` chance per epoch to be drawn, as GRESO keeps a minimum exploration probability, because a policy that
changes can make it learnable again. Skipped prompts fill the epoch only if too few remain (never fewer than M).
Observations of an epoch are folded into the posterior when it ends (as GAIN-RL's mu moves only at epoch ends).

Thompson draw (``learnability_draw: thompson``, :func:`draw_thompson`): MoPPS's selection (arXiv 2507.04632, Alg. 1):
one success rate sampled from each prompt's posterior, and the M prompts whose samples lie closest to 0.5 (MoPPS's
target rate). The posterior is the same; what differs from the default draw is that the posterior's uncertainty,
not a least-tried share and a skip probability, does the exploring.
"""

from __future__ import annotations

import math
import random

import torch

PRIOR_CLIP = (0.01, 0.99)
"""Prior means are kept inside this range: an offline estimate never rules a prompt in or out on its own."""


def prior_counts(prior_means: list[float] | None, count: int, strength: float) -> tuple[list[float], list[float]]:
    """(a, b) of each prompt's Beta prior: mean p0 clipped to :data:`PRIOR_CLIP` and strength s (a = s p0,
    b = s (1 - p0)); the uniform Beta(1, 1) without prior means."""
    if prior_means is None:
        return [1.0] * count, [1.0] * count
    low, high = PRIOR_CLIP
    means = [min(max(mean, low), high) for mean in prior_means]
    return [strength * mean for mean in means], [strength * (1 - mean) for mean in means]


def expected_variance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """E[p(1 - p)] under Beta(a, b): a b / ((a + b)(a + b + 1)). Worked value: Beta(2, 3) -> 0.2."""
    total = a + b
    return a * b / (total * (total + 1))


def zero_variance_probability(a: torch.Tensor, b: torch.Tensor, group_size: int) -> torch.Tensor:
    """P(all G rollouts succeed or all fail) under Beta(a, b): (B(a + G, b) + B(a, b + G)) / B(a, b), in log space.
    Worked value: Beta(1, 1), G = 4 -> 2 / (G + 1) = 0.4."""
    a, b = a.double(), b.double()

    def log_beta(x, y):
        return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)

    base = log_beta(a, b)
    return torch.exp(log_beta(a + group_size, b) - base) + torch.exp(log_beta(a, b + group_size) - base)


def draw_learnable(
    a: list[float],
    b: list[float],
    trials: list[int],
    samples: int,
    group_size: int,
    generator: torch.Generator,
    explore: float = 0.25,
    skip_floor: float = 0.1,
) -> dict:
    """The ``samples`` prompt indices of one epoch (see the module docstring), with what the draw decided from:
    ``indices``, ``skipped`` (candidates passed over), ``predicted_var`` (mean E[p(1 - p)] of the drawn prompts)."""
    count = len(a)
    if not 0 < samples <= count:
        raise ValueError(f"cannot draw {samples} of {count} prompts")
    alphas, betas = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    variance = expected_variance(alphas, betas)
    p_zero = zero_variance_probability(alphas, betas, group_size)
    ties, coins = torch.rand(count, generator=generator).tolist(), torch.rand(count, generator=generator).tolist()
    exploring = min(samples, math.floor(samples * explore + 0.5))
    chosen = sorted(range(count), key=lambda i: (trials[i], ties[i]))[:exploring]
    taken = set(chosen)
    passed_over = []
    for index in sorted((i for i in range(count) if i not in taken), key=lambda i: (-variance[i].item(), ties[i])):
        if len(chosen) == samples:
            break
        if coins[index] < min(p_zero[index].item(), 1.0 - skip_floor):
            passed_over.append(index)
            continue
        chosen.append(index)
    refill = samples - len(chosen)
    chosen += passed_over[:refill]
    return {
        "indices": chosen,
        "skipped": len(passed_over) - refill,
        "predicted_var": variance[torch.tensor(chosen)].mean().item(),
    }


THOMPSON_TARGET = 0.5
"""The success rate a Thompson draw aims at (MoPPS's default target: where p(1 - p) is largest)."""


def draw_thompson(a: list[float], b: list[float], samples: int, generator: torch.Generator) -> dict:
    """MoPPS's draw: p_i sampled from Beta(a_i, b_i) for every prompt, the ``samples`` prompts with the smallest
    |p_i - 0.5| (ties by index). Returns ``indices``, ``skipped`` (0: nothing is passed over) and ``predicted_var``
    (mean E[p(1 - p)] of the drawn prompts, as :func:`draw_learnable`)."""
    count = len(a)
    if not 0 < samples <= count:
        raise ValueError(f"cannot draw {samples} of {count} prompts")
    rng = random.Random(int(torch.randint(2**62, (1,), generator=generator)))
    sampled = [rng.betavariate(alpha, beta) for alpha, beta in zip(a, b, strict=True)]
    chosen = sorted(range(count), key=lambda i: (abs(sampled[i] - THOMPSON_TARGET), i))[:samples]
    variance = expected_variance(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    return {"indices": chosen, "skipped": 0, "predicted_var": variance[torch.tensor(chosen)].mean().item()}

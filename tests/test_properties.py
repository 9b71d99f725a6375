"""Property-based tests (hypothesis) on the pure functions of the four methods: shapes, ragged groups, extreme
values and dtypes; finite input never gives NaN or inf."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infopo.did.info import did_entropy, did_entropy_snis, optimal_rejected_logprobs, pair_did_entropy
from infopo.gainrl.schedule import draw_epoch, gaussian_rank_probs, update_center
from infopo.gainrl.signals import angle_concentration, prompt_angle_score
from infopo.igpo.rewards import (
    TurnRewards,
    discounted_turn_advantages,
    info_gain_rewards,
    normalize_group_rewards,
    probe_values,
    token_advantages,
)
from infopo.kappa.condition import condition_number

FAST = settings(max_examples=60, deadline=None)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
DTYPES = st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64])


@FAST
@given(st.integers(1, 4), st.integers(1, 9), st.integers(1, 6), DTYPES, st.integers(0, 2**31 - 1), st.floats(1e-6, 1e4))
def test_angle_concentration_is_a_finite_cosine(batch, length, dim, dtype, seed, scale):
    generator = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(batch, length, dim, generator=generator) * scale).to(dtype)
    mask = torch.rand(batch, length, generator=generator) > 0.4
    angles = angle_concentration(hidden, mask)
    assert angles.shape == (batch,) and torch.isfinite(angles).all()
    assert (angles >= -1 - 1e-3).all() and (angles <= 1 + 1e-3).all()
    question = mask & (torch.rand(batch, length, generator=generator) > 0.5)
    score = prompt_angle_score(hidden, question, mask & ~question, inter_weight=8.0)
    assert torch.isfinite(score).all() and (score.abs() <= 9 + 1e-2).all()


@FAST
@given(st.integers(1, 5000), finite, st.floats(1e-3, 1e6), st.floats(0, 1), finite)
def test_schedule_stays_finite_and_clipped(n, mu, sigma, acc, angle):
    probs = gaussian_rank_probs(n, mu, sigma)
    assert torch.isfinite(probs).all() and math.isclose(probs.sum().item(), 1.0, rel_tol=1e-9)
    new_mu, delta = update_center(mu, acc, max(-1.0, min(1.0, angle / 1e6)))
    assert 0.0 <= delta <= 1000.0 and math.isfinite(new_mu)
    ranks = draw_epoch(n, min(n, 8), mu, sigma, torch.Generator().manual_seed(0))
    assert len(set(ranks)) == len(ranks) == min(n, 8) and all(0 <= r < n for r in ranks)


ragged = st.lists(st.lists(finite, min_size=1, max_size=6), min_size=1, max_size=12)


@FAST
@given(ragged, st.integers(1, 4), st.sampled_from(["joint", "separate"]), st.floats(0, 1))
def test_igpo_advantages_of_ragged_groups_are_finite(per_rollout, group_size, mode, gamma):
    rewards = TurnRewards.from_lists(per_rollout)
    groups = torch.arange(len(per_rollout)) // group_size  # the last group may be smaller, even a single rollout
    normalized = normalize_group_rewards(rewards, groups, mode)
    assert torch.isfinite(normalized.values).all() and normalized.values.abs().max() <= 1e4
    advantages = discounted_turn_advantages(normalized, gamma)
    spans, width = [], 0
    for turns in per_rollout:
        spans.append([(3 * t, 3 * t + 2) for t in range(len(turns))])
        width = max(width, 3 * len(turns))
    tokens, mask = token_advantages(advantages, spans, width)
    assert tokens.shape == mask.shape == (len(per_rollout), width) and torch.isfinite(tokens).all()
    assert int(mask.sum()) == 2 * sum(len(turns) for turns in per_rollout)


@FAST
@given(finite, st.integers(1, 6))
def test_all_equal_groups_normalise_to_zero(value, group_size):
    rewards = TurnRewards.from_lists([[value, value]] * group_size)
    normalized = normalize_group_rewards(rewards, torch.zeros(group_size, dtype=torch.long))
    assert normalized.values.abs().max() <= 1e-6 * max(1.0, abs(value))  # zero up to the rounding of the mean


@FAST
@given(st.integers(1, 6), st.integers(1, 7), st.floats(-1e4, 0), st.sampled_from(["prob", "log_prob"]))
def test_probe_values_and_gains_are_finite_for_extreme_log_probs(turns, length, low, kind):
    logps = torch.linspace(low, 0, turns * length, dtype=torch.float64).reshape(turns, length)
    values = probe_values(logps, torch.ones_like(logps), kind)
    assert values.shape == (turns,) and torch.isfinite(values).all()
    assert info_gain_rewards(values).shape == (turns - 1,)
    if kind == "prob":
        assert ((values >= 0) & (values <= 1)).all()


@FAST
@given(st.lists(finite, min_size=2, max_size=16), st.floats(1e-3, 10))
def test_did_quantities_are_finite_and_bounded(log_ratios, beta):
    ratios = torch.tensor(log_ratios, dtype=torch.float64)
    entropy = did_entropy(ratios)
    assert torch.isfinite(entropy) and -1e-9 <= entropy.item() <= math.log(len(log_ratios)) + 1e-9
    pair = pair_did_entropy(ratios[:1], ratios[1:2])
    assert torch.isfinite(pair).all() and 0 <= pair.item() <= math.log(2) + 1e-9
    ref = torch.log_softmax(ratios / 1e3, 0)
    estimate, k = did_entropy_snis(ref + ratios / 1e3, ref)
    assert k == len(log_ratios) and torch.isfinite(estimate)
    rejected = optimal_rejected_logprobs(ref, torch.log_softmax(ratios / 1e3, 0), beta)
    assert torch.isfinite(rejected).all() and math.isclose(rejected.exp().sum().item(), 1.0, rel_tol=1e-6)


@FAST
@given(
    st.integers(2, 12), st.integers(2, 12), st.sampled_from([2.0**-10, 0.5, 2.0, 2.0**12]), st.integers(0, 2**31 - 1)
)
def test_condition_number_is_scale_invariant_and_at_least_one(rows, cols, scale, seed):
    weight = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed))
    kappa = condition_number(weight)
    assert kappa >= 1.0 - 1e-9
    if math.isfinite(kappa) and kappa < 1e4:
        assert math.isclose(condition_number(weight * scale), kappa, rel_tol=1e-7)  # powers of 2: exact scaling
    assert condition_number(torch.zeros(rows, cols)) == math.inf

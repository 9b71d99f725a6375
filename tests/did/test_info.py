import math

import pytest
import torch

from infopo.did.info import (
    did_distribution,
    did_entropy,
    did_entropy_snis,
    log_margin_ordered,
    optimal_rejected_logprobs,
    optimal_rejected_weights,
    pair_did_entropy,
    resample_rejected,
    sequence_log_ratio,
)

REF = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64).log()
TARGET = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64).log()


def test_worked_values_from_the_spec():
    q = did_distribution(TARGET - REF)
    assert q.tolist() == pytest.approx([0.102564, 0.256410, 0.641026], abs=1e-6)
    assert did_entropy(TARGET - REF).item() == pytest.approx(0.867589, abs=1e-6)
    assert did_entropy(TARGET - REF).item() < math.log(3)


def test_sharpening_target_gives_q_equal_to_the_reference():
    sharpened = torch.log_softmax(2 * REF, -1)  # pi* proportional to pi_ref^2
    assert did_distribution(sharpened - REF).tolist() == pytest.approx(REF.exp().tolist(), abs=1e-12)
    assert did_entropy(sharpened - REF).item() == pytest.approx(-(REF.exp() * REF).sum().item(), abs=1e-12)


def test_distribution_normalises_and_entropy_is_bounded_batched():
    ratios = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3
    assert did_distribution(ratios).sum(-1).tolist() == pytest.approx([1.0] * 5)
    entropy = did_entropy(ratios)
    assert entropy.shape == (5,) and bool(((entropy >= 0) & (entropy <= math.log(7) + 1e-12)).all())
    assert did_entropy(torch.zeros(4)).item() == pytest.approx(math.log(4))  # no update: uniform q


def test_sequence_log_ratio_sums_over_the_completion_mask():
    policy = torch.tensor([[-1.0, -2.0, -3.0]])
    ref = torch.tensor([[-1.5, -1.0, -9.0]])
    mask = torch.tensor([[1, 1, 0]])
    assert sequence_log_ratio(policy, ref, mask).tolist() == [pytest.approx(-0.5)]
    assert sequence_log_ratio(torch.tensor([-3.0]), torch.tensor([-2.0])).tolist() == [-1.0]


def test_snis_estimate_converges_to_the_exact_entropy_and_reports_k():
    generator = torch.Generator().manual_seed(0)
    samples = torch.multinomial(TARGET.exp(), 200_000, replacement=True, generator=generator)
    estimate, k = did_entropy_snis(TARGET[samples], REF[samples])
    assert k == 200_000 and estimate.item() == pytest.approx(0.867589, abs=5e-3)
    with pytest.raises(ValueError, match="K >= 2"):
        did_entropy_snis(TARGET[:1], REF[:1])


def test_pair_entropy_is_binary_entropy_of_the_pair():
    entropy = pair_did_entropy(torch.tensor([0.0, 5.0, -5.0], dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    q = torch.sigmoid(torch.tensor(5.0, dtype=torch.float64))
    expected = -(q * q.log() + (1 - q) * (1 - q).log())
    assert entropy.tolist() == pytest.approx([math.log(2), expected.item(), expected.item()], rel=1e-6)


def test_log_margin_ordering():
    m_ref, m_policy = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 1.0])
    assert log_margin_ordered(None, m_ref, m_policy).tolist() == [True, True, False]
    assert log_margin_ordered(torch.tensor([-1.0, 2.0, 0.0]), m_ref, m_policy).tolist() == [True, False, False]


def test_optimal_rejected_distribution_and_its_resampler():
    beta = 0.5
    log_l = optimal_rejected_logprobs(REF, TARGET, beta)
    expected = REF.exp() ** (1 + beta) * TARGET.exp() ** (-beta)
    assert log_l.exp().tolist() == pytest.approx((expected / expected.sum()).tolist(), rel=1e-12)
    # Resampling reference candidates with softmax(-beta * l*) draws from pi_l*.
    generator = torch.Generator().manual_seed(1)
    candidates = torch.multinomial(REF.exp(), 100_000, replacement=True, generator=generator)
    weights = optimal_rejected_weights(REF[candidates], TARGET[candidates], beta)
    drawn = candidates[torch.multinomial(weights, 100_000, replacement=True, generator=generator)]
    frequencies = torch.bincount(drawn, minlength=3).double() / drawn.numel()
    assert frequencies.tolist() == pytest.approx(log_l.exp().tolist(), abs=0.01)
    picks = resample_rejected(torch.zeros(4, 6), torch.zeros(4, 6), beta, num=3, generator=generator)
    assert picks.shape == (4, 3) and int(picks.max()) < 6
    with pytest.raises(ValueError, match="beta must be positive"):
        optimal_rejected_logprobs(REF, TARGET, 0.0)

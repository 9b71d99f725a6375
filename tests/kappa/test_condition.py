import math

import pytest
import torch

from infopo.kappa import condition_number, condition_numbers
from infopo.kappa.condition import GRAM_KAPPA_LIMIT


def test_reference_values_from_the_spec():
    assert condition_number(torch.diag(torch.tensor([3.0, 1.0]))) == pytest.approx(3.0, rel=1e-12)
    assert condition_number(torch.tensor([[1.0, 0, 0], [0, 2, 0]])) == pytest.approx(2.0, rel=1e-12)
    assert condition_number(torch.tensor([[1.0, 0, 0], [0, 2, 0]]).T) == pytest.approx(2.0, rel=1e-12)
    assert condition_number(torch.tensor([[1.0, 1.0], [1.0, 1.0]])) == math.inf


def test_rotation_has_kappa_one():
    rotation, _ = torch.linalg.qr(torch.randn(16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    assert condition_number(rotation) == pytest.approx(1.0, abs=1e-9)
    angle = torch.tensor(0.3)
    plane = torch.stack([torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])])
    assert condition_number(plane) == pytest.approx(1.0, abs=1e-6)


def test_scale_invariance_and_bf16_matches_its_float32_upcast():
    weight = torch.randn(24, 40, generator=torch.Generator().manual_seed(1))
    assert condition_number(10 * weight.double()) == pytest.approx(condition_number(weight.double()), rel=1e-12)
    low = weight.bfloat16()
    assert condition_number(low) == condition_number(low.float())
    assert condition_number(weight.half()) == condition_number(weight.half().float())


@pytest.mark.parametrize("kappa", [2.0, 50.0, 1e3, 1e4, 1e6])
def test_matches_a_float64_svd_across_conditioning(kappa):
    """The Gram route below GRAM_KAPPA_LIMIT and the SVD fallback above it both agree with svdvals in float64."""
    generator = torch.Generator().manual_seed(2)
    u, _ = torch.linalg.qr(torch.randn(64, 64, dtype=torch.float64, generator=generator))
    v, _ = torch.linalg.qr(torch.randn(96, 64, dtype=torch.float64, generator=generator))
    singular = torch.logspace(0, -math.log10(kappa), 64, dtype=torch.float64)
    weight = (u * singular) @ v.T
    reference = torch.linalg.svdvals(weight)
    assert condition_number(weight) == pytest.approx((reference[0] / reference[-1]).item(), rel=1e-7)
    assert (kappa > GRAM_KAPPA_LIMIT) == (kappa == 1e6)  # both routes are exercised


def test_rank_threshold_is_relative():
    weight = torch.diag(torch.tensor([1.0, 1e-9], dtype=torch.float64))
    assert condition_number(weight) == math.inf
    assert condition_number(weight, eps=1e-12) == pytest.approx(1e9, rel=1e-6)
    assert condition_number(1e-20 * torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))) == pytest.approx(2.0)
    assert condition_number(torch.zeros(3, 3)) == math.inf


def test_conv_like_tensor_is_read_as_rows_by_rest_and_vectors_are_refused():
    weight = torch.randn(8, 3, 2, 2, generator=torch.Generator().manual_seed(3))
    assert condition_number(weight) == pytest.approx(condition_number(weight.reshape(8, 12)), rel=1e-12)
    with pytest.raises(ValueError, match="ndim >= 2"):
        condition_number(torch.ones(4))


def test_batched_values_equal_single_values():
    weights = [torch.randn(12, 20, generator=torch.Generator().manual_seed(s)) for s in range(5)]
    assert condition_numbers(weights) == pytest.approx([condition_number(w) for w in weights], rel=1e-12)
    assert condition_numbers([]) == []

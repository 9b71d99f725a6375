import math

import pytest
import torch

from infopo.gainrl.schedule import draw_epoch, gaussian_rank_probs, update_center


def test_rank_probabilities_worked_value():
    probs = gaussian_rank_probs(5, mu=0.0, sigma=1.0)
    assert probs.tolist() == pytest.approx([0.5703, 0.3459, 0.0772, 0.0063, 0.0002], abs=1e-4)
    assert probs.sum().item() == pytest.approx(1.0)


def test_rank_probabilities_peak_at_mu_and_survive_a_far_centre():
    assert gaussian_rank_probs(100, mu=40.0, sigma=5.0).argmax().item() == 40
    far = gaussian_rank_probs(10, mu=1e6, sigma=1.0)
    assert torch.isfinite(far).all() and far.argmax().item() == 9 and far.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("sigma", [0.0, -1.0, math.inf, math.nan])
def test_bad_sigma_is_refused(sigma):
    with pytest.raises(ValueError, match="sigma"):
        gaussian_rank_probs(5, 0.0, sigma)


@pytest.mark.parametrize(("acc", "angle", "delta"), [(0.75, 0.30, 499.58), (0.20, 0.05, 0.0), (0.5, 0.0, 0.0)])
def test_update_worked_values(acc, angle, delta):
    mu, applied = update_center(100.0, acc, angle)
    assert applied == pytest.approx(delta, abs=0.01)
    assert mu == pytest.approx(100.0 + delta, abs=0.01)


def test_update_unclipped_negative_and_upper_clip():
    assert update_center(0.0, 0.20, 0.05, clip=(-1000.0, 1000.0))[1] == pytest.approx(-218.69, abs=0.01)
    assert update_center(0.0, 1.0, 1.0, clip=(0.0, 300.0))[1] == 300.0
    with pytest.raises(ValueError, match="acc"):
        update_center(0.0, 1.5, 0.0)


def test_draw_is_distinct_sorted_seeded_and_follows_mu():
    first = draw_epoch(200, 20, mu=0.0, sigma=10.0, generator=torch.Generator().manual_seed(0))
    again = draw_epoch(200, 20, mu=0.0, sigma=10.0, generator=torch.Generator().manual_seed(0))
    later = draw_epoch(200, 20, mu=150.0, sigma=10.0, generator=torch.Generator().manual_seed(0))
    assert first == again == sorted(set(first)) and len(first) == 20
    assert sum(first) / 20 < 25 and abs(sum(later) / 20 - 150) < 25
    assert len(draw_epoch(5, 5, mu=1e6, sigma=0.1, generator=torch.Generator().manual_seed(0))) == 5
    with pytest.raises(ValueError, match="cannot draw 6"):
        draw_epoch(5, 6, 0.0, 1.0, torch.Generator())


def test_running_target_worked_values():
    """A weak policy (success 0.10, 0.15, 0.08) with angle 0.28: the authors' fixed target 0.5 clips every update
    to 0; the running target keeps mu moving."""
    from infopo.gainrl.schedule import running_target

    target, deltas, fixed = None, [], []
    for acc in (0.10, 0.15, 0.08):
        beta = acc if target is None else target
        deltas.append(update_center(0.0, acc, 0.28, target_acc=beta)[1])
        fixed.append(update_center(0.0, acc, 0.28)[1])
        target = running_target(target, acc, momentum=0.5)
    assert deltas == pytest.approx([253.99, 303.82, 209.11], abs=0.01)
    assert target == pytest.approx(0.1025) and fixed == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="momentum"):
        running_target(0.1, 0.2, momentum=1.0)

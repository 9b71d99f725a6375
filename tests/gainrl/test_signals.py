import pytest
import torch
import torch.nn.functional as F

from infopo.gainrl.signals import angle_concentration, prompt_angle_score


def brute_force_pairs(vectors: torch.Tensor) -> float:
    unit = F.normalize(vectors.double(), dim=-1)
    n = len(unit)
    return ((unit @ unit.T).tril(-1).sum() / (n * (n - 1) / 2)).item()


def test_worked_value_of_the_spec():
    hidden = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]])
    assert angle_concentration(hidden, torch.ones(1, 4)).item() == pytest.approx(0.5202, abs=1e-4)


def test_matches_the_strict_lower_triangle_with_masks_and_padding():
    torch.manual_seed(0)
    hidden = torch.randn(4, 9, 6)
    mask = torch.rand(4, 9) > 0.3
    mask[:, :2] = True
    got = angle_concentration(hidden, mask)
    for row in range(4):
        assert got[row].item() == pytest.approx(brute_force_pairs(hidden[row][mask[row]]), abs=1e-5)


def test_padding_values_do_not_matter_and_bf16_is_upcast():
    torch.manual_seed(1)
    hidden = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    changed = hidden.clone()
    changed[0, 3:] = 1e4
    assert torch.allclose(angle_concentration(hidden, mask), angle_concentration(changed, mask))
    low = angle_concentration(hidden.bfloat16(), mask)
    assert low.dtype == torch.float32
    assert torch.allclose(low, angle_concentration(hidden, mask), atol=2e-2)


def test_degenerate_rows_are_zero_not_nan():
    hidden = torch.zeros(3, 4, 2)
    hidden[0, 0] = torch.tensor([1.0, 0.0])
    mask = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    got = angle_concentration(hidden, mask)
    assert not got.isnan().any()
    assert got.tolist() == [0.0, 0.0, 0.0]  # one token, no token, all-zero vectors


def test_identical_directions_give_one_and_opposite_give_minus_one():
    same = torch.tensor([[[1.0, 2.0], [2.0, 4.0], [0.5, 1.0]]])
    opposite = torch.tensor([[[1.0, 0.0], [-3.0, 0.0]]])
    assert angle_concentration(same, torch.ones(1, 3)).item() == pytest.approx(1.0)
    assert angle_concentration(opposite, torch.ones(1, 2)).item() == pytest.approx(-1.0)


def test_prompt_score_splits_question_and_template():
    torch.manual_seed(2)
    hidden = torch.randn(1, 7, 5)
    question = torch.tensor([[0, 0, 1, 1, 1, 0, 0]]).bool()
    template = torch.tensor([[1, 1, 0, 0, 0, 1, 0]]).bool()  # the last token is padding
    unit = F.normalize(hidden[0].double(), dim=-1)
    q, p = unit[question[0]], unit[template[0]]
    intra = brute_force_pairs(hidden[0][question[0]])
    inter = (q @ p.T).mean().item()
    for weight in (0.0, 1.0, 8.0):
        got = prompt_angle_score(hidden, question, template, inter_weight=weight).item()
        assert got == pytest.approx(intra + weight * inter, abs=1e-5)


def test_prompt_score_without_template_is_the_intra_term_and_overlap_is_refused():
    torch.manual_seed(3)
    hidden = torch.randn(1, 4, 3)
    question = torch.ones(1, 4, dtype=torch.bool)
    none = torch.zeros(1, 4, dtype=torch.bool)
    assert prompt_angle_score(hidden, question, none, 8.0).item() == pytest.approx(
        brute_force_pairs(hidden[0]), abs=1e-5
    )
    with pytest.raises(ValueError, match="both question and template"):
        prompt_angle_score(hidden, question, question)
    with pytest.raises(ValueError, match=r"\(B, L, D\)"):
        angle_concentration(hidden[0], question[0])

import pytest
import torch

from infopo.igpo.probe import pack_rollout, packed_answer_logps
from infopo.tiny import build_tiny_model


def _separate(model, trajectory, boundary, answer, skip):
    sequence = torch.tensor([trajectory[:boundary] + answer])
    logps = torch.log_softmax(model(sequence).logits[0].double(), -1)
    return torch.stack([logps[boundary + j - 1, answer[j]] for j in range(skip, len(answer))])


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_forward_equals_one_forward_per_prefix(attention):
    model = build_tiny_model("llama", seed=0).eval()
    model.set_attn_implementation(attention)  # eager adds the mask to the scores: it must be additive
    generator = torch.Generator().manual_seed(0)
    trajectories = [torch.randint(5, 500, (n,), generator=generator).tolist() for n in (40, 25, 60)]
    boundaries = [[6, 18, 30], [9], [5, 20, 33, 41, 55]]
    answers = [[7, 8, 9, 10], [11, 12], [13, 14, 15]]
    skips = [1, 0, 2]  # forcing-prefix lengths; 0 scores the first token from the trajectory itself
    packed = packed_answer_logps(model, trajectories, boundaries, answers, skips, chunk_size=2)
    for index, values in enumerate(packed):
        assert values.shape == (len(boundaries[index]), len(answers[index]) - skips[index])
        for turn, boundary in enumerate(boundaries[index]):
            expected = _separate(model, trajectories[index], boundary, answers[index], skips[index])
            assert values[turn].double().tolist() == pytest.approx(expected.tolist(), abs=1e-4)


def test_packing_layout():
    ids, positions, allowed = pack_rollout([1, 2, 3, 4], [2, 4], [9, 8])
    assert ids.tolist() == [1, 2, 3, 4, 9, 8, 9, 8]
    assert positions.tolist() == [0, 1, 2, 3, 2, 3, 4, 5]
    assert allowed[4].tolist() == [True, True, False, False, True, False, False, False]  # copy 0 sees X[:2]
    assert allowed[7].tolist() == [True, True, True, True, False, False, True, True]  # copy 1 sees X[:4] and itself

"""Dynamic sampling's pure parts: the signal of a group, joining kept rollouts, the refill stream; IGPO's signal."""

import math

import pytest
import torch

from infopo.dynamic_sampling.batches import (
    RefillStream,
    group_rows,
    groups_with_signal,
    merge_rollout_batches,
    trim_padding,
)
from infopo.igpo.rewards import turn_reward_signal


def test_a_group_has_a_signal_when_its_finite_values_differ():
    rows = [[1.0], [1.0], [0.0], [1.0], [0.5], [0.5], [math.nan], [2.0], [math.nan], [math.nan]]
    assert groups_with_signal(rows, 2) == [False, True, False, False, False]
    assert groups_with_signal([[0.1 + 0.2], [0.3]], 2) == [False]  # float noise below the tolerance
    assert groups_with_signal([[0.0, 0.0], [0.0, 1.0]], 2) == [True]  # a row's turn rewards count too
    with pytest.raises(ValueError, match="3 rows do not split into groups of 2"):
        groups_with_signal([[1.0]] * 3, 2)
    assert group_rows([0, 2], 3) == [0, 1, 2, 6, 7, 8]


def test_igpo_keeps_a_group_whose_outcomes_agree_but_whose_gains_differ():
    gains = [[0.2], [0.0], [], []]  # group 0: gains differ, outcomes agree; group 1: one turn each, outcomes agree
    outcomes = torch.tensor([1.0, 1.0, 0.0, 0.0])
    for mode in ("joint", "separate"):
        assert turn_reward_signal(gains, outcomes, 2, mode=mode) == [True, False]
    # equal gains and equal outcomes: joint mode still sees 0.2 against 1.0 (their z-scores are not 0), separate not
    same = [[0.2], [0.2]]
    assert turn_reward_signal(same, torch.tensor([1.0, 1.0]), 2, mode="joint") == [True]
    assert turn_reward_signal(same, torch.tensor([1.0, 1.0]), 2, mode="separate") == [False]
    assert turn_reward_signal(same, torch.tensor([1.0, 1.0]), 2, gain_weight=0.0, outcome_weight=0.0) == [False]


def _batch(prompts: list[list[int]], completions: list[list[int]], pad: int = 0) -> dict:
    width_p, width_c = max(map(len, prompts)), max(map(len, completions))
    return {
        "prompt_ids": torch.tensor([[pad] * (width_p - len(p)) + p for p in prompts]),
        "prompt_mask": torch.tensor([[0] * (width_p - len(p)) + [1] * len(p) for p in prompts]),
        "completion_ids": torch.tensor([c + [pad] * (width_c - len(c)) for c in completions]),
        "completion_mask": torch.tensor([[1] * len(c) + [0] * (width_c - len(c)) for c in completions]),
        "old_per_token_logps": torch.tensor([[-1.0] * len(c) + [0.0] * (width_c - len(c)) for c in completions]),
        "importance_sampling_ratio": torch.ones(len(prompts), 1),
        "advantages": torch.arange(len(prompts), dtype=torch.float32),
        "num_items_in_batch": torch.tensor(99),
    }


def test_merging_pads_prompts_left_and_completions_right_and_trims_unused_columns():
    first = _batch([[5, 6, 7], [8]], [[1], [2, 3, 4, 9]])
    second = _batch([[4, 4], [3, 3, 3, 3, 3]], [[7, 7], [6]])
    merged = merge_rollout_batches([(first, [1]), (second, [0]), (first, [])], pad_token_id=0)
    assert "num_items_in_batch" not in merged
    # the rows' own widths: prompts 2 (row [4, 4]), completions 4 (row [2, 3, 4, 9]); the longer ones were dropped
    assert merged["prompt_ids"].tolist() == [[0, 8], [4, 4]]
    assert merged["prompt_mask"].tolist() == [[0, 1], [1, 1]]
    assert merged["completion_ids"].tolist() == [[2, 3, 4, 9], [7, 7, 0, 0]]
    assert merged["completion_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert merged["old_per_token_logps"].tolist() == [[-1.0] * 4, [-1.0, -1.0, 0.0, 0.0]]
    assert merged["advantages"].tolist() == [1.0, 0.0]
    assert merged["importance_sampling_ratio"].shape == (2, 1)
    assert trim_padding(merged, pad_to_multiple_of=3)["completion_ids"].shape == (2, 4)  # at most what exists
    with pytest.raises(ValueError, match="cannot join the rollout field 'pixel_values'"):
        merge_rollout_batches([({**first, "pixel_values": torch.zeros(2, 3, 4)}, [0])], pad_token_id=0)


def test_the_refill_stream_walks_passes_and_resumes_from_its_state():
    passes = {0: [3, 1, 2], 1: [0, 4], 2: [5, 6, 7]}
    stream = RefillStream(passes.__getitem__)
    assert stream.draw(2) == [3, 1]
    saved = stream.state_dict()
    assert stream.draw(4) == [2, 0, 4, 5]
    # drawn again now, pass 0 would differ (the GAIN-RL state moved since): the saved pass is used up first
    resumed = RefillStream(lambda index: {0: [9, 9, 9], 1: [0, 4], 2: [5, 6, 7]}[index])
    resumed.load_state_dict(saved)
    assert resumed.draw(4) == [2, 0, 4, 5] and resumed.state_dict() == stream.state_dict()
    with pytest.raises(ValueError, match="refill pass 0 drew no prompts"):
        RefillStream(lambda index: []).draw(1)

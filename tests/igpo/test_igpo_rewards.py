import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from infopo.igpo.rewards import (
    TurnRewards,
    answer_f1,
    discounted_turn_advantages,
    exact_match,
    extract_answer,
    group_turn_advantages,
    igpo_turn_rewards,
    info_gain_rewards,
    normalize_group_rewards,
    probe_values,
    squad_exact_match,
    squad_f1,
    squad_normalize,
    token_advantages,
)


def _worked_rewards():
    gains_a = info_gain_rewards(torch.tensor([0.10, 0.30, 0.25], dtype=torch.float64))
    gains_b = info_gain_rewards(torch.tensor([0.10, 0.12], dtype=torch.float64))
    return TurnRewards.from_lists(
        [torch.cat([gains_a, torch.tensor([1.0])]), torch.cat([gains_b, torch.tensor([0.0])])]
    )


def test_worked_example_joint_gamma_one():
    rewards = _worked_rewards()
    assert rewards.values.tolist() == pytest.approx([0.20, -0.05, 1.0, 0.02, 0.0])
    normalized = normalize_group_rewards(rewards, torch.tensor([0, 0]), "joint")
    assert normalized.values.tolist() == pytest.approx([-0.0867, -0.7241, 1.9531, -0.5456, -0.5966], abs=1e-4)
    advantages = discounted_turn_advantages(normalized, gamma=1.0)
    a, b = advantages.per_rollout()
    assert a.tolist() == pytest.approx([1.1423, 1.2289, 1.9531], abs=1e-4)
    assert b.tolist() == pytest.approx([-1.1423, -0.5966], abs=1e-4)


# Malformed rollouts as the authors' released code (debajoycs98/IGPO 8660196, Feb 2026) treats them: G = 3, gamma = 1,
# format penalty -2. A answers (F1 1); B's answer fails to parse after two turns (one measured gain, 0.40 - 0.10);
# C hits max_turns = 3 unanswered (probe 0.10 -> 0.20 -> 0.15: two gains). Every measured gain and both penalties
# enter the group statistics, nothing else. The numbers are those of a replica of the authors' core_algos.py.
AUTHORS_GAINS = [[0.20, -0.05], [0.30], [0.10, -0.05]]
AUTHORS_OUTCOMES = [1.0, -2.0, -2.0]


def test_malformed_rollouts_keep_their_measured_gains_as_in_the_authors_code():
    rewards = igpo_turn_rewards(AUTHORS_GAINS, AUTHORS_OUTCOMES)
    assert rewards.values.tolist() == pytest.approx([0.20, -0.05, 1.0, 0.30, -2.0, 0.10, -0.05, -2.0])
    joint = group_turn_advantages(AUTHORS_GAINS, AUTHORS_OUTCOMES, group_size=3, mode="joint").per_rollout()
    assert joint[0].tolist() == pytest.approx([2.0416, 1.5404, 1.2836], abs=1e-4)  # mean -0.3125, std 1.0225
    assert joint[1].tolist() == pytest.approx([-1.0514, -1.6504], abs=1e-4)
    assert joint[2].tolist() == pytest.approx([-0.9902, -1.3937, -1.6504], abs=1e-4)
    separate = group_turn_advantages(AUTHORS_GAINS, AUTHORS_OUTCOMES, group_size=3, mode="separate").per_rollout()
    assert separate[0].tolist() == pytest.approx([1.0515, 0.3260, 1.4142], abs=1e-4)
    assert separate[1].tolist() == pytest.approx([0.7438, -0.7071], abs=1e-4)
    assert separate[2].tolist() == pytest.approx([-1.7953, -1.7953, -0.7071], abs=1e-4)
    # Invented zeros (the earlier rule: no gains for malformed rollouts, zeros in their place) move every rollout's
    # advantages, the well-formed A included.
    zeroed = group_turn_advantages([[0.20, -0.05], [0.0], [0.0, 0.0]], AUTHORS_OUTCOMES, group_size=3).per_rollout()
    assert abs(zeroed[0][0].item() - joint[0][0].item()) > 0.1


def test_weights_and_batches_of_groups():
    rewards = igpo_turn_rewards([[0.5], []], [1.0, -2.0], gain_weight=2.0, outcome_weight=0.5)
    assert [t.tolist() for t in rewards.per_rollout()] == [[1.0, 0.5], [-1.0]]
    two_groups = group_turn_advantages(AUTHORS_GAINS * 2, AUTHORS_OUTCOMES * 2, group_size=3)
    alone = group_turn_advantages(AUTHORS_GAINS, AUTHORS_OUTCOMES, group_size=3)
    assert two_groups.select(range(3, 6)).values.tolist() == pytest.approx(alone.values.tolist())
    with pytest.raises(ValueError, match="do not split into groups of 2"):
        group_turn_advantages(AUTHORS_GAINS, AUTHORS_OUTCOMES, group_size=2)


def test_probe_value_of_the_worked_example():
    logps = torch.tensor([[-0.2, -1.0, -2.0, -9.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    assert probe_values(logps, mask).item() == pytest.approx(math.exp(-1.0667), abs=1e-4)
    assert probe_values(logps, mask).item() == pytest.approx(0.3442, abs=1e-4)
    assert probe_values(logps, mask, kind="log_prob").item() == pytest.approx(-3.2 / 3)
    with pytest.raises(ValueError, match="probe kind"):
        probe_values(logps, mask, kind="odds")


def test_separate_mode_uses_own_statistics_per_kind_and_groups_are_independent():
    rewards = TurnRewards.from_lists([[0.2, 1.0], [0.4, 0.0], [5.0, 7.0]])
    normalized = normalize_group_rewards(rewards, torch.tensor([0, 0, 1]), "separate").per_rollout()
    assert normalized[0].tolist() == pytest.approx([-1.0, 1.0], abs=1e-4)  # gains 0.2/0.4, outcomes 1/0
    assert normalized[1].tolist() == pytest.approx([1.0, -1.0], abs=1e-4)
    assert normalized[2].tolist() == pytest.approx([0.0, 0.0])  # a lone reward of each kind: centred, std 1
    with pytest.raises(ValueError, match="norm mode"):
        normalize_group_rewards(rewards, torch.tensor([0, 0, 1]), "mixed")


def test_discount_and_ragged_packing():
    rewards = TurnRewards.from_lists([[1.0, 1.0, 1.0], [2.0]])
    assert [t.tolist() for t in discounted_turn_advantages(rewards, 0.5).per_rollout()] == [[1.75, 1.5, 1.0], [2.0]]
    assert rewards.is_final().tolist() == [False, False, True, True]
    assert rewards.rollout_index().tolist() == [0, 0, 0, 1]
    with pytest.raises(ValueError, match="at least one turn"):
        TurnRewards.from_lists([[1.0], []])


def test_token_advantages_fill_assistant_spans_and_mask_everything_else():
    turn_advantages = TurnRewards.from_lists([[0.5, -1.0], [2.0]])
    spans = [[(2, 4), (6, 8)], [(1, 3)]]
    advantages, mask = token_advantages(turn_advantages, spans, length=9)
    assert advantages[0].tolist() == [0, 0, 0.5, 0.5, 0, 0, -1.0, -1.0, 0]
    assert mask[0].tolist() == [False, False, True, True, False, False, True, True, False]  # 4-5: observation
    assert advantages[1].tolist() == [0, 2.0, 2.0, 0, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="1 assistant spans for 2 turn values"):
        token_advantages(turn_advantages, [[(0, 1)], [(1, 3)]], length=9)


def test_answer_extraction_and_scores():
    text = "<search>capital of matiza</search><information>...</information><answer> Gozeri city </answer>"
    assert extract_answer(text) == "Gozeri city"
    assert extract_answer("<answer>unclosed") is None
    assert extract_answer("<a>x</a> <a>y</a>", "<a>", "</a>") == "y"
    assert answer_f1("Gozeri city", ["gozeri"]) == pytest.approx(2 / 3)
    assert answer_f1("the gozeri!", ["nope", "The Gozeri"]) == 1.0
    assert answer_f1(None, "x") == 0.0
    assert exact_match("The, Gozeri", "the gozeri") == 1.0 and exact_match("gozeri x", "gozeri") == 0.0


def test_a_non_finite_gain_is_no_reward_and_leaves_the_others_alone():
    """The audit's case: NaN (or a -inf log-prob probe) in one rollout's gains turned its whole group into NaN."""
    with_nan = group_turn_advantages([[0.1, math.nan], [0.2], []], [1, 0, 0.5], 3)
    without = group_turn_advantages([[0.1], [0.2], []], [1, 0, 0.5], 3)
    assert torch.isfinite(with_nan.values).all()
    assert with_nan.values[0].item() == pytest.approx(without.values[0].item())
    assert with_nan.values[3:].tolist() == pytest.approx(without.values[2:].tolist())
    assert with_nan.values[1].item() == pytest.approx(with_nan.values[2].item())  # its turn: 0, plus the outcome's A


NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
GAINS = st.lists(st.lists(st.floats(-1, 1), max_size=4), min_size=2, max_size=6)


@given(
    gains=GAINS,
    bad=NON_FINITE,
    where=st.integers(0, 100),
    mode=st.sampled_from(["joint", "separate"]),
    gamma=st.sampled_from([1.0, 0.9]),
)
def test_any_non_finite_probe_gain_leaves_every_other_rollout_as_without_it(gains, bad, where, mode, gamma):
    outcomes = [float(i % 2) for i in range(len(gains))]
    rollout = where % len(gains)
    position = where % (len(gains[rollout]) + 1)
    broken = [list(g) for g in gains]
    broken[rollout].insert(position, bad)
    removed = [list(g) for g in gains]
    got = group_turn_advantages(broken, outcomes, len(gains), mode=mode, gamma=gamma)
    expected = group_turn_advantages(removed, outcomes, len(gains), mode=mode, gamma=gamma)
    assert torch.isfinite(got.values).all()
    for index, (a, b) in enumerate(zip(got.per_rollout(), expected.per_rollout(), strict=True)):
        if index != rollout:
            assert a.tolist() == pytest.approx(b.tolist(), abs=1e-9)


def test_f1_and_answer_extraction_follow_the_authors_by_default_with_infopos_rules_as_options():
    """The audit's worked examples of each difference from the authors' format_and_f1.compute_score."""
    from infopo.igpo.rewards import answer_f1, extract_answer, first_answer

    assert answer_f1("New York New York", "New York") == 1.0  # the authors: sets of words
    assert answer_f1("New York New York", "New York", words="multiset") == pytest.approx(2 / 3)
    assert answer_f1("the new york", ["Paris", "new york"]) == pytest.approx(0.8)
    two = "<answer>Paris</answer> <answer>London</answer>"
    assert first_answer(two) == "paris" and extract_answer(two) == "London"  # first of the whole response vs last
    assert first_answer("<think>x <answer>London</answer>") is None  # unbalanced think: the format penalty
    assert first_answer("</answer> <answer>London") is None  # closed before it is opened
    assert first_answer("<tool_call>q</tool_call> <answer> London </answer>") == "london"
    assert first_answer("no tags at all") is None and extract_answer("no tags at all") is None


def test_a_turn_whose_z_score_is_zero_keeps_its_own_discounted_advantage():
    """gamma != 1: the authors find turns by normalised reward != 0, so this zero-z-score turn would merge with the
    next one; with explicit spans it is a turn of its own: A_0 = 0 + gamma * A_1."""
    advantages = group_turn_advantages([[0.0], []], [1.0, -1.0], 2, gamma=0.5).values  # pool 0, 1, -1: mean 0
    z_one = 1.0 / (math.sqrt(2 / 3 + 1e-8) + 1e-6)
    assert advantages.tolist() == pytest.approx([0.5 * z_one, z_one, -z_one])


def test_counterfactual_gains_and_trajectories_worked_values():
    from infopo.igpo.counterfactual import counterfactual_trajectories
    from infopo.igpo.rewards import counterfactual_gains

    gains = counterfactual_gains(torch.tensor([0.1, 0.5, 0.9]), torch.tensor([0.2, 0.3]))
    assert torch.allclose(gains, torch.tensor([0.3, 0.6]))
    with pytest.raises(ValueError, match="1 counterfactual values for 3 probe values"):
        counterfactual_gains(torch.tensor([0.1, 0.5, 0.9]), torch.tensor([0.2]))
    # turn 1 = (3, 4), its observation (5, 6), turn 2 = (7, 8): the random observation replaces (5, 6)
    trajectories, boundaries = counterfactual_trajectories([1, 2], [3, 4, 5, 6, 7, 8], [(0, 2), (4, 6)], [[9, 9, 9]])
    assert trajectories == [[1, 2, 3, 4, 9, 9, 9]] and boundaries == [[7]]
    assert counterfactual_trajectories([1], [3], [(0, 1)], []) == ([], [])
    with pytest.raises(ValueError, match="2 counterfactual observations for 2 turns"):
        counterfactual_trajectories([1], [3, 4, 5], [(0, 1), (2, 3)], [[9], [9]])


def test_squad_scores_remove_articles_as_papers_do_and_infopos_success_does_not():
    """SQuAD v1.1's normalisation (lower case, punctuation deleted, a/an/the removed), next to infopo's exact match."""
    assert squad_normalize("The  Dayegi!") == "dayegi" and squad_normalize("an apple, a day") == "apple day"
    assert squad_normalize("theatre") == "theatre"  # whole words only
    assert squad_exact_match("the dayegi", ["dayegi"]) == 1.0 and exact_match("the dayegi", ["dayegi"]) == 0.0
    assert squad_exact_match("Dayegi.", "dayegi") == 1.0 and squad_exact_match(None, "dayegi") == 0.0
    assert squad_exact_match("dayegi river", ["dayegi"]) == 0.0
    # bag-of-words F1 after normalisation: "the new york new york" -> [new, york, new, york] against [new, york]
    assert squad_f1("the New York New York", ["new york"]) == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert squad_f1("Paris", ["london", "paris"]) == 1.0 and squad_f1("rome", ["paris"]) == 0.0

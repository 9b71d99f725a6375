"""IGPO's turn-level rewards and advantages: pure functions (arXiv 2510.14967).

A rollout is a sequence of turns; turn t's assistant span is trained, the environment's observation after it is
not. Rewards are per turn and ragged (rollouts have different numbers of turns), so they travel packed in
:class:`TurnRewards`: a flat tensor plus explicit offsets, never padded with zeros that could be mistaken for
rewards.

- Probe value v_t: the policy's length-normalised probability of the ground-truth answer after turn t.
- Non-final turn t: information gain r_t = v_t - v_{t-1}; final turn: the outcome (F1 or exact match).
- Group normalisation over the G rollouts of one question (``joint``: all turn rewards together; ``separate``:
  gains and outcomes each with their own statistics), then A_t = r~_t + gamma * A_{t+1}.
- Every token of turn t's assistant span gets A_t.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

import torch

from infopo.dynamic_sampling.batches import groups_with_signal

STD_EPS_INSIDE = 1e-8
STD_EPS_OUTSIDE = 1e-6


@dataclass(frozen=True)
class TurnRewards:
    """Per-turn values of a batch of rollouts, packed: rollout i owns ``values[offsets[i]:offsets[i + 1]]``.

    The last value of each rollout belongs to its final turn.
    """

    values: torch.Tensor
    offsets: torch.Tensor

    @classmethod
    def from_lists(cls, per_rollout: list) -> TurnRewards:
        tensors = [torch.as_tensor(r, dtype=torch.float64).reshape(-1) for r in per_rollout]
        if any(t.numel() == 0 for t in tensors):
            raise ValueError("every rollout has at least one turn (its final turn)")
        lengths = torch.tensor([0] + [t.numel() for t in tensors])
        return cls(torch.cat(tensors), lengths.cumsum(0))

    @property
    def num_rollouts(self) -> int:
        return self.offsets.numel() - 1

    def rollout_index(self) -> torch.Tensor:
        """For each packed value, the index of its rollout."""
        return torch.repeat_interleave(torch.arange(self.num_rollouts), self.offsets.diff())

    def is_final(self) -> torch.Tensor:
        """True on each rollout's last (outcome) value."""
        final = torch.zeros(self.values.numel(), dtype=torch.bool)
        final[self.offsets[1:] - 1] = True
        return final

    def per_rollout(self) -> list[torch.Tensor]:
        return [self.values[a:b] for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist(), strict=True)]

    def replace(self, values: torch.Tensor) -> TurnRewards:
        return TurnRewards(values, self.offsets)

    def select(self, rollouts: range) -> TurnRewards:
        """The consecutive rollouts ``rollouts`` (a range), repacked."""
        begin, end = int(self.offsets[rollouts.start]), int(self.offsets[rollouts.stop])
        return TurnRewards(self.values[begin:end], self.offsets[rollouts.start : rollouts.stop + 1] - begin)


def probe_values(answer_logps: torch.Tensor, answer_mask: torch.Tensor, kind: str = "prob") -> torch.Tensor:
    """v = exp(mean_j log pi(a_j | context, a_<j)) over the masked answer tokens (``kind="log_prob"``: the mean).

    ``answer_logps`` and ``answer_mask`` have shape (..., L); the result has shape (...).
    """
    mask = answer_mask.to(answer_logps.dtype)
    mean = (answer_logps * mask).sum(-1) / mask.sum(-1).clamp_min(1)
    if kind == "prob":
        return mean.exp()
    if kind == "log_prob":
        return mean
    raise ValueError(f"probe kind must be 'prob' or 'log_prob', got {kind!r}")


def info_gain_rewards(values: torch.Tensor) -> torch.Tensor:
    """r_t = v_t - v_{t-1} for t = 1..T-1 from the probe values v_0..v_{T-1} of a T-turn rollout."""
    return values[1:] - values[:-1]


def counterfactual_gains(values: torch.Tensor, counterfactual_values: torch.Tensor) -> torch.Tensor:
    """r_t = v_t - v~_t for t = 1..T-1: the probe value after turn t's real observation against the value after an
    observation of random documents in its place (IG-Search, arXiv 2604.15148; :mod:`infopo.igpo.counterfactual`).
    Worked value: v = (0.1, 0.5, 0.9), v~ = (0.2, 0.3) -> (0.3, 0.6)."""
    if counterfactual_values.numel() != values.numel() - 1:
        raise ValueError(f"{counterfactual_values.numel()} counterfactual values for {values.numel()} probe values")
    return values[1:] - counterfactual_values


def _zscore(rewards: torch.Tensor) -> torch.Tensor:
    mean = rewards.mean()
    if rewards.numel() <= 1:
        return rewards - mean
    std = torch.sqrt(((rewards - mean) ** 2).mean() + STD_EPS_INSIDE)
    return (rewards - mean) / (std + STD_EPS_OUTSIDE)


def normalize_group_rewards(turn_rewards: TurnRewards, group_ids: torch.Tensor, mode: str = "joint") -> TurnRewards:
    """Z-score the turn rewards within each group of rollouts (population std; std = 1 for a single reward).

    ``joint``: all turn rewards of the group together (the paper's default). ``separate``: the information gains
    and the outcomes each with their own group statistics. A non-finite reward (a gain from a NaN or infinite probe
    value) is no reward, as the authors' code skips non-finite gains: it stays out of its group's statistics and its
    turn gets 0 (the discount still carries later turns' advantages through it), so every other rollout's
    advantages are those of the same group without it.
    """
    if mode not in ("joint", "separate"):
        raise ValueError(f"norm mode must be 'joint' or 'separate', got {mode!r}")
    group_of_value = torch.as_tensor(group_ids)[turn_rewards.rollout_index()]
    final = turn_rewards.is_final()
    finite = torch.isfinite(turn_rewards.values)
    normalized = torch.zeros_like(turn_rewards.values)  # a non-finite reward counts as none: 0, outside the statistics
    for group in group_of_value.unique():
        in_group = (group_of_value == group) & finite
        parts = [in_group] if mode == "joint" else [in_group & final, in_group & ~final]
        for part in parts:
            if part.any():
                normalized[part] = _zscore(turn_rewards.values[part])
    return turn_rewards.replace(normalized)


def discounted_turn_advantages(rewards: TurnRewards, gamma: float = 1.0) -> TurnRewards:
    """A_t = r_t + gamma * A_{t+1} within each rollout (A_T = r_T on the final turn)."""
    advantages = torch.empty_like(rewards.values)
    for start, end in zip(rewards.offsets[:-1].tolist(), rewards.offsets[1:].tolist(), strict=True):
        running = 0.0
        for index in range(end - 1, start - 1, -1):
            running = rewards.values[index] + gamma * running
            advantages[index] = running
    return rewards.replace(advantages)


def igpo_turn_rewards(
    gains: list[list[float]], outcomes, gain_weight: float = 1.0, outcome_weight: float = 1.0
) -> TurnRewards:
    """Each rollout's turn rewards: its measured information gains (weighted), then its outcome (weighted).

    As in the authors' released code (Feb 2026 revision): a rollout keeps every gain the probe measured, whether or not
    its final answer parsed and whether or not it hit the turn limit; its outcome is then the format penalty. Nothing is
    filled in: a single-turn rollout has its outcome alone, and no invented zero enters any group statistic.
    """
    outcomes = torch.as_tensor(outcomes, dtype=torch.float64).reshape(-1)
    if len(gains) != outcomes.numel():
        raise ValueError(f"{len(gains)} rollouts of gains for {outcomes.numel()} outcomes")
    return TurnRewards.from_lists(
        [
            [gain_weight * gain for gain in rollout] + [outcome_weight * outcome.item()]
            for rollout, outcome in zip(gains, outcomes, strict=True)
        ]
    )


def group_turn_advantages(
    gains: list[list[float]],
    outcomes,
    group_size: int,
    *,
    gain_weight: float = 1.0,
    outcome_weight: float = 1.0,
    mode: str = "joint",
    gamma: float = 1.0,
) -> TurnRewards:
    """Turn advantages of a batch whose consecutive ``group_size`` rollouts answer one question: turn rewards
    (:func:`igpo_turn_rewards`), z-scored per group (:func:`normalize_group_rewards`), discounted
    (:func:`discounted_turn_advantages`). The batch is the whole generation batch over every process, so a group's
    statistics cover all its rollouts wherever they ran."""
    if len(gains) % group_size:
        raise ValueError(f"{len(gains)} rollouts do not split into groups of {group_size}")
    rewards = igpo_turn_rewards(gains, outcomes, gain_weight, outcome_weight)
    groups = torch.arange(len(gains)) // group_size
    return discounted_turn_advantages(normalize_group_rewards(rewards, groups, mode), gamma)


def turn_reward_signal(
    gains: list[list[float]],
    outcomes,
    group_size: int,
    *,
    gain_weight: float = 1.0,
    outcome_weight: float = 1.0,
    mode: str = "joint",
) -> list[bool]:
    """For each group of ``group_size`` rollouts, whether its turn rewards (:func:`igpo_turn_rewards`) vary as
    :func:`normalize_group_rewards` sees them, so that its advantages are not all zero (dynamic sampling keeps it):
    ``joint``, any two of the group's finite turn rewards differ; ``separate``, its outcomes differ or its
    information gains do. A group whose outcomes agree but whose gains differ has a signal."""
    rows = [values.tolist() for values in igpo_turn_rewards(gains, outcomes, gain_weight, outcome_weight).per_rollout()]
    if mode == "joint":
        return groups_with_signal(rows, group_size)
    outcome_signal = groups_with_signal([row[-1:] for row in rows], group_size)
    gain_signal = groups_with_signal([row[:-1] for row in rows], group_size)
    return [a or b for a, b in zip(outcome_signal, gain_signal, strict=True)]


def token_advantages(turn_advantages: TurnRewards, turn_spans: list[list[tuple[int, int]]], length: int):
    """(B, length) advantages and the matching loss mask: tokens [start, end) of turn t's assistant span get A_t.

    ``turn_spans[i]`` lists the assistant spans of rollout i in turn order, one per turn value; every other position
    (prompt, observations, padding) gets advantage 0 and mask 0.
    """
    advantages = torch.zeros((turn_advantages.num_rollouts, length), dtype=turn_advantages.values.dtype)
    mask = torch.zeros((turn_advantages.num_rollouts, length), dtype=torch.bool)
    for row, (values, spans) in enumerate(zip(turn_advantages.per_rollout(), turn_spans, strict=True)):
        if len(spans) != values.numel():
            raise ValueError(f"rollout {row}: {len(spans)} assistant spans for {values.numel()} turn values")
        for value, (start, end) in zip(values.tolist(), spans, strict=True):
            advantages[row, start:end] = value
            mask[row, start:end] = True
    return advantages, mask


def extract_answer(text: str, open_tag: str = "<answer>", close_tag: str = "</answer>") -> str | None:
    """The content of the last complete ``<answer>...</answer>`` in ``text``, or None (infopo's earlier rule, applied
    to the final turn: ``answer_extraction: last_in_final_turn``)."""
    pattern = re.escape(open_tag) + r"(.*?)" + re.escape(close_tag)
    found = re.findall(pattern, text, flags=re.S)
    return found[-1].strip() if found else None


BALANCED_TAGS = ("code", "tool_call", "think")
"""Tags the authors' reward requires balanced in the whole response, besides the answer tags."""


def tags_balanced(text: str, pairs) -> bool:
    """Every (open, close) pair occurs equally often and every open tag is closed after it (the authors'
    ``check_tags_balance``, IGPO's ``format_and_f1.py``)."""
    for open_tag, close_tag in pairs:
        if text.count(open_tag) != text.count(close_tag):
            return False
        position = -1
        while (start := text.find(open_tag, position + 1)) != -1:
            end = text.find(close_tag, start)
            if end == -1:
                return False
            position = end
    return True


def first_answer(text: str, open_tag: str = "<answer>", close_tag: str = "</answer>") -> str | None:
    """The authors' rule (``answer_extraction: authors``): the first complete answer of the whole response, or None
    (the format penalty) when any of its think/answer/tool_call/code tags is unbalanced. Lower-cased, as they score.

    ``<answer>Paris</answer> <answer>London</answer>`` gives "paris"; ``<answer>x</answer> <think>`` gives None.
    """
    text = text.lower()
    open_tag, close_tag = open_tag.lower(), close_tag.lower()
    if not tags_balanced(text, [(open_tag, close_tag), *((f"<{t}>", f"</{t}>") for t in BALANCED_TAGS)]):
        return None
    found = re.search(re.escape(open_tag) + r"(.*?)" + re.escape(close_tag), text, flags=re.S)
    return found.group(1).strip() if found else None


def _words(text: str) -> list[str]:
    lowered = text.lower().translate(str.maketrans(string.punctuation, " " * len(string.punctuation)))
    return lowered.split()


def answer_f1(prediction: str | None, answers, words: str = "set") -> float:
    """Word F1 of the prediction against the best of the acceptable answers (lower-case, no punctuation).

    ``words="set"`` (the authors' ``compute_score``, the default): over the sets of words, so "New York New York"
    against "New York" is 1.0. ``"multiset"`` (SQuAD's bag of words, infopo's earlier rule): repeated words count,
    0.667 there.
    """
    if words not in ("set", "multiset"):
        raise ValueError(f"words must be 'set' or 'multiset', got {words!r}")
    if prediction is None:
        return 0.0
    bag = (lambda text: Counter(set(_words(text)))) if words == "set" else (lambda text: Counter(_words(text)))
    predicted = bag(prediction)
    best = 0.0
    for answer in [answers] if isinstance(answers, str) else answers:
        truth = bag(answer)
        common = sum((predicted & truth).values())
        if common:
            precision, recall = common / sum(predicted.values()), common / sum(truth.values())
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def exact_match(prediction: str | None, answers) -> float:
    """1.0 when the normalised prediction equals one of the normalised answers."""
    if prediction is None:
        return 0.0
    return float(any(_words(prediction) == _words(a) for a in ([answers] if isinstance(answers, str) else answers)))


def squad_normalize(text: str) -> str:
    """SQuAD v1.1's ``normalize_answer`` (also Search-R1's ``qa_em``): lower case, punctuation deleted, the articles
    a/an/the removed, whitespace collapsed. ``"The Dayegi!"`` gives ``"dayegi"``."""
    text = "".join(character for character in text.lower() if character not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def squad_exact_match(prediction: str | None, answers) -> float:
    """Exact match as papers report it (SQuAD's normalisation, :func:`squad_normalize`): 1.0 when the prediction
    equals one of the answers. ``exact_match`` (infopo's ``success``) keeps articles: ``'the dayegi'`` against
    ``'dayegi'`` is 0 there and 1 here."""
    if prediction is None:
        return 0.0
    return float(any(squad_normalize(prediction) == squad_normalize(a) for a in _answer_list(answers)))


def squad_f1(prediction: str | None, answers) -> float:
    """SQuAD v1.1's token F1 (bag of words after :func:`squad_normalize`), the best over the answers."""
    if prediction is None:
        return 0.0
    predicted = Counter(squad_normalize(prediction).split())
    best = 0.0
    for answer in _answer_list(answers):
        truth = Counter(squad_normalize(answer).split())
        common = sum((predicted & truth).values())
        if common:
            precision, recall = common / sum(predicted.values()), common / sum(truth.values())
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _answer_list(answers) -> list[str]:
    return [answers] if isinstance(answers, str) else list(answers)

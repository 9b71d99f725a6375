"""Reward functions in TRL's ``GRPOTrainer`` signature: ``f(prompts, completions, **columns) -> list[float]``.

Each function declares the dataset columns it reads in ``required_columns``; the command line checks them against
the data set before training starts.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"-?\d+")


def completion_text(completion) -> str:
    """The text of a completion in either format: a string, or a list of messages (the last one's content)."""
    if isinstance(completion, str):
        return completion
    return completion[-1]["content"] if completion else ""


def answer_match(completions, answer, **kwargs) -> list[float]:
    """1.0 when the last integer in the completion equals ``answer``, 0.1 when some other integer is there, else 0.0.

    The small credit for writing a number at all gives a randomly initialised model a signal to climb.
    """
    rewards = []
    for completion, expected in zip(completions, answer, strict=True):
        numbers = _NUMBER.findall(completion_text(completion))
        if not numbers:
            rewards.append(0.0)
        else:
            rewards.append(1.0 if numbers[-1] == str(expected).strip() else 0.1)
    return rewards


answer_match.required_columns = ("answer",)

REWARD_FUNCTIONS = {"answer_match": answer_match}
"""Rewards by name, for ``reward_funcs`` in a recipe; any ``package.module.function`` path works too."""

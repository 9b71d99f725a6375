"""IGPO: turn-level information-gain rewards for multi-turn agents (arXiv 2510.14967).

Available: the reward and advantage functions (:mod:`infopo.igpo.rewards`) and the search environment
(:mod:`infopo.igpo.environment`); the lookup-world task lives in :mod:`infopo.data.lookup`.
"""

from infopo.igpo.environment import Environment, SearchEnvironment, Step, load_corpus
from infopo.igpo.rewards import (
    TurnRewards,
    answer_f1,
    discounted_turn_advantages,
    exact_match,
    extract_answer,
    info_gain_rewards,
    normalize_group_rewards,
    probe_values,
    token_advantages,
)

__all__ = [
    "Environment",
    "SearchEnvironment",
    "Step",
    "TurnRewards",
    "answer_f1",
    "discounted_turn_advantages",
    "exact_match",
    "extract_answer",
    "info_gain_rewards",
    "load_corpus",
    "normalize_group_rewards",
    "probe_values",
    "token_advantages",
]

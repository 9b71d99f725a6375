"""IGPO: turn-level information-gain rewards for multi-turn agents (arXiv 2510.14967).

- Pure functions: turn rewards, group normalisation and advantages (:mod:`infopo.igpo.rewards`), the packed probe
  and :func:`answer_tokens` (:mod:`infopo.igpo.probe`).
- Environments (:mod:`infopo.igpo.environment`): the tag protocol (:class:`TagEnvironment`), BM25 search over a
  corpus (:class:`SearchEnvironment`) or over each question's own documents (:class:`ContextSearchEnvironment`, and
  :class:`ContextSearchTools` for TRL's tool loop).
- The trainer: :class:`IGPOTrainer` with :class:`IGPOConfig` (loaded on first access); the lookup-world task lives in
  :mod:`infopo.data.lookup`, the supervised warm start in :mod:`infopo.igpo.warm_start`.
"""

from infopo.igpo.environment import (
    BM25Index,
    ContextSearchEnvironment,
    ContextSearchTools,
    SearchEnvironment,
    Step,
    TagEnvironment,
    load_corpus,
)
from infopo.igpo.probe import answer_tokens
from infopo.igpo.rewards import (
    TurnRewards,
    answer_f1,
    discounted_turn_advantages,
    exact_match,
    extract_answer,
    first_answer,
    info_gain_rewards,
    normalize_group_rewards,
    probe_values,
    token_advantages,
)
from infopo.lazy import lazy_attributes

_LAZY = {"IGPOConfig": "infopo.igpo.config", "IGPOTrainer": "infopo.igpo.trainer"}

__all__ = [
    "BM25Index",
    "ContextSearchEnvironment",
    "ContextSearchTools",
    "IGPOConfig",
    "IGPOTrainer",
    "SearchEnvironment",
    "Step",
    "TagEnvironment",
    "TurnRewards",
    "answer_f1",
    "answer_tokens",
    "discounted_turn_advantages",
    "exact_match",
    "extract_answer",
    "first_answer",
    "info_gain_rewards",
    "load_corpus",
    "normalize_group_rewards",
    "probe_values",
    "token_advantages",
]
__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)

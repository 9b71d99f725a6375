"""IGPO: turn-level information-gain rewards for multi-turn agents (arXiv 2510.14967).

- Pure functions: turn rewards, group normalisation and advantages (:mod:`infopo.igpo.rewards`), the packed probe
  and :func:`answer_tokens` (:mod:`infopo.igpo.probe`).
- Environments (:mod:`infopo.igpo.environment`): the tag protocol (:class:`TagEnvironment`), search through a
  retriever (:class:`SearchEnvironment`, batched per turn by :func:`step_episodes`) or over each question's own
  documents (:class:`ContextSearchEnvironment`, and :class:`ContextSearchTools` for TRL's tool loop).
- Retrieval (:mod:`infopo.igpo.retrieval`): the :class:`Retriever` protocol, BM25 in memory or memory-mapped from an
  index folder (:class:`BM25Retriever`, :func:`build_index`), a client for servers on Search-R1's protocol
  (:class:`HttpRetriever`), and :func:`open_retriever`.
- The trainer: :class:`IGPOTrainer` with :class:`IGPOConfig`; every name loads on first access; the lookup-world
  task lives in :mod:`infopo.data.lookup`, the supervised warm start in :mod:`infopo.igpo.warm_start`.
"""

from infopo.lazy import lazy_attributes

_LAZY = {
    **dict.fromkeys(
        (
            "ContextSearchEnvironment",
            "ContextSearchTools",
            "SearchEnvironment",
            "Step",
            "TagEnvironment",
            "load_corpus",
            "step_episodes",
        ),
        "infopo.igpo.environment",
    ),
    "answer_tokens": "infopo.igpo.probe",
    **dict.fromkeys(
        ("BM25Retriever", "HttpRetriever", "RetrievalError", "Retriever", "build_index", "open_retriever"),
        "infopo.igpo.retrieval",
    ),
    **dict.fromkeys(
        (
            "TurnRewards",
            "answer_f1",
            "discounted_turn_advantages",
            "exact_match",
            "extract_answer",
            "first_answer",
            "info_gain_rewards",
            "normalize_group_rewards",
            "probe_values",
            "token_advantages",
        ),
        "infopo.igpo.rewards",
    ),
    "IGPOConfig": "infopo.igpo.config",
    "IGPOTrainer": "infopo.igpo.trainer",
}
"""Every name loads on first access: ``import infopo.igpo.retrieval`` (the search index and server) imports no
torch, transformers or TRL."""

__all__ = [
    "BM25Retriever",
    "ContextSearchEnvironment",
    "ContextSearchTools",
    "IGPOConfig",
    "IGPOTrainer",
    "HttpRetriever",
    "RetrievalError",
    "Retriever",
    "SearchEnvironment",
    "Step",
    "TagEnvironment",
    "TurnRewards",
    "answer_f1",
    "answer_tokens",
    "build_index",
    "discounted_turn_advantages",
    "exact_match",
    "extract_answer",
    "first_answer",
    "info_gain_rewards",
    "load_corpus",
    "normalize_group_rewards",
    "open_retriever",
    "probe_values",
    "step_episodes",
    "token_advantages",
]
__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)

"""DID: differential-information analysis of DPO, and of any update (arXiv 2505.23761).

Pure functions in :mod:`infopo.did.info`; every infopo trainer's DID entropy (the ``did_entropy_*`` fields of
:mod:`infopo.did.arguments`, :mod:`infopo.did.monitor`; GRPO and IGPO also order each group's best and worst rollout);
the trainer (:class:`DIDDPOTrainer` with :class:`DIDDPOConfig`, loaded on
first access) logs the ``did/*`` metrics from the log-probs DPO already computes; :mod:`infopo.did.analyze` holds the
offline analysis and the optimal rejected-response pair builder (``infopo did analyze`` / ``make-pairs``).
"""

from infopo.did.info import (
    did_distribution,
    did_entropy,
    did_entropy_snis,
    log_margin_ordered,
    optimal_rejected_logprobs,
    optimal_rejected_weights,
    pair_did_entropy,
    resample_rejected,
    sequence_log_ratio,
)
from infopo.lazy import lazy_attributes

_LAZY = {"DIDDPOConfig": "infopo.did.config", "DIDDPOTrainer": "infopo.did.trainer"}

__all__ = [
    "DIDDPOConfig",
    "DIDDPOTrainer",
    "did_distribution",
    "did_entropy",
    "did_entropy_snis",
    "log_margin_ordered",
    "optimal_rejected_logprobs",
    "optimal_rejected_weights",
    "pair_did_entropy",
    "resample_rejected",
    "sequence_log_ratio",
]
__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)

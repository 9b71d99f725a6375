"""DID: differential-information analysis of DPO (arXiv 2505.23761).

Pure functions in :mod:`infopo.did.info`; the trainer (:class:`DIDDPOTrainer`, :class:`DIDDPOConfig`) logs the
``did/*`` metrics from the log-probs DPO already computes.
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

__all__ = [
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

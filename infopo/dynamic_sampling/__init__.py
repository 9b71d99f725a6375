"""Dynamic sampling for every GRPO-family trainer (DAPO, arXiv 2503.14476): groups without a signal are dropped and
refilled (:mod:`infopo.dynamic_sampling.trainer`), from pure parts (:mod:`infopo.dynamic_sampling.batches`)."""

from infopo.dynamic_sampling.batches import RefillStream, groups_with_signal, merge_rollout_batches
from infopo.dynamic_sampling.config import DynamicSamplingArguments

__all__ = ["DynamicSamplingArguments", "RefillStream", "groups_with_signal", "merge_rollout_batches"]

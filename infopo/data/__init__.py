"""Synthetic data sets and named data set loading."""

from infopo.data.loading import load_named_dataset, require_columns, require_split
from infopo.data.synthetic import (
    SYNTHETIC_TASKS,
    arithmetic_preference,
    arithmetic_prompts,
    arithmetic_sft,
    reversal_sft,
)

__all__ = [
    "SYNTHETIC_TASKS",
    "arithmetic_preference",
    "arithmetic_prompts",
    "arithmetic_sft",
    "load_named_dataset",
    "require_columns",
    "require_split",
    "reversal_sft",
]

"""Synthetic data sets and named data set loading."""

from infopo.data.loading import load_named_dataset, require_columns, require_split
from infopo.data.synthetic import SYNTHETIC_TASKS, arithmetic_preference, arithmetic_prompts

__all__ = [
    "SYNTHETIC_TASKS",
    "arithmetic_preference",
    "arithmetic_prompts",
    "load_named_dataset",
    "require_columns",
    "require_split",
]

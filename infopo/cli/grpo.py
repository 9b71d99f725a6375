"""``infopo grpo``: TRL's GRPO through infopo's recipes, checks, KappaTune fields and model card."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.configs import InfopoGRPOConfig
from infopo.data import require_columns
from infopo.data.validation import check_rows, is_present, is_prompt
from infopo.errors import InfopoConfigError
from infopo.rewards import REWARD_FUNCTIONS
from infopo.trainers import InfopoGRPOTrainer


@dataclass
class GRPOScriptArguments(InfopoScriptArguments):
    reward_funcs: list[str] = field(
        default_factory=lambda: ["answer_match"],
        metadata={
            "help": f"Reward functions: names from infopo.rewards ({', '.join(REWARD_FUNCTIONS)}) or dotted import "
            "paths such as trl.rewards.accuracy_reward."
        },
    )


def load_reward_function(name: str):
    """A reward function by registry name, ``package.module.function`` or ``package.module:function`` path; modules
    in the working folder are found too (``my_rewards.contains_answer`` with ``my_rewards.py`` next to the recipe), as
    with ``trl grpo``."""
    if name in REWARD_FUNCTIONS:
        return REWARD_FUNCTIONS[name]
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attribute = name.rpartition(":") if ":" in name else name.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as error:
        raise InfopoConfigError(
            f"reward_funcs: cannot load {name!r} ({error}); use one of {', '.join(REWARD_FUNCTIONS)}, a dotted path "
            "or module:function"
        ) from error


def _check_prompts_and_reward_columns(dataset, name: str, script_args, training_args) -> None:
    """A prompt (text or messages) in every row, and a value in every column a reward function declares."""
    require_columns(dataset, ("prompt",), name, "GRPO (prompts)")
    check_rows(dataset, {"prompt": is_prompt}, name)
    for reward in script_args.reward_funcs:
        needed = getattr(load_reward_function(reward), "required_columns", ())
        require_columns(dataset, needed, name, f"reward {reward}")
        check_rows(dataset, {column: is_present for column in needed}, name)


GRPO = TrainingCommand(
    name="grpo",
    script_class=GRPOScriptArguments,
    config_class=InfopoGRPOConfig,
    trainer_class=InfopoGRPOTrainer,
    check_dataset=_check_prompts_and_reward_columns,
    trainer_kwargs=lambda script_args: {"reward_funcs": [load_reward_function(n) for n in script_args.reward_funcs]},
)

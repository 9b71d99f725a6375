"""Helpers for launch configurations shared by recipes, tests and scripts."""

from __future__ import annotations

from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DeepSpeedPlugin


def deepspeed_config_from_accelerate(path: str) -> dict:
    """The DeepSpeed config that accelerate builds from the ``deepspeed_config`` section of an accelerate YAML.

    Batch sizes, gradient clipping and precision stay ``"auto"``, as accelerate leaves them for the trainer to fill.
    Useful where accelerate itself cannot start DeepSpeed (no GPU): ``deepspeed.initialize(config=...)`` takes it
    once the ``"auto"`` values are set.
    """
    settings = load_config_from_file(path).deepspeed_config
    if not settings:
        raise ValueError(f"{path} has no deepspeed_config section")
    plugin = DeepSpeedPlugin(
        zero_stage=settings["zero_stage"],
        offload_optimizer_device=settings.get("offload_optimizer_device", "none"),
        offload_param_device=settings.get("offload_param_device", "none"),
        zero3_init_flag=settings.get("zero3_init_flag", False),
        zero3_save_16bit_model=settings.get("zero3_save_16bit_model", False),
    )
    return dict(plugin.deepspeed_config)

"""Helpers for launch configurations shared by recipes, tests and scripts."""

from __future__ import annotations


def deepspeed_config_from_accelerate(path: str) -> dict:
    """The DeepSpeed config that accelerate builds from the ``deepspeed_config`` section of an accelerate YAML.

    Batch sizes, gradient clipping and precision stay ``"auto"``, as accelerate leaves them for the trainer to fill.
    Useful where accelerate itself cannot start DeepSpeed (no GPU): ``deepspeed.initialize(config=...)`` takes it
    once the ``"auto"`` values are set.
    """
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DeepSpeedPlugin

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


def is_zero3_partitioned(parameter) -> bool:
    """Whether DeepSpeed ZeRO-3 holds only this rank's shard of ``parameter``."""
    return hasattr(parameter, "ds_id")


def zero3_collectives_active(model) -> bool:
    """True when ``model``'s forwards are collective: ZeRO-3 partitioned weights and more than one process.

    Under ZeRO-3 every forward gathers the partitioned weights from all ranks, so every rank must run the same number
    of forwards (and ``generate`` calls); code whose number of forwards depends on local data pads with dummy ones.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return False
    return any(is_zero3_partitioned(parameter) for parameter in model.parameters())


def max_over_processes(value: int) -> int:
    """The largest ``value`` over all processes (the value itself without torch.distributed)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    tensor = torch.tensor([value], dtype=torch.long)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())

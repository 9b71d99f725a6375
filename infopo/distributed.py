"""Helpers for launch configurations and process groups shared by the trainers, the command line, tests and scripts."""

from __future__ import annotations

from contextlib import contextmanager


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


def end_process_group(*, synchronize: bool) -> None:
    """Tear down the default process group, if one is up, before the interpreter exits.

    Left to the interpreter's exit, gloo's worker threads are destroyed while still joinable and one rank dies with
    ``terminate called without an active exception`` (SIGABRT) after its work is done, so the launcher reports a
    failure. ``synchronize=True`` (a run that succeeded on this rank) first waits at a barrier, so no rank tears the
    group down while another still uses it; error paths pass ``synchronize=False``: the other ranks may never reach a
    barrier, and this rank must exit at once (the launcher then stops them; see :func:`distributed_run`).
    """
    import sys

    if "torch.distributed" not in sys.modules:  # nothing started one (and torch need not be imported for this)
        return
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if synchronize and dist.get_world_size() > 1:
            dist.barrier()
    finally:
        dist.destroy_process_group()


@contextmanager
def distributed_run():
    """End the process group that the block starts or joins (``init_process_group``, ``deepspeed.init_distributed``,
    an ``Accelerator``), on success with a barrier first, on an exception without one.

    On an exception this rank exits with the error; a rank waiting for it in a collective sees the closed connection
    (gloo) and fails too, or is stopped by ``torchrun``/``accelerate launch``, which terminate the other workers as soon
    as one exits non-zero. No rank waits for a collective to time out.
    """
    try:
        yield
    except BaseException:
        end_process_group(synchronize=False)
        raise
    end_process_group(synchronize=True)

"""Scan condition numbers on every rank: ``python kappa_scan_ranks.py ddp|zero3 MODEL_DIR ACCEL_YAML OUT_DIR``.

Run under ``torchrun --nproc_per_node 2`` (gloo, CPU). ``zero3`` first partitions the model with
``deepspeed.initialize`` (ZeRO stage 3, the config accelerate builds from ACCEL_YAML); ``ddp`` scans whole weights
and only splits the work. Each rank writes OUT_DIR/rank<r>.json with its dict.
"""

import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from infopo.distributed import distributed_run, exit_process
from infopo.kappa import scan_condition_numbers


def main(mode: str, model_dir: str, accelerate_yaml: str, out_dir: str) -> None:
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if mode == "zero3":
        import deepspeed

        from infopo.distributed import deepspeed_config_from_accelerate

        deepspeed.init_distributed(dist_backend="gloo")
        config = deepspeed_config_from_accelerate(accelerate_yaml)
        world = torch.distributed.get_world_size()
        config.update(
            train_micro_batch_size_per_gpu=1,
            gradient_accumulation_steps=1,
            train_batch_size=world,
            gradient_clipping=1.0,
            zero_allow_untested_optimizer=True,
        )
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
        model = engine.module
    else:
        torch.distributed.init_process_group("gloo")
    partitioned = all(hasattr(p, "ds_id") and p.ds_tensor.numel() < p.ds_numel for p in model.parameters())
    kappas = scan_condition_numbers(model, progress=False)
    rank = torch.distributed.get_rank()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"partitioned": partitioned, "kappas": kappas}))


if __name__ == "__main__":
    with distributed_run(destroy=torch.distributed.destroy_process_group) as run:  # ends the group on every path
        main(*sys.argv[1:5])
    if run.ended_group:
        exit_process(0)

"""One DeepSpeed training step on the tiny model with the ZeRO config of an accelerate config file.

Run under ``torchrun --nproc_per_node 2`` (gloo, CPU): ``python zero_step.py ACCELERATE_YAML MODEL_DIR OUT_DIR``.
Each rank writes OUT_DIR/rank<r>.json: the ZeRO stage, whether parameters are partitioned, the loss, and whether the
gathered weights changed. accelerate does not start DeepSpeed without a GPU, so this drives ``deepspeed.initialize``
with the configuration accelerate would build from the file.
"""

import json
import sys
from pathlib import Path

import deepspeed
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from infopo.distributed import deepspeed_config_from_accelerate, distributed_run, exit_process


def deepspeed_config(accelerate_yaml: str, micro_batch: int, world_size: int) -> dict:
    config = deepspeed_config_from_accelerate(accelerate_yaml)
    # The values accelerate fills in from the trainer ("auto"); CPU runs in fp32.
    config.update(
        train_micro_batch_size_per_gpu=micro_batch,
        gradient_accumulation_steps=1,
        train_batch_size=micro_batch * world_size,
        gradient_clipping=1.0,
        zero_allow_untested_optimizer=True,
    )
    return config


def main(accelerate_yaml: str, model_dir: str, out_dir: str) -> None:
    deepspeed.init_distributed(dist_backend="gloo")
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    config = deepspeed_config(accelerate_yaml, micro_batch=2, world_size=world)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    before = model.model.layers[0].mlp.up_proj.weight.detach().clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
    batch = tokenizer(
        ["what is 2 plus 3? the answer is 5.", "what is 4 times 2? the answer is 8."], return_tensors="pt"
    )
    loss = engine(**batch, labels=batch["input_ids"]).loss
    engine.backward(loss)
    engine.step()
    weight = engine.module.model.layers[0].mlp.up_proj.weight
    stage = config["zero_optimization"]["stage"]
    partitioned = stage == 3 and weight.ds_tensor.numel() < weight.ds_numel
    with deepspeed.zero.GatheredParameters([weight], enabled=stage == 3):
        changed = not torch.equal(weight.detach().cpu(), before)
        full_shape = list(weight.shape)
    report = {"stage": stage, "partitioned": partitioned, "loss": loss.item(), "changed": changed, "shape": full_shape}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    with distributed_run(destroy=torch.distributed.destroy_process_group) as run:  # ends the group on every path
        main(*sys.argv[1:4])
    if run.ended_group:
        exit_process(0)

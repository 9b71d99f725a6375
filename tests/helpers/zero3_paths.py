"""ZeRO-3 paths of GAIN-RL and DID on partitioned weights (torchrun, 2 ranks, gloo): usage: zero3_paths.py
ACCELERATE_YAML MODEL_DIR OUT_DIR. Each rank writes OUT_DIR/rank<r>.json with the GAIN-RL angle and prompt score
seen by hooks on the partitioned model, and the DID entropy samples it drew (ranks draw different lengths: generate
must keep the ranks in step).
"""

import json
import sys
from pathlib import Path

import deepspeed
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from zero_step import deepspeed_config

from infopo.did.info import did_entropy_snis
from infopo.distributed import distributed_run, exit_process, zero3_collectives_active
from infopo.gainrl.scoring import hooked_module
from infopo.gainrl.signals import angle_concentration
from infopo.scoring import completion_logps, sample_completions

TEXT = "what is 3 plus 4? the answer is 7."


def main(accelerate_yaml: str, model_dir: str, out_dir: str) -> None:
    deepspeed.init_distributed(dist_backend="gloo")
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    config = deepspeed_config(accelerate_yaml, micro_batch=1, world_size=world)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), config=config)
    module = engine.module
    captured = []
    handle = hooked_module(module, -1).register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    ids = tokenizer(TEXT, return_tensors="pt")
    with torch.no_grad():
        module(**ids)
    handle.remove()
    angle = angle_concentration(captured[0], ids["attention_mask"]).item()
    torch.manual_seed(100 + rank)  # the ranks sample differently
    prompt = tokenizer("what is 3 plus 4?")["input_ids"]
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    sequences, mask = sample_completions(module, prompt, 4, 12 if rank == 0 else 3, eos, pad)
    logps = completion_logps(module, sequences, len(prompt), mask)
    estimate, _ = did_entropy_snis(logps, logps - 0.1)
    report = {
        "zero3": zero3_collectives_active(module),
        "angle": angle,
        "width": sequences.shape[1],
        "sequences": sequences.tolist(),
        "mask": mask.tolist(),
        "logps": logps.tolist(),
        "estimate": estimate.item(),
    }
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    with distributed_run(destroy=torch.distributed.destroy_process_group) as run:  # ends the group on every path
        main(*sys.argv[1:4])
    if run.ended_group:
        exit_process(0)

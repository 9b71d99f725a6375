"""IGPO advantages of one group of 4 rollouts, whatever the number of processes (torchrun, gloo).

usage: igpo_groups.py MODEL_DIR OUT_DIR. The global batch is one question's group of 4 rollouts; under 2 processes
each holds 2 of them (``per_device_train_batch_size`` 2 < ``num_generations`` 4). Generation goes through the vLLM
stand-in with a fixed script, so the rollouts are the same however they are split; the environment (each row's own
documents), the probe (the real model) and the rewards are real, and two of the four rows carry a wrong ground
truth, so the group's rewards differ. Each rank writes OUT_DIR/rank<r>.json: its rollouts' turn advantages.
"""

import json
import re
import sys
from pathlib import Path

import torch
from scripted_vllm import install

from infopo import IGPOConfig, IGPOTrainer
from infopo.data.lookup import lookup_context_questions
from infopo.distributed import distributed_run, exit_process
from infopo.igpo.environment import ContextSearchEnvironment


def script(text: str) -> str:
    relation, entity = re.findall(r"what is the (\w+) of (\w+)\?", text)[-1]
    if "<information>" not in text:
        return f" <search> {entity} {relation}</search>"
    found = re.findall(rf"{entity} {relation} (\w+) \.", text.split("<information>")[-1])
    return f" <answer> {found[0]}</answer>"


def main(model_dir: str, out_dir: str) -> None:
    row = dict(lookup_context_questions(1, seed=7, two_hop_share=0.0)[0])
    rows = [row, {**row, "answer": "wrongo"}, row, {**row, "answer": "wrongo"}]
    world = int(__import__("os").environ.get("WORLD_SIZE", "1"))
    config = IGPOConfig(
        output_dir=out_dir,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        per_device_train_batch_size=4 // world,
        num_generations=4,
        max_turns=3,
        max_turn_tokens=16,
        max_completion_length=96,
        seed=0,
    )
    trainer = IGPOTrainer(
        model=model_dir,
        args=config,
        train_dataset=lookup_context_questions(8),
        environment_factory=lambda: ContextSearchEnvironment(top_k=2),
    )
    install(trainer, script)
    trainer.model.train()
    rank = trainer.accelerator.process_index
    local = rows[rank * len(rows) // world : (rank + 1) * len(rows) // world]
    output = trainer._generate_and_score_completions(local)
    advantages = [
        [output["advantages"][i, start].item() for start, _ in spans]
        for i, spans in enumerate(trainer._rollouts["spans"])
    ]
    Path(out_dir, f"rank{rank}.json").write_text(
        json.dumps({"advantages": advantages, "outcomes": trainer._outcomes.tolist()})
    )
    torch.distributed.barrier() if torch.distributed.is_initialized() else None


if __name__ == "__main__":
    with distributed_run() as run:  # the process group ends on every path
        main(*sys.argv[1:3])
    if run.ended_group:
        exit_process(0)

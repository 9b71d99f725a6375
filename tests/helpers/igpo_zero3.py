"""IGPO rollouts and probe on ZeRO-3 partitioned weights with unequal work per rank (torchrun, 2 ranks, gloo).

usage: igpo_zero3.py ACCELERATE_YAML MODEL_DIR OUT_DIR. Rank 0 rolls out three questions, rank 1 none: rank 1 must
keep step (dummy generate calls and probe forwards) or the collective weight gathers hang. Each rank writes
OUT_DIR/rank<r>.json with its trajectories, turn boundaries and probe log-probs, for the test to recompute on the
unpartitioned model.
"""

import json
import sys
import types
from pathlib import Path

import deepspeed
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from infopo.data.lookup import lookup_corpus, lookup_questions
from infopo.distributed import zero3_collectives_active
from infopo.igpo.config import IGPOConfig
from infopo.igpo.environment import SearchEnvironment
from infopo.igpo.trainer import IGPOTrainer
from zero_step import deepspeed_config


class Driver:
    """The parts of IGPOTrainer that roll out and probe, on a DeepSpeed engine's module."""

    _generate_turn = IGPOTrainer._generate_turn
    _rollout = IGPOTrainer._rollout
    _answer_ids = IGPOTrainer._answer_ids
    _probe_all = IGPOTrainer._probe_all


def main(accelerate_yaml: str, model_dir: str, out_dir: str) -> None:
    deepspeed.init_distributed(dist_backend="gloo")
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    config = deepspeed_config(accelerate_yaml, micro_batch=2, world_size=world)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), config=config)
    driver = Driver()
    driver.model = engine.module
    driver.processing_class = AutoTokenizer.from_pretrained(model_dir)
    driver.args = IGPOConfig(output_dir=out_dir, use_cpu=True, bf16=False, report_to="none", max_turns=3,
                             max_turn_tokens=6, per_device_train_batch_size=2, num_generations=2)
    driver.environment = SearchEnvironment(lookup_corpus(), top_k=2)
    driver.accelerator = types.SimpleNamespace(device=torch.device("cpu"))
    questions = lookup_questions(3, seed=4) if rank == 0 else lookup_questions(3, seed=4).select([])
    torch.manual_seed(rank)
    driver._rollout(list(questions["prompt"]), None)
    rollouts = driver._last_rollouts
    inputs = [dict(row) for row in questions]
    probes = driver._probe_all(list(range(len(inputs))), inputs)
    report = {
        "zero3": zero3_collectives_active(engine.module),
        "trajectories": [p + c for p, c in zip(rollouts["prompt_ids"], rollouts["completion_ids"], strict=True)],
        "boundaries": [[len(p)] + [len(p) + start for start, _ in spans[1:]]
                       for p, spans in zip(rollouts["prompt_ids"], rollouts["spans"], strict=True)],
        "answers": [driver._answer_ids(str(row["answer"])) for row in inputs],
        "probes": [probes[i].tolist() for i in range(len(inputs))],
    }
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:4])

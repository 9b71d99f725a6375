"""Benchmark: IGPO rollouts of one batch under DeepSpeed ZeRO-3, per-token weight gathering against TRL's path.

    python -m torch.distributed.run --nproc_per_node 2 scripts/bench/igpo_zero3_rollouts.py [--rounds 3]

Two processes on CPU (gloo), ``deepspeed.initialize`` stage 3 (accelerate does not start DeepSpeed without a GPU; the
driver in ``tests/helpers/igpo_zero3.py`` puts IGPOTrainer's rollout code on the engine). Both sides run the same
code, IGPO's tag loop through TRL's ``_generate_single_turn``, on the same questions with greedy decoding, so they
generate the same tokens:

- before: ``ds3_gather_for_generation: false``, what IGPO did before it used TRL's engine: ``generate`` on the
  partitioned model, so every layer's weights are all-gathered again for every generated token;
- after: ``ds3_gather_for_generation: true`` (TRL's default): ``unwrap_model_for_generation`` gathers the weights once
  per turn's call, then generates locally.

The environment answers every turn with an observation until ``max_turns``, so every rollout runs all its turns.
Model: a random Llama of the given size with the tiny kit's tokenizer. Prints the median rollout time of each side
(alternating, after a warm-up) and the median of the per-round ratios (target >= 2).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import deepspeed
import torch
from transformers.integrations import HfDeepSpeedConfig

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "helpers"))

from igpo_zero3 import roll_out, zero3_rollout_trainer  # noqa: E402
from zero_step import deepspeed_config  # noqa: E402

from infopo.data.lookup import lookup_questions  # noqa: E402
from infopo.distributed import distributed_run, exit_process  # noqa: E402
from infopo.igpo.config import IGPOConfig  # noqa: E402
from infopo.igpo.environment import Step, TagEnvironment  # noqa: E402
from infopo.tiny import build_tiny_model, build_tokenizer  # noqa: E402


class EveryTurnObserved(TagEnvironment):
    """Answers every turn with a short observation: rollouts last ``max_turns`` turns of ``max_turn_tokens``."""

    def step(self, text: str) -> Step:
        return Step(" <information> nothing found .</information>", done=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--questions", type=int, default=8, help="rollouts per process")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--turn_tokens", type=int, default=24)
    args = parser.parse_args()
    deepspeed.init_distributed(dist_backend="gloo")
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    torch.set_num_threads(1)  # two processes on two cores
    config = deepspeed_config(str(REPO / "recipes" / "accelerate" / "zero3.yaml"), micro_batch=2, world_size=world)
    keep = HfDeepSpeedConfig(config)  # noqa: F841  (as the Trainer does: transformers sees ZeRO-3)
    tokenizer = build_tokenizer()
    model = build_tiny_model(
        "llama",
        seed=0,
        hidden_size=args.hidden,
        intermediate_size=4 * args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=8,
        num_key_value_heads=8,
        max_position_embeddings=1024,
    )
    parameters = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())  # built partitioned (zero.Init)
    engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), config=config)
    questions = lookup_questions(args.questions * world, seed=3)
    rows = [dict(questions[i]) for i in range(rank * args.questions, (rank + 1) * args.questions)]
    timings = {"per-token gathers": [], "TRL's path": []}
    with tempfile.TemporaryDirectory() as folder:
        trainers = {}
        for side, gather in (("per-token gathers", False), ("TRL's path", True)):
            igpo = IGPOConfig(
                output_dir=folder,
                use_cpu=True,
                bf16=False,
                report_to="none",
                max_turns=args.turns,
                max_turn_tokens=args.turn_tokens,
                max_completion_length=512,
                per_device_train_batch_size=2,
                num_generations=2,
                ds3_gather_for_generation=gather,
            )
            trainers[side] = zero3_rollout_trainer(engine, tokenizer, igpo, EveryTurnObserved)
            trainers[side].generation_config.do_sample = False  # greedy: both sides generate the same tokens
        tokens = {}
        for round_index in range(args.rounds + 1):
            for side, trainer in trainers.items():
                torch.distributed.barrier()
                started = time.perf_counter()
                rollouts = roll_out(trainer, rows)
                torch.distributed.barrier()
                if round_index:  # round 0 warms up
                    timings[side].append(time.perf_counter() - started)
                tokens[side] = [list(ids) for ids in rollouts["completion_ids"]]
        assert tokens["per-token gathers"] == tokens["TRL's path"], "the two sides generated different tokens"
    if rank == 0:
        generated = sum(sum(1 for _ in ids) for ids in tokens["TRL's path"]) * world
        print(
            f"Llama hidden {args.hidden}, {args.layers} layers ({parameters / 1e6:.1f}M parameters), "
            f"{world} processes, "
            f"{args.questions} rollouts each, {args.turns} turns of {args.turn_tokens} tokens ({generated} tokens)"
        )
        for side, values in timings.items():
            print(f"{side:18s} median {statistics.median(values):7.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
        ratios = [a / b for a, b in zip(timings["per-token gathers"], timings["TRL's path"], strict=True)]
        print(f"speed-up (median of per-round ratios): {statistics.median(ratios):.2f}x  (target >= 2)")


if __name__ == "__main__":
    with distributed_run(destroy=torch.distributed.destroy_process_group) as run:  # ends the group on every path
        main()
    if run.ended_group:
        exit_process(0)

"""IGPO's rollouts and probe on ZeRO-3 partitioned weights, with unequal work per rank (torchrun, 2 ranks, gloo).

usage: igpo_zero3.py ACCELERATE_YAML MODEL_DIR OUT_DIR. accelerate does not start DeepSpeed without a GPU, so
:func:`zero3_rollout_trainer` puts IGPOTrainer's own rollout and probe code (and TRL's ``_generate_single_turn``
under it) on a ``deepspeed.initialize`` engine: an IGPOTrainer object whose attributes are what the trainer's
constructor would have set under accelerate with ZeRO-3. Rank 0 rolls out three questions, rank 1 none: rank 1 must
keep step (the same generation calls, with dummy prompts, and the same probe forwards) or the collective weight
gathers hang. Each rank writes OUT_DIR/rank<r>.json with its trajectories, probe boundaries and probe values, for the
test to recompute on the unpartitioned model. ``scripts/bench/igpo_zero3_rollouts.py`` times the same driver.
"""

import json
import sys
import types
from pathlib import Path

import deepspeed
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
from transformers.integrations import HfDeepSpeedConfig
from trl.distributed import DistributedBackend
from zero_step import deepspeed_config

from infopo.data.lookup import lookup_corpus, lookup_questions
from infopo.distributed import distributed_run, exit_process, zero3_collectives_active
from infopo.igpo.config import IGPOConfig
from infopo.igpo.environment import SearchEnvironment
from infopo.igpo.probe import answer_tokens
from infopo.igpo.trainer import IGPOTrainer
from infopo.igpo.turns import probe_boundaries


def zero3_rollout_trainer(engine, tokenizer, args: IGPOConfig, environment_factory) -> IGPOTrainer:
    """An IGPOTrainer whose rollout and probe code runs on a DeepSpeed ZeRO-3 ``engine`` (see the module docstring)."""
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    trainer = IGPOTrainer.__new__(IGPOTrainer)
    trainer.args, trainer.model, trainer.model_wrapped = args, engine.module, engine
    trainer.state = types.SimpleNamespace(global_step=0)
    trainer.accelerator = types.SimpleNamespace(
        num_processes=world,
        process_index=rank,
        is_main_process=rank == 0,
        device=torch.device("cpu"),
        unwrap_model=lambda model: getattr(model, "module", model),
        state=types.SimpleNamespace(deepspeed_plugin=types.SimpleNamespace(zero_stage=3)),
    )
    trainer._dist = DistributedBackend(trainer.accelerator)
    trainer.processing_class = trainer._tokenizer = tokenizer
    trainer.use_vllm = trainer.use_transformers_continuous_batching = trainer._is_vlm = trainer.is_deepspeed_enabled = (
        False
    )
    trainer.pad_to_multiple_of, trainer.tools, trainer.environment_factories = None, None, None
    trainer.chat_template, trainer.chat_template_kwargs = None, {}
    trainer.eos_token_ids = [tokenizer.eos_token_id]
    trainer.generation_kwargs = dict(
        max_new_tokens=args.max_completion_length,
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=trainer.eos_token_ids,
    )
    trainer.generation_config = GenerationConfig(**trainer.generation_kwargs, disable_compile=True)
    trainer._tag_factory = environment_factory
    trainer._tag_pool, trainer._inputs, trainer._rollouts, trainer._greedy = [environment_factory()], [], {}, False
    return trainer


def roll_out(trainer: IGPOTrainer, rows: list[dict]) -> dict:
    """IGPO's tag-protocol rollouts of ``rows`` on this rank, their turns and answers (``trainer._rollouts``)."""
    trainer._inputs, trainer._rollouts = rows, {}
    result = trainer._tag_rollout([row["prompt"] for row in rows], trainer)
    trainer._record_rollouts(result["prompt_ids"], result["completion_ids"], result["env_mask"])
    return trainer._rollouts


def main(accelerate_yaml: str, model_dir: str, out_dir: str) -> None:
    deepspeed.init_distributed(dist_backend="gloo")
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    config = deepspeed_config(accelerate_yaml, micro_batch=2, world_size=world)
    keep = HfDeepSpeedConfig(config)  # noqa: F841  (as the Trainer does: transformers sees ZeRO-3)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), config=config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    args = IGPOConfig(
        output_dir=out_dir,
        use_cpu=True,
        bf16=False,
        report_to="none",
        max_turns=3,
        max_turn_tokens=6,
        max_completion_length=64,
        per_device_train_batch_size=2,
        num_generations=2,
    )
    trainer = zero3_rollout_trainer(engine, tokenizer, args, SearchEnvironment.factory(lookup_corpus(), top_k=2))
    questions = lookup_questions(3, seed=4)
    rows = [dict(row) for row in questions] if rank == 0 else []
    torch.manual_seed(rank)
    rollouts = roll_out(trainer, rows)
    probes = trainer._probe(
        list(range(len(rows)))
    )  # every rollout, one-turn ones too: rank 0 probes, rank 1 keeps step
    report = {
        "zero3": zero3_collectives_active(engine.module),
        "trajectories": [p + c for p, c in zip(rollouts["prompt_ids"], rollouts["completion_ids"], strict=True)],
        "boundaries": [
            probe_boundaries(len(p), spans) for p, spans in zip(rollouts["prompt_ids"], rollouts["spans"], strict=True)
        ],
        "answers": [answer_tokens(tokenizer, args.answer_forcing_prefix, row["answer"]) for row in rows],
        "probes": [probes[i].tolist() for i in range(len(rows))],
    }
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    with distributed_run(destroy=torch.distributed.destroy_process_group) as run:  # ends the group on every path
        main(*sys.argv[1:4])
    if run.ended_group:
        exit_process(0)

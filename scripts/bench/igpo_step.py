"""Benchmark: an IGPO step against a GRPO step on the same rollouts, in one run.

Both sides use IGPOTrainer's multi-turn search rollouts (same model, same prompts, the same random seed before each
call, so the same trajectories). GRPO: ``credit: outcome``, TRL's scoring with the outcome reward only (sequence-level
advantages). IGPO: the same plus the packed probe and the turn-level (B, T) advantages. Then one optimizer step on the
batch, the same code for both. On the toy model a third side, ``credit: counterfactual_gain`` (IG-Search's
random-document baseline: one extra probe row per search turn), is timed against the IGPO step. Models: ``toy``, the
tiny kit's Llama at hidden 128 / 4 layers after a short supervised warm start on search demonstrations, so rollouts
search and answer; and the real ``smollm2:135m-instruct`` on the lookup world's conversational prompt that states the
protocol. Untrained, SmolLM2 answers at once (1.0 turns per rollout measured), so the probe would never run: its
rollouts are 2-hop demonstrations replayed through a ``rollout_func`` (three turns, two observations each, tokenized as
rollouts are). There the steps hold no generation, which both sides would share: the ratio is the probe and the
turn-level advantages against TRL's scoring, loss and backward alone, the strictest form of the comparison. Prints
median step times and the median of the per-round ratios (target <= 1.3).

    python scripts/bench/igpo_step.py [--rounds 5] [--models toy smollm2:135m-instruct]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from infopo import InfopoSFTConfig, InfopoSFTTrainer
from infopo.data.lookup import lookup_demonstrations, lookup_questions, lookup_trajectories
from infopo.igpo.config import IGPOConfig
from infopo.igpo.trainer import IGPOTrainer
from infopo.models import resolve_model
from infopo.tiny import build_tiny_model, build_tokenizer

CPU = dict(
    use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True
)


def warm_start(folder: str) -> str:
    build_tokenizer().save_pretrained(folder)
    build_tiny_model(
        "llama",
        seed=0,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
    ).save_pretrained(folder)
    args = InfopoSFTConfig(
        output_dir=os.path.join(folder, "run"),
        max_steps=150,
        per_device_train_batch_size=16,
        learning_rate=3e-3,
        logging_steps=150,
        max_length=96,
        **CPU,
    )
    trainer = InfopoSFTTrainer(model=folder, args=args, train_dataset=lookup_demonstrations(2400))
    trainer.train()
    trainer.save_model(folder)
    return folder


def replay_demonstrations(prompts: list, trainer: IGPOTrainer) -> dict:
    """A ``rollout_func`` that returns each row's demonstration (its ``turns`` and ``observations``) as the rollout:
    the prompt as TRL tokenizes it, every turn and observation tokenized on its own, env_mask 1 on the turns."""
    tokenizer = trainer.processing_class
    completions, masks = [], []
    for row in trainer._inputs:
        ids, mask = [], []
        for turn, observation in zip(row["turns"], row["observations"] + [""], strict=True):
            turn_ids = tokenizer(turn, add_special_tokens=False)["input_ids"]
            observation_ids = tokenizer(observation, add_special_tokens=False)["input_ids"] if observation else []
            ids += turn_ids + observation_ids
            mask += [1] * len(turn_ids) + [0] * len(observation_ids)
        completions.append(ids)
        masks.append(mask)
    prompt_ids = [list(ids) for ids in trainer._tokenize_prompts(prompts)[0]]
    return {"prompt_ids": prompt_ids, "completion_ids": completions, "logprobs": None, "env_mask": masks}


def measure(name: str, rounds: int, folder: str) -> None:
    toy = name == "toy"
    model = warm_start(folder) if toy else resolve_model(name)
    config = IGPOConfig(
        output_dir=os.path.join(folder, "igpo"),
        per_device_train_batch_size=16,
        num_generations=4,
        max_turns=4,
        max_turn_tokens=24,
        max_completion_length=256,
        learning_rate=1e-4,
        logging_steps=1000,
        max_steps=1,
        **CPU,
    )
    if toy:
        questions = lookup_questions(4, seed=7)
        trainer = IGPOTrainer(model=model, args=config, train_dataset=lookup_questions(64, seed=1))
    else:
        questions = lookup_trajectories(4, seed=7, conversational=True, two_hop_share=1.0)
        trainer = IGPOTrainer(
            model=model,
            args=config,
            rollout_func=replay_demonstrations,
            train_dataset=lookup_trajectories(64, seed=1, conversational=True),
        )
    trainer.create_optimizer_and_scheduler(num_training_steps=100)
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, read by the loss
    inputs = [questions[i // 4] for i in range(16)]

    def step(credit: str):
        trainer.args.credit = credit  # outcome: TRL's GRPO advantages on the same rollouts, no probe
        return trainer._generate_and_score_completions(inputs)

    sides = {"grpo": lambda: step("outcome"), "igpo": lambda: step("info_gain")}
    if toy:  # its tag loop searches a local corpus: the counterfactual's random documents come from it
        sides["counterfactual"] = lambda: step("counterfactual_gain")
    times = {side: [] for side in sides}
    trainer.model.train()
    for round_index in range(rounds):
        order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
        for side in order:
            torch.manual_seed(round_index)
            started = time.perf_counter()
            batch = sides[side]()
            loss = trainer.compute_loss(trainer.model, batch)
            loss.backward()
            trainer.optimizer.zero_grad()  # measure the update's cost without changing the weights
            times[side].append(time.perf_counter() - started)
        turns = sum(len(s) for s in trainer._rollouts["spans"]) / 16
        print(
            f"{name} round {round_index + 1}: "
            + ", ".join(f"{side} {values[-1]:.2f} s" for side, values in times.items())
            + f" ({turns:.1f} turns per rollout)",
            flush=True,
        )

    def ratio(side: str, base: str) -> float:
        return statistics.median(a / b for a, b in zip(times[side], times[base], strict=True))

    grpo, igpo = statistics.median(times["grpo"]), statistics.median(times["igpo"])
    print(
        f"{name}: GRPO step (same rollouts) {grpo:.2f} s, IGPO step {igpo:.2f} s; ratio {ratio('igpo', 'grpo'):.3f} "
        "(median of the per-round ratios; target <= 1.3)",
        flush=True,
    )
    if "counterfactual" in times:
        print(
            f"{name}: IGPO step with the counterfactual gain {statistics.median(times['counterfactual']):.2f} s; "
            f"{ratio('counterfactual', 'igpo'):.3f}x the IGPO step, {ratio('counterfactual', 'grpo'):.3f}x GRPO's",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["toy", "smollm2:135m-instruct"])
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    for name in args.models:
        with tempfile.TemporaryDirectory() as folder:
            measure(name, args.rounds, folder)


if __name__ == "__main__":
    main()

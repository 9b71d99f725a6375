"""Benchmark: GAIN-RL's two costs, each against the baseline it replaces, measured in one run.

    python scripts/bench/gainrl_overhead.py [--rounds 7] [--models toy smollm2:135m-instruct]

1. Online angle: a GRPO training step (forward + backward + optimizer step) on the same generated batch with the
   angle hooks recording (GAIN-RL on) and not recording (plain GRPO), 16 rollouts of 48 completion tokens. Models:
   ``toy`` (a Qwen2 of hidden 256 / 4 layers) and the real ``smollm2:135m-instruct`` (30 layers; conversational
   prompts through its chat template). Target: ratio <= 1.05.
2. Offline scoring: ``score_prompts`` (stops at the last layer's MLP input: no last MLP, norm or LM head) against a
   full forward with ``output_hidden_states`` (what the official code runs) over the same 256 prompts and batches.
   Models: the Qwen2.5-0.5B shape cut to 6 layers (vocabulary 151,936: the LM head dominates), the same with a
   1,024-token vocabulary (the layers dominate), and the real SmolLM2-135M-Instruct (30 layers, vocabulary 49,152).
   Target: >= 1.2x faster.

Each side's time is the median over rounds; the ratio is the median of per-round ratios (sides alternate within a
round, so machine load hits both).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer
from infopo.data.synthetic import arithmetic_prompts
from infopo.gainrl.scoring import prompt_token_masks, score_prompts
from infopo.models import resolve_model
from infopo.rewards import answer_match
from infopo.tiny import build_tiny_model, build_tokenizer

CPU = dict(
    use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True
)


def paired(sides: dict, rounds: int) -> tuple[dict, float]:
    """Median time of each side and the median of per-round ratios (second side / first side)."""
    times = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    first, second = list(sides)
    ratios = [b / a for a, b in zip(times[first], times[second], strict=True)]
    return {name: statistics.median(values) for name, values in times.items()}, statistics.median(ratios)


def online_overhead(name: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        if name == "toy":
            model = folder
            build_tokenizer().save_pretrained(folder)
            build_tiny_model(
                "qwen2",
                seed=0,
                hidden_size=256,
                intermediate_size=1024,
                num_hidden_layers=4,
                num_attention_heads=4,
                num_key_value_heads=2,
            ).save_pretrained(folder)
        else:
            model = resolve_model(name)
        chat = name != "toy"
        config = InfopoGRPOConfig(
            output_dir=os.path.join(folder, "run"),
            per_device_train_batch_size=16,
            num_generations=4,
            max_completion_length=48,
            learning_rate=1e-5,
            max_steps=1,
            gainrl_samples_per_epoch=16,
            **CPU,
        )
        trainer = InfopoGRPOTrainer(
            model=model,
            reward_funcs=[answer_match],
            args=config,
            train_dataset=arithmetic_prompts(64, seed=0, conversational=chat),
        )
        trainer.create_optimizer_and_scheduler(num_training_steps=100)
        trainer.current_gradient_accumulation_steps = 1
        prompts = arithmetic_prompts(4, seed=1, conversational=chat)
        torch.manual_seed(0)
        batch = trainer._generate_and_score_completions([prompts[i // 4] for i in range(16)])
        original = trainer._gainrl_recording_on

        def step(record: bool):
            trainer._gainrl_recording_on = original if record else _no_recording
            trainer.compute_loss(trainer.model, batch).backward()
            trainer.optimizer.step()
            trainer.optimizer.zero_grad()

        step(True), step(False)  # warm-up
        medians, ratio = paired({"grpo": lambda: step(False), "grpo+angle": lambda: step(True)}, rounds)
        trainer._gainrl_recording_on = original
        print(
            f"online angle ({name}): GRPO step {medians['grpo'] * 1e3:.1f} ms, with the angle "
            f"{medians['grpo+angle'] * 1e3:.1f} ms; ratio {ratio:.3f} (target <= 1.05)",
            flush=True,
        )


class _no_recording:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def full_forward_hidden(model, tokenizer, prompts, batch_size):
    """The baseline: the same length-sorted, right-padded batches through the whole model with all hidden states."""
    encoded = [prompt_token_masks(tokenizer, p)[0] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    with torch.no_grad():
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            width = max(len(encoded[i]) for i in rows)
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for slot, i in enumerate(rows):
                ids[slot, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[slot, : len(encoded[i])] = 1
            model(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False)


def offline_speed(rounds: int, models: list[str]) -> None:
    prompts = list(arithmetic_prompts(256, seed=3, conversational=True)["prompt"])
    shape = dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=6,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    candidates = []
    if "toy" in models:
        candidates += [
            (
                f"Qwen2.5-0.5B shape, 6 layers, vocab {vocab}",
                lambda vocab=vocab: (build_tiny_model("qwen2", seed=0, vocab_size=vocab, **shape), build_tokenizer()),
            )
            for vocab in (151936, 1024)
        ]
    candidates += [
        (
            f"{name}, 30 layers, vocab 49152",
            lambda name=name: (
                AutoModelForCausalLM.from_pretrained(resolve_model(name)),
                AutoTokenizer.from_pretrained(resolve_model(name)),
            ),
        )
        for name in models
        if name != "toy"
    ]
    for label, load in candidates:
        model, tokenizer = load()
        model.eval()
        sides = {
            "full": functools.partial(full_forward_hidden, model, tokenizer, prompts, 32),
            "score": functools.partial(score_prompts, model, tokenizer, prompts, batch_size=32),
        }
        sides["full"]()
        medians, ratio = paired(sides, rounds)
        print(
            f"offline scoring ({label}): full forward {medians['full']:.2f} s, score_prompts {medians['score']:.2f} s "
            f"for {len(prompts)} prompts; speed-up {1 / ratio:.2f}x (target >= 1.2)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models", nargs="+", default=["toy", "smollm2:135m-instruct"])
    args = parser.parse_args()
    for name in args.models:
        online_overhead(name, args.rounds)
    offline_speed(args.rounds, args.models)


if __name__ == "__main__":
    main()

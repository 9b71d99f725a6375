"""Benchmark: step time of DIDDPOTrainer against TRL's DPOTrainer on the same model and data, in one run per model.

    python scripts/bench/did_overhead.py [--models toy smollm2:135m-instruct]

Models: ``toy``, the tiny kit's Qwen2 at a larger size (hidden 256, 4 layers), on synthetic preference pairs (9 rounds
of 20 steps); ``smollm2:135m-instruct``, the real chat model (Q4_1 GGUF dequantized), on the same pairs in the
conversational format through its chat template (3 rounds of 6 steps). Each round trains a fresh TRL DPOTrainer
and a fresh DIDDPOTrainer for the same steps (alternating which goes first) and times the steps after the first
(warm-up). Prints the median step time of each and the median of the per-round ratios (paired within a round, so
drifts in machine speed cancel; target <= 1.03), then the cost of one DID entropy estimate per call for the
configured prompts and K, separately.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from transformers import TrainerCallback
from trl import DPOConfig, DPOTrainer

from infopo.data import arithmetic_preference
from infopo.did.config import DIDDPOConfig
from infopo.did.trainer import DIDDPOTrainer
from infopo.models import resolve_model
from infopo.tiny import build_tiny_model, build_tokenizer

SIZES = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4)
ROUNDS_AND_STEPS = {"toy": (9, 20)}
"""Rounds and steps per round; a real model gets 3 rounds of 6 steps (its steps are seconds, not milliseconds)."""


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times, self._start = [], None

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self._start)


def run(trainer_class, config_class, model_dir, data, steps, output_dir, **fields):
    args = config_class(
        output_dir=output_dir,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        logging_steps=steps + 1,
        max_steps=steps,
        per_device_train_batch_size=8,
        learning_rate=1e-4,
        seed=0,
        **fields,
    )
    timer = StepTimer()
    trainer = trainer_class(model=model_dir, args=args, train_dataset=data, callbacks=[timer])
    trainer.train()
    return timer.times[1:], trainer


def measure(name: str, args, folder: str) -> None:
    if name == "toy":
        model = f"{folder}/toy"
        build_tokenizer().save_pretrained(model)
        build_tiny_model("qwen2", seed=0, **SIZES).save_pretrained(model)
    else:
        model = resolve_model(name)
    rounds, steps = ROUNDS_AND_STEPS.get(name, (3, 6))
    data = arithmetic_preference(steps * 8, seed=0, conversational=name != "toy")
    times = {"trl": [], "did": []}
    for round_index in range(rounds):
        order = ("trl", "did") if round_index % 2 == 0 else ("did", "trl")
        for side in order:
            trainer_class, config_class = (DPOTrainer, DPOConfig) if side == "trl" else (DIDDPOTrainer, DIDDPOConfig)
            step_times, _ = run(trainer_class, config_class, model, data, steps, f"{folder}/{side}")
            times[side].append(statistics.median(step_times))
    trl_step, did_step = statistics.median(times["trl"]), statistics.median(times["did"])
    paired = statistics.median(d / t for d, t in zip(times["did"], times["trl"], strict=True))
    print(
        f"{name}: TRL DPOTrainer {trl_step * 1000:.1f} ms/step, DIDDPOTrainer {did_step * 1000:.1f} ms/step "
        f"(medians of {rounds} rounds x {steps} steps); step-time ratio {paired:.3f} (median of the per-round ratios; "
        "target <= 1.03)",
        flush=True,
    )
    _, trainer = run(
        DIDDPOTrainer,
        DIDDPOConfig,
        model,
        data,
        2,
        f"{folder}/entropy",
        did_entropy_steps=1000,
        did_entropy_prompts=args.entropy_prompts,
        did_entropy_k=args.entropy_k,
        did_entropy_max_new_tokens=args.entropy_tokens,
    )
    costs = []
    for _ in range(3):
        started = time.perf_counter()
        trainer.estimate_did_entropy()
        costs.append(time.perf_counter() - started)
    print(
        f"{name}: DID entropy estimate {statistics.median(costs):.2f} s per call ({args.entropy_prompts} prompts x "
        f"K={args.entropy_k}, up to {args.entropy_tokens} new tokens) = "
        f"{statistics.median(costs) / did_step:.0f} training steps",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["toy", "smollm2:135m-instruct"])
    parser.add_argument("--entropy_prompts", type=int, default=4)
    parser.add_argument("--entropy_k", type=int, default=16)
    parser.add_argument("--entropy_tokens", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            measure(name, args, folder)


if __name__ == "__main__":
    main()

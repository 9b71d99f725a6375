"""Reproduction in miniature: GAIN-RL's angle-ordered schedule against uniform sampling and length ordering
(arXiv 2506.02281 claims over 2.5x fewer steps to a given accuracy than vanilla GRPO).

Protocol:
1. Warm start: a 1.1M-parameter Llama (tiny kit, hidden 128, 4 layers) is fine-tuned with InfopoSFTTrainer on
   arithmetic statements (sums and differences up to 20, products up to 9 x 9: mixed difficulty), so GRPO starts from
   a policy that is right some of the time.
2. From that warm start, per seed, three arms train with InfopoGRPOTrainer on the same 512 prompts (reward:
   answer_match), same steps, same rollouts per step (4 prompts x 8):
   - uniform: TRL's sampler (a shuffled pass over the data);
   - GAIN-RL: prompts ranked by the warm start's angle score, M = 64 per epoch, mu moved by accuracy and angle;
   - length: the same schedule with prompts ranked by token length (shortest first), the spec's baseline.
3. Every ``eval_every`` steps: accuracy (exact result) of 4 completions per prompt sampled at temperature 1 (the
   policy GRPO trains; greedy accuracy of this model barely moves in 160 steps) on 256 held-out prompts.
Also reported: the Spearman correlation between the angle score and prompt length.

    python scripts/repro/gainrl_efficiency.py [--seeds 0 1 2] [--steps 160] [--out docs/repro]

Writes gainrl_efficiency.md, .json and .png. The outcome is whatever the run gives.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch
from transformers import AutoTokenizer, TrainerCallback

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer, InfopoSFTConfig, InfopoSFTTrainer
from infopo.data.synthetic import arithmetic_prompts, arithmetic_sft
from infopo.gainrl.scoring import score_prompts, spearman
from infopo.rewards import answer_match
from infopo.tiny import build_tiny_model, build_tokenizer
from curves import start_and_target, write_report

CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True)
SIZES = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4)
ARMS = {"uniform": None, "GAIN-RL": "angle", "length": "length"}


def warm_start(folder: str, steps: int) -> str:
    build_tokenizer().save_pretrained(folder)
    build_tiny_model("llama", seed=0, **SIZES).save_pretrained(folder)
    args = InfopoSFTConfig(output_dir=os.path.join(folder, "run"), max_steps=steps, per_device_train_batch_size=32,
                           learning_rate=2e-3, lr_scheduler_type="cosine", logging_steps=steps, max_length=64, **CPU)
    trainer = InfopoSFTTrainer(model=folder, args=args, train_dataset=arithmetic_sft(steps * 32, seed=5))
    trainer.train()
    trainer.save_model(folder)
    return folder


SAMPLES = 4


@torch.no_grad()
def accuracy(model, tokenizer, prompts) -> float:
    """Exact-result accuracy (answer_match == 1) of SAMPLES completions per prompt sampled at temperature 1, the
    policy GRPO trains (a fixed seed, so every evaluation draws alike)."""
    model.eval()
    tokenizer.padding_side = "left"
    correct = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        for start in range(0, len(prompts), 64):
            batch = prompts.select(range(start, min(start + 64, len(prompts))))
            encoded = tokenizer(list(batch["prompt"]), return_tensors="pt", padding=True, add_special_tokens=False)
            output = model.generate(**encoded, max_new_tokens=8, do_sample=True, temperature=1.0, top_k=0,
                                    num_return_sequences=SAMPLES, pad_token_id=tokenizer.pad_token_id,
                                    eos_token_id=tokenizer.eos_token_id)
            texts = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
            answers = [answer for answer in batch["answer"] for _ in range(SAMPLES)]
            correct += sum(r == 1.0 for r in answer_match(texts, answers))
    model.train()
    return correct / (len(prompts) * SAMPLES)


class Curve(TrainerCallback):
    def __init__(self, every, tokenizer, prompts):
        self.every, self.tokenizer, self.prompts, self.points = every, tokenizer, prompts, []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            self.points.append((state.global_step, accuracy(model, self.tokenizer, self.prompts)))


def run_arm(order, model, seed, steps, eval_every, work, train, evaluation, tokenizer) -> list:
    fields = dict(output_dir=os.path.join(work, f"{order}-{seed}"), seed=seed, per_device_train_batch_size=32,
                  num_generations=8, max_completion_length=8, learning_rate=1e-4, max_steps=steps,
                  logging_steps=eval_every, beta=0.0, **CPU)
    if order is not None:
        fields.update(gainrl_samples_per_epoch=64, gainrl_order=order, gainrl_success_threshold=0.5)
    torch.manual_seed(seed)
    curve = Curve(eval_every, tokenizer, evaluation)
    trainer = InfopoGRPOTrainer(model=model, reward_funcs=[answer_match], args=InfopoGRPOConfig(**fields),
                                train_dataset=train, callbacks=[curve])
    curve.points.append((0, accuracy(trainer.model, tokenizer, evaluation)))
    trainer.train()
    return curve.points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--warm_steps", type=int, default=300)
    parser.add_argument("--steps", type=int, default=160)
    parser.add_argument("--eval_every", type=int, default=32)
    parser.add_argument("--gain", type=float, default=0.015, help="target: warm-start accuracy + this")
    parser.add_argument("--out", default="docs/repro")
    parser.add_argument("--report_only", action="store_true", help="rebuild the report from the saved JSON")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        report(json.loads((out / "gainrl_efficiency.json").read_text()), args, out)
        return
    train, evaluation = arithmetic_prompts(512, seed=100), arithmetic_prompts(256, seed=999)
    curves: dict[str, list] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as work:
        model = warm_start(os.path.join(work, "warm"), args.warm_steps)
        tokenizer = AutoTokenizer.from_pretrained(model)
        from transformers import AutoModelForCausalLM

        scored = score_prompts(AutoModelForCausalLM.from_pretrained(model).eval(), tokenizer, list(train["prompt"]))
        correlation = spearman(scored["scores"], scored["lengths"])
        for seed in args.seeds:
            for arm, order in ARMS.items():
                curve = run_arm(order, model, seed, args.steps, args.eval_every, work, train, evaluation, tokenizer)
                curves[arm].append(curve)
                print(f"seed {seed} {arm}: " + ", ".join(f"{s}:{a:.3f}" for s, a in curve), flush=True)

    report({"curves": curves, "spearman_score_length": correlation}, args, out)


def report(result: dict, args, out: Path) -> None:
    """gainrl_efficiency.md, .json and .png (``--report_only`` rebuilds them from the JSON)."""
    curves = result["curves"]
    start, target = start_and_target(curves, args.gain)
    intro = (f"Warm start: {args.warm_steps} SFT steps; accuracy at step 0: {start:.3f}. GRPO: {args.steps} steps x 32 "
             f"rollouts (4 prompts x 8) from 512 prompts; seeds {args.seeds}; evaluation: exact accuracy of 4 samples "
             f"(temperature 1) per prompt on 256 held-out prompts. Target for 'steps to target': {target:.3f} (start + "
             f"{args.gain:g}). Spearman correlation of the angle score with prompt length: "
             f"{result['spearman_score_length']:+.3f}.")
    write_report(out, "gainrl_efficiency", "GAIN-RL vs uniform sampling vs length ordering (miniature)", intro, curves,
                 {**result, "target": target}, value_name="acc", xlabel="GRPO step",
                 ylabel="held-out sampled accuracy", target=target)


if __name__ == "__main__":
    main()

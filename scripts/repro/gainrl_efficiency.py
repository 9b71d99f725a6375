"""Reproduction in miniature: GAIN-RL's angle-ordered schedule against uniform sampling and length ordering
(arXiv 2506.02281 claims over 2.5x fewer steps to a given accuracy than vanilla GRPO), from a weak and a medium start.

Protocol:
1. Warm start: a 1.1M-parameter Llama (tiny kit, hidden 128, 4 layers) is fine-tuned with InfopoSFTTrainer on
   arithmetic statements, so GRPO starts from a policy that is right some of the time. Two starts:
   - weak: 300 steps on sums and differences up to 20 and products up to 9 x 9 (sampled accuracy about 0.1);
   - medium: the same problems, 1000 steps (sampled accuracy about 0.4, in the 0.3-0.6 band; 600 steps on easier
     problems, operands up to 10 and products up to 5 x 5, overshot to 0.81, 350 steps of those gave 0.37).
2. From each warm start, per seed, the arms (``--arms``) train with InfopoGRPOTrainer on the same 512 prompts of its
   task (reward: answer_match), same steps, same rollouts per step (4 prompts x 8):
   - uniform: TRL's sampler (a shuffled pass over the data);
   - authors: prompts ranked by the warm start's angle score, M = 64 per epoch, mu moved by accuracy against the fixed
     target 0.5 and by the angle (the authors' rule);
   - running: the same ranking and update, against the policy's own running accuracy (``gainrl_target: running``);
   - length: prompts ranked by token length (shortest first), the spec's baseline, with the running target;
   - answer_logprob: prompts ranked by the policy's mean log-prob of the right answer after " the answer is " (at
     start-up), the same schedule with the running target;
   - learnability: each epoch the 64 prompts of highest predicted success variance under each prompt's Beta
     posterior (uniform prior), a quarter of them the least-tried, predicted zero-variance prompts skipped.
3. Every ``eval_every`` steps: accuracy (exact result) of 4 completions per prompt sampled at temperature 1 (the
   policy GRPO trains) on 256 held-out prompts of the start's task.
Also reported: the Spearman correlation between the angle score and prompt length, where mu ended, and per arm the mean
fraction of zero-variance groups (TRL's ``frac_reward_zero_std``) and the training wall time (evaluation excluded):
generation is the cost a skipped prompt saves.

    python scripts/repro/gainrl_efficiency.py [--starts weak medium] [--seeds 0 1 2] [--steps 160] [--arms ...]
        [--out docs/repro]

Writes gainrl_efficiency_<start>.md, .json and .png. The outcome is whatever the run gives.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from curves import start_and_target, write_report
from datasets import Dataset
from transformers import AutoTokenizer, TrainerCallback

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer, InfopoSFTConfig, InfopoSFTTrainer
from infopo.gainrl.scoring import score_prompts, spearman
from infopo.rewards import answer_match
from infopo.tiny import build_tiny_model, build_tokenizer

CPU = dict(
    use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True
)
SIZES = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4)
ARMS = {
    "uniform": None,
    "authors": ("angle", "fixed"),
    "running": ("angle", "running"),
    "length": ("length", "running"),
    "answer_logprob": ("answer_logprob", "running"),
    "learnability": ("learnability", "fixed"),
}
"""Arm -> (order, accuracy target) of the GAIN-RL sampler; None: TRL's uniform sampler (learnability has no target)."""
ANSWER_PREFIX = " the answer is "
"""How the warm start's completions state the result: the answer log-prob is scored after it."""
STARTS = {
    "weak": dict(warm_steps=300, operand_max=20, product_max=9, gain=0.015),
    "medium": dict(warm_steps=1000, operand_max=20, product_max=9, gain=0.03),
}
"""Warm-start SFT steps, problem sizes and the accuracy gain that defines 'steps to target', per start."""


def problems(num_rows: int, seed: int, operand_max: int, product_max: int, sft: bool) -> Dataset:
    """Arithmetic rows in the synthetic kit's format (prompt/answer, or prompt/completion for SFT) with operand
    limits: sums and differences up to ``operand_max``, products up to ``product_max`` x ``product_max``."""
    rng = random.Random(seed)
    rows = []
    for _ in range(num_rows):
        op = rng.choice(("plus", "minus", "times"))
        limit = product_max if op == "times" else operand_max
        a, b = rng.randint(0, limit), rng.randint(0, limit)
        if op == "minus" and b > a:
            a, b = b, a
        result = {"plus": a + b, "minus": a - b, "times": a * b}[op]
        question = f"what is {a} {op} {b}?"
        rows.append(
            {"prompt": question, "completion": f" the answer is {result}."}
            if sft
            else {"prompt": question, "answer": str(result)}
        )
    return Dataset.from_list(rows)


def warm_start(folder: str, steps: int, operand_max: int, product_max: int) -> str:
    build_tokenizer().save_pretrained(folder)
    build_tiny_model("llama", seed=0, **SIZES).save_pretrained(folder)
    args = InfopoSFTConfig(
        output_dir=os.path.join(folder, "run"),
        max_steps=steps,
        per_device_train_batch_size=32,
        learning_rate=2e-3,
        lr_scheduler_type="cosine",
        logging_steps=steps,
        max_length=64,
        **CPU,
    )
    data = problems(steps * 32, 5, operand_max, product_max, sft=True)
    trainer = InfopoSFTTrainer(model=folder, args=args, train_dataset=data)
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
            output = model.generate(
                **encoded,
                max_new_tokens=8,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                num_return_sequences=SAMPLES,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            texts = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
            answers = [answer for answer in batch["answer"] for _ in range(SAMPLES)]
            correct += sum(r == 1.0 for r in answer_match(texts, answers))
    model.train()
    return correct / (len(prompts) * SAMPLES)


class Curve(TrainerCallback):
    def __init__(self, every, tokenizer, prompts):
        self.every, self.tokenizer, self.prompts, self.points, self.seconds = every, tokenizer, prompts, [], 0.0

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            started = time.perf_counter()
            self.points.append((state.global_step, accuracy(model, self.tokenizer, self.prompts)))
            self.seconds += time.perf_counter() - started


def grpo_fields(output_dir: str, seed: int, steps: int, logging_steps: int) -> dict:
    """The GRPO settings every arm shares (4 prompts x 8 rollouts per step, learning rate 1e-4, no KL term)."""
    return dict(
        output_dir=output_dir,
        seed=seed,
        per_device_train_batch_size=32,
        num_generations=8,
        max_completion_length=8,
        learning_rate=1e-4,
        max_steps=steps,
        logging_steps=logging_steps,
        beta=0.0,
        **CPU,
    )


def run_arm(arm, model, seed, steps, eval_every, work, train, evaluation, tokenizer) -> tuple[list, float | None, dict]:
    """The arm's accuracy curve, for GAIN-RL arms the final centre mu, and its cost: the mean fraction of groups with
    zero reward variance and the training seconds without the evaluations."""
    fields = grpo_fields(os.path.join(work, f"{arm}-{seed}"), seed, steps, logging_steps=eval_every)
    if ARMS[arm] is not None:
        order, target = ARMS[arm]
        fields.update(
            gainrl_samples_per_epoch=64,
            gainrl_order=order,
            gainrl_target=target,
            gainrl_success_threshold=0.5,
            gainrl_answer_prefix=ANSWER_PREFIX,
        )
    torch.manual_seed(seed)
    curve = Curve(eval_every, tokenizer, evaluation)
    trainer = InfopoGRPOTrainer(
        model=model,
        reward_funcs=[answer_match],
        args=InfopoGRPOConfig(**fields),
        train_dataset=train,
        callbacks=[curve],
    )
    curve.points.append((0, accuracy(trainer.model, tokenizer, evaluation)))
    curve.seconds = 0.0
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started - curve.seconds
    zero = [h["frac_reward_zero_std"] for h in trainer.state.log_history if "frac_reward_zero_std" in h]
    cost = {"zero_std": sum(zero) / len(zero), "train_s": seconds}
    mu = trainer.gainrl_state.mu if trainer.gainrl_state is not None and order_of(arm) != "learnability" else None
    return curve.points, mu, cost


def order_of(arm: str) -> str | None:
    return ARMS[arm][0] if ARMS[arm] is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", nargs="+", default=list(STARTS), choices=list(STARTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=160)
    parser.add_argument("--eval_every", type=int, default=32)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--out", default="docs/repro")
    parser.add_argument("--report_only", action="store_true", help="rebuild the reports from the saved JSON")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for start in args.starts:
        name = f"gainrl_efficiency_{start}"
        if args.report_only:
            report(json.loads((out / f"{name}.json").read_text()), start, args, out)
            continue
        settings = STARTS[start]
        limits = dict(operand_max=settings["operand_max"], product_max=settings["product_max"])
        train, evaluation = problems(512, 100, **limits, sft=False), problems(256, 999, **limits, sft=False)
        curves: dict[str, list] = {arm: [] for arm in args.arms}
        centres: dict[str, list] = {arm: [] for arm in args.arms if order_of(arm) not in (None, "learnability")}
        costs: dict[str, list] = {arm: [] for arm in args.arms}
        with tempfile.TemporaryDirectory() as work:
            model = warm_start(os.path.join(work, "warm"), settings["warm_steps"], **limits)
            tokenizer = AutoTokenizer.from_pretrained(model)
            from transformers import AutoModelForCausalLM

            scored = score_prompts(AutoModelForCausalLM.from_pretrained(model).eval(), tokenizer, list(train["prompt"]))
            correlation = spearman(scored["scores"], scored["lengths"])
            for seed in args.seeds:
                for arm in args.arms:
                    curve, mu, cost = run_arm(
                        arm, model, seed, args.steps, args.eval_every, work, train, evaluation, tokenizer
                    )
                    curves[arm].append(curve)
                    costs[arm].append(cost)
                    if mu is not None:
                        centres[arm].append(mu)
                    print(
                        f"{start} seed {seed} {arm}: "
                        + ", ".join(f"{s}:{a:.3f}" for s, a in curve)
                        + ("" if mu is None else f"; final mu {mu:.0f}")
                        + f"; zero-variance groups {cost['zero_std']:.2f}, {cost['train_s']:.0f} s",
                        flush=True,
                    )
        report(
            {"curves": curves, "final_mu": centres, "costs": costs, "spearman_score_length": correlation},
            start,
            args,
            out,
        )


def report(result: dict, start: str, args, out: Path) -> None:
    """gainrl_efficiency_<start>.md, .json and .png (``--report_only`` rebuilds them from the JSON)."""
    settings, curves = STARTS[start], result["curves"]
    begin, target = start_and_target(curves, settings["gain"])
    centres = "; ".join(
        f"{arm} {', '.join(f'{mu:.0f}' for mu in values)}" for arm, values in result["final_mu"].items()
    )
    intro = (
        f"Start **{start}**: {settings['warm_steps']} SFT steps on sums and differences up to "
        f"{settings['operand_max']} and products up to {settings['product_max']} x {settings['product_max']}; "
        f"accuracy at step 0: {begin:.3f}. GRPO: {args.steps} steps x 32 rollouts (4 prompts x 8) from 512 "
        f"prompts; seeds {args.seeds}; evaluation: exact accuracy of 4 samples (temperature 1) per prompt on 256 "
        f"held-out prompts. Target for 'steps to target': {target:.3f} (start + {settings['gain']:g}). Final mu "
        f"(rank of the Gaussian's centre, of 512) per seed: {centres}. Spearman correlation of the angle score "
        f"with prompt length: {result['spearman_score_length']:+.3f}."
    )
    costs = result.get("costs", {})
    extra = [
        "",
        "| arm | zero-variance groups (mean over steps) | training time, evaluation excluded |",
        "| --- | --- | --- |",
    ] + [
        f"| {arm} | {statistics.mean(c['zero_std'] for c in values):.2f} | "
        f"{statistics.mean(c['train_s'] for c in values):.0f} s |"
        for arm, values in costs.items()
        if values
    ]
    write_report(
        out,
        f"gainrl_efficiency_{start}",
        f"GAIN-RL schedules vs uniform sampling vs length ordering, {start} start (miniature)",
        intro,
        curves,
        {**result, "target": target},
        value_name="acc",
        xlabel="GRPO step",
        ylabel="held-out sampled accuracy",
        target=target,
        extra=extra if costs else (),
    )


if __name__ == "__main__":
    main()

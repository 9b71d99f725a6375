"""Reproduction in miniature: does KappaTune forget less than other ways of fine-tuning?

Paper claim (arXiv 2506.16289, and peft's KappaTune example): fine-tuning only the lowest-condition-number tensors
keeps more of what the base model knew than LoRA on all projections or full fine-tuning; the highest-kappa control
forgets more.

Protocol, per seed:
1. Pre-train a small Qwen2 model (tiny kit, larger sizes) on task A (arithmetic) until it is good at it.
2. Fine-tune copies on task B (word reversal) with InfopoSFTTrainer under five arms:
   kappa-lowest (KappaTune), kappa-highest (the control), random tensors (same count), LoRA on all linear layers,
   full fine-tuning. The three selective arms train the same number of tensors (top 25%).
3. Every few steps evaluate the loss on held-out A and B. Forgetting is compared at matched task-B loss: the
   largest final B loss over arms is the target; each arm's A loss is read (interpolated) where its B loss first
   reaches it.

    python scripts/repro/kappa_forgetting.py [--seeds 0 1 2] [--out docs/repro]

Writes kappa_forgetting.md (the table) and kappa_forgetting.png. The outcome is whatever the run gives.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import tempfile
from pathlib import Path

import numpy as np

from infopo.configs import InfopoSFTConfig
from infopo.data import arithmetic_sft, reversal_sft
from infopo.kappa import eligible_parameters, export_unfrozen_yaml
from infopo.tiny import build_tiny_model, build_tokenizer
from infopo.trainers import InfopoSFTTrainer

SIZES = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2)
BUDGET = 0.25
ARMS = ("kappa-lowest", "kappa-highest", "random", "lora-all", "full")
CPU = dict(
    use_cpu=True,
    bf16=False,
    gradient_checkpointing=False,
    report_to="none",
    save_strategy="no",
    disable_tqdm=True,
    max_length=48,
    per_device_eval_batch_size=64,
)


def pretrain(folder: Path, seed: int, steps: int) -> Path:
    """A small model trained on task A (arithmetic) and saved to ``folder``."""
    build_tokenizer().save_pretrained(folder)
    build_tiny_model("qwen2", seed=seed, **SIZES).save_pretrained(folder)
    args = InfopoSFTConfig(
        output_dir=str(folder / "run"),
        seed=seed,
        learning_rate=3e-3,
        max_steps=steps,
        per_device_train_batch_size=32,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        logging_steps=steps,
        **CPU,
    )
    trainer = InfopoSFTTrainer(model=str(folder), args=args, train_dataset=arithmetic_sft(4096, seed=1000 + seed))
    trainer.train()
    trainer.save_model(str(folder))
    return folder


def arm_settings(arm: str, base: Path, seed: int, work: Path) -> tuple[dict, object]:
    """Config fields and peft config of one arm."""
    from peft import LoraConfig

    if arm == "kappa-lowest":
        return {"kappa_top_p": BUDGET}, None
    if arm == "kappa-highest":
        return {"kappa_top_p": BUDGET, "kappa_lowest": False}, None
    if arm == "random":
        from transformers import AutoModelForCausalLM

        names = [name for name, _ in eligible_parameters(AutoModelForCausalLM.from_pretrained(base))]
        chosen = random.Random(seed).sample(names, max(1, int(len(names) * BUDGET)))
        return {"kappa_unfrozen_yaml": str(export_unfrozen_yaml(chosen, work / f"random-{seed}.yaml"))}, None
    if arm == "lora-all":
        return {}, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    return {}, None


def fine_tune(
    arm: str, base: Path, seed: int, steps: int, eval_every: int, work: Path, lr: float, lora_lr: float
) -> dict:
    """Train one arm on task B; returns its (step, A loss, B loss) trajectory and trainable parameter count."""
    fields, peft_config = arm_settings(arm, base, seed, work)
    args = InfopoSFTConfig(
        output_dir=str(work / arm),
        seed=seed,
        learning_rate=lora_lr if arm == "lora-all" else lr,
        max_steps=steps,
        per_device_train_batch_size=32,
        eval_strategy="steps",
        eval_steps=eval_every,
        logging_steps=eval_every,
        **CPU,
        **fields,
    )
    evals = {"A": arithmetic_sft(256, seed=2000 + seed), "B": reversal_sft(256, seed=3000 + seed)}
    trainer = InfopoSFTTrainer(
        model=str(base),
        args=args,
        train_dataset=reversal_sft(4096, seed=4000 + seed),
        eval_dataset=evals,
        peft_config=peft_config,
    )
    start = trainer.evaluate()
    trainer.train()
    history = [(0, start["eval_A_loss"], start["eval_B_loss"])]
    by_step: dict[int, dict] = {}
    for entry in trainer.state.log_history:
        if "eval_A_loss" in entry or "eval_B_loss" in entry:
            by_step.setdefault(entry["step"], {}).update(entry)
    history += [(step, e["eval_A_loss"], e["eval_B_loss"]) for step, e in sorted(by_step.items()) if step > 0]
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {"history": history, "trainable": trainable}


def a_loss_at(history: list[tuple], target_b: float) -> float:
    """Task-A loss where the B loss first reaches ``target_b`` (linear interpolation between evaluations)."""
    for (_, a0, b0), (_, a1, b1) in itertools.pairwise(history):
        if b1 <= target_b:
            if b0 <= target_b or b0 == b1:
                return a1
            weight = (b0 - target_b) / (b0 - b1)
            return a0 + weight * (a1 - a0)
    return history[-1][1]


def report(results: dict, base_a: dict, out: Path) -> str:
    """The markdown table and the PNG: A loss at matched B loss per arm, mean and std over seeds."""
    seeds = sorted(base_a)
    rows = [
        "| arm | trainable params | task-A loss at matched task-B loss | increase over base model |",
        "| --- | --- | --- | --- |",
    ]
    summary = {}
    for arm in ARMS:
        at_target, increase = [], []
        for seed in seeds:
            target = max(min(b for _, _, b in results[seed][a]["history"]) for a in ARMS)
            value = a_loss_at(results[seed][arm]["history"], target)
            at_target.append(value)
            increase.append(value - base_a[seed])
        summary[arm] = (statistics.mean(at_target), statistics.pstdev(at_target), statistics.mean(increase))
        trainable = results[seeds[0]][arm]["trainable"]
        rows.append(
            f"| {arm} | {trainable:,} | {summary[arm][0]:.3f} ± {summary[arm][1]:.3f} | {summary[arm][2]:+.3f} |"
        )
    base = statistics.mean(base_a.values())
    table = "\n".join(rows) + f"\n\nBase model (pre-trained on A) task-A loss: {base:.3f}; seeds: {seeds}.\n"

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for arm in ARMS:
        histories = [results[seed][arm]["history"] for seed in seeds]
        b = np.mean([[h[2] for h in hist] for hist in histories], axis=0)
        a = np.mean([[h[1] for h in hist] for hist in histories], axis=0)
        left.plot(b, a, marker=".", label=arm)
    left.axhline(base, color="gray", linestyle=":", label="base model")
    left.invert_xaxis()
    left.set_xlabel("task-B loss (new task; training goes right)")
    left.set_ylabel("task-A loss (old task; higher = forgot more)")
    left.legend(fontsize="small")
    means = [summary[arm][0] for arm in ARMS]
    stds = [summary[arm][1] for arm in ARMS]
    right.bar(ARMS, means, yerr=stds, color=["C0", "C1", "C2", "C3", "C4"])
    right.axhline(base, color="gray", linestyle=":")
    right.set_ylabel("task-A loss at matched task-B loss")
    right.tick_params(axis="x", rotation=20)
    figure.tight_layout()
    figure.savefig(out / "kappa_forgetting.png", dpi=120)
    plt.close(figure)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain_steps", type=int, default=600)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--eval_every", type=int, default=20)
    parser.add_argument("--lr", type=float, default=3e-3, help="learning rate of the selective and full arms")
    parser.add_argument("--lora_lr", type=float, default=2e-3, help="learning rate of the LoRA arm")
    parser.add_argument("--out", default="docs/repro")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, base_a = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            work = Path(scratch, f"seed{seed}")
            base = pretrain(work / "base", seed, args.pretrain_steps)
            results[seed] = {
                arm: fine_tune(arm, base, seed, args.steps, args.eval_every, work, args.lr, args.lora_lr)
                for arm in ARMS
            }
            base_a[seed] = results[seed]["full"]["history"][0][1]
            print(
                f"seed {seed}: "
                + ", ".join(
                    f"{a} B {r['history'][-1][2]:.3f} A {r['history'][-1][1]:.3f}" for a, r in results[seed].items()
                ),
                flush=True,
            )
    table = report(results, base_a, out)
    (out / "kappa_forgetting.md").write_text(table)
    (out / "kappa_forgetting.json").write_text(json.dumps({"results": results, "base_task_a_loss": base_a}, indent=1))
    print(table)


if __name__ == "__main__":
    main()

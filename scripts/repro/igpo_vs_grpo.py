"""Reproduction in miniature: IGPO's turn-level information gain against outcome-only GRPO (arXiv 2510.14967).

Claim: denser turn-level credit beats outcome-only GRPO at equal samples, most where the outcome reward is sparse.

Protocol:
1. Warm start: a 1.1M-parameter Llama (tiny kit, hidden 128, 4 layers) is fine-tuned with InfopoSFTTrainer on
   search demonstrations about the lookup world's *train* countries.
2. From that same warm start, per seed, two arms train on questions about the *held-out* countries (80% 2-hop),
   16 questions x 4 rollouts... (8 rollouts per step, groups of 4), same environment (BM25 top-3), same tags, same
   number of steps and rollouts:
   - IGPO: IGPOTrainer (information gain + outcome, joint normalisation, gamma 1);
   - GRPO: the same trainer with TRL's outcome-only advantages (its ``_generate_and_score_completions``).
3. Every ``eval_every`` steps: mean outcome F1 of one sampled rollout on each of 128 held-out 2-hop questions that
   RL never trains on.

    python scripts/repro/igpo_vs_grpo.py [--seeds 0 1 2] [--steps 60] [--out docs/repro]

Writes igpo_vs_grpo.md and igpo_vs_grpo.png. The outcome is whatever the run gives.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import torch

from infopo import InfopoSFTConfig, InfopoSFTTrainer
from infopo.data.lookup import lookup_demonstrations, lookup_questions
from infopo.igpo.config import IGPOConfig
from infopo.igpo.rewards import answer_f1
from infopo.igpo.trainer import IGPOTrainer
from infopo.tiny import build_tiny_model, build_tokenizer
from infopo.trainers import InfopoGRPOTrainer

CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True)
SIZES = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4)


class OutcomeOnlyTrainer(IGPOTrainer):
    """The same rollouts and outcome reward as IGPO, with TRL's sequence-level GRPO advantages."""

    _generate_and_score_completions = InfopoGRPOTrainer._generate_and_score_completions


def warm_start(folder: str, steps: int) -> str:
    build_tokenizer().save_pretrained(folder)
    build_tiny_model("llama", seed=0, **SIZES).save_pretrained(folder)
    args = InfopoSFTConfig(output_dir=os.path.join(folder, "run"), max_steps=steps, per_device_train_batch_size=32,
                           learning_rate=3e-3, lr_scheduler_type="cosine", logging_steps=steps, max_length=128, **CPU)
    trainer = InfopoSFTTrainer(model=folder, args=args, train_dataset=lookup_demonstrations(steps * 32, split="train"))
    trainer.train()
    trainer.save_model(folder)
    return folder


@torch.no_grad()
def evaluate(trainer: IGPOTrainer, questions) -> float:
    """Mean outcome F1 of one sampled rollout per question (malformed rollouts score 0)."""
    trainer.model.eval()
    scores = []
    for start in range(0, len(questions), 32):
        batch = questions.select(range(start, min(start + 32, len(questions))))
        trainer._rollout(list(batch["prompt"]), trainer)
        rollouts = trainer._last_rollouts
        scores += [0.0 if bad else answer_f1(pred, truth)
                   for pred, bad, truth in zip(rollouts["answer"], rollouts["format_error"], batch["answer"], strict=True)]
    trainer.model.train()
    return sum(scores) / len(scores)


class EvalEvery:
    """Evaluates every ``every`` steps from inside training (a callback that keeps the curve)."""

    def __init__(self, every, questions):
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step % outer.every == 0:
                    outer.curve.append((state.global_step, evaluate(outer.trainer, outer.questions)))

        self.every, self.questions, self.curve, self.trainer = every, questions, [], None
        self.callback = Callback()


def run_arm(arm: str, model: str, seed: int, steps: int, eval_every: int, work: str, evaluation) -> list:
    torch.manual_seed(seed)
    config = IGPOConfig(output_dir=os.path.join(work, f"{arm}-{seed}"), seed=seed, per_device_train_batch_size=16,
                        num_generations=4, max_turns=4, max_turn_tokens=24, max_completion_length=256,
                        learning_rate=5e-4, max_steps=steps, logging_steps=eval_every, **CPU)
    train = lookup_questions(steps * 4, seed=100 + seed, two_hop_share=0.8, split="held_out")
    hook = EvalEvery(eval_every, evaluation)
    trainer_class = IGPOTrainer if arm == "IGPO" else OutcomeOnlyTrainer
    trainer = trainer_class(model=model, args=config, train_dataset=train, callbacks=[hook.callback])
    hook.trainer = trainer
    hook.curve.append((0, evaluate(trainer, evaluation)))
    trainer.train()
    return hook.curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--warm_steps", type=int, default=400)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--eval_every", type=int, default=20)
    parser.add_argument("--out", default="docs/repro")
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    evaluation = lookup_questions(128, seed=999, two_hop_share=1.0, split="held_out")
    curves: dict[str, list] = {"IGPO": [], "GRPO": []}
    with tempfile.TemporaryDirectory() as work:
        model = warm_start(os.path.join(work, "warm"), args.warm_steps)
        for seed in args.seeds:
            for arm in ("IGPO", "GRPO"):
                curve = run_arm(arm, model, seed, args.steps, args.eval_every, work, evaluation)
                curves[arm].append(curve)
                print(f"seed {seed} {arm}: " + ", ".join(f"step {s} F1 {f:.3f}" for s, f in curve), flush=True)

    start = statistics.mean(c[0][1] for c in curves["IGPO"] + curves["GRPO"])
    lines = ["# IGPO vs outcome-only GRPO (miniature)", "",
             f"Warm start: {args.warm_steps} SFT steps on demonstrations about the train countries; held-out 2-hop F1 "
             f"at step 0: {start:.3f}. RL: {args.steps} steps x 16 rollouts (groups of 4) on held-out countries; "
             f"seeds {args.seeds}. Evaluation: one sampled rollout on each of 128 held-out 2-hop questions.", "",
             "| arm | " + " | ".join(f"F1 at step {s}" for s, _ in curves["IGPO"][0]) + " |",
             "| --- | " + " | ".join("---" for _ in curves["IGPO"][0]) + " |"]
    for arm, arm_curves in curves.items():
        cells = []
        for index in range(len(arm_curves[0])):
            values = [c[index][1] for c in arm_curves]
            cells.append(f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f}")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    (out / "igpo_vs_grpo.md").write_text(text)
    (out / "igpo_vs_grpo.json").write_text(json.dumps(curves, indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for arm, arm_curves in curves.items():
        steps = [s for s, _ in arm_curves[0]]
        means = [statistics.mean(c[i][1] for c in arm_curves) for i in range(len(steps))]
        stds = [statistics.pstdev(c[i][1] for c in arm_curves) for i in range(len(steps))]
        axes.errorbar(steps, means, yerr=stds, marker="o", capsize=3, label=arm)
    axes.set_xlabel("RL step")
    axes.set_ylabel("held-out 2-hop F1")
    axes.legend()
    figure.tight_layout()
    figure.savefig(out / "igpo_vs_grpo.png", dpi=120)
    plt.close(figure)
    print(text)


if __name__ == "__main__":
    main()

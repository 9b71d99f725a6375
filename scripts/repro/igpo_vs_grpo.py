"""Reproduction in miniature: IGPO's turn-level information gain against outcome-only GRPO (arXiv 2510.14967).

Claim: denser turn-level credit beats outcome-only GRPO at equal samples, most where the outcome reward is sparse.

Protocol:
1. World: the lookup world with 400 countries (2,000 names); warm-start demonstrations use the 280 *train*
   countries, RL and evaluation the 120 *held-out* ones, so the policy must copy names it never saw.
2. Warm start: a 1.1M-parameter Llama (tiny kit, hidden 128, 4 layers) is fine-tuned with InfopoSFTTrainer on whole
   demonstration trajectories (``tokenize_trajectories``: the rollout's tokenization, loss on the model's turns
   only), ``--warm_steps`` steps of 64.
3. From that same warm start, per seed, two arms train on held-out questions (80% 2-hop), 8 questions x 4 rollouts
   per step, same environment (BM25 top-3), same tags, same number of steps and rollouts:
   - IGPO: IGPOTrainer (information gain + outcome, joint normalisation, gamma 1);
   - GRPO: the same trainer with TRL's outcome-only advantages (its ``_generate_and_score_completions``).
4. Every ``eval_every`` steps: mean outcome F1 of one sampled rollout on each of 128 held-out 2-hop questions that
   RL never trains on.

    python scripts/repro/igpo_vs_grpo.py [--seeds 0 1 2] [--steps 60] [--warm_dir DIR] [--out docs/repro]

Writes igpo_vs_grpo.md and igpo_vs_grpo.png. The outcome is whatever the run gives.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch

from infopo import InfopoSFTConfig, InfopoSFTTrainer
from infopo.data.lookup import lookup_corpus, lookup_questions, lookup_trajectories
from infopo.igpo.environment import SearchEnvironment
from infopo.igpo.config import IGPOConfig
from infopo.igpo.rewards import answer_f1
from infopo.igpo.trainer import IGPOTrainer
from infopo.igpo.warm_start import tokenize_trajectories
from infopo.tiny import build_tiny_model, build_tokenizer
from curves import start_and_target, write_report
from infopo.trainers import InfopoGRPOTrainer

CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True)
SIZES = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4)
COUNTRIES = 400


class OutcomeOnlyTrainer(IGPOTrainer):
    """The same rollouts and outcome reward as IGPO, with TRL's sequence-level GRPO advantages."""

    _generate_and_score_completions = InfopoGRPOTrainer._generate_and_score_completions


def warm_start(folder: str, steps: int) -> str:
    """SFT on whole trajectories about the train countries; reuses ``folder`` if it already holds a model."""
    if os.path.isfile(os.path.join(folder, "model.safetensors")):
        return folder
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(folder)
    build_tiny_model("llama", seed=0, **SIZES).save_pretrained(folder)
    args = InfopoSFTConfig(output_dir=os.path.join(folder, "run"), max_steps=steps, per_device_train_batch_size=64,
                           learning_rate=2e-3, lr_scheduler_type="cosine", warmup_steps=steps // 20,
                           logging_steps=max(1, steps // 10), max_length=256, **CPU)
    demonstrations = lookup_trajectories(steps * 64, split="train", num_countries=COUNTRIES, two_hop_share=0.8)
    trainer = InfopoSFTTrainer(model=folder, args=args, train_dataset=tokenize_trajectories(tokenizer, demonstrations))
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


def run_arm(arm: str, model: str, seed: int, steps: int, eval_every: int, work: str, evaluation, environment) -> list:
    torch.manual_seed(seed)
    config = IGPOConfig(output_dir=os.path.join(work, f"{arm}-{seed}"), seed=seed, per_device_train_batch_size=32,
                        num_generations=4, max_turns=4, max_turn_tokens=24, max_completion_length=256,
                        answer_forcing_prefix=" <answer> ", learning_rate=3e-4, max_steps=steps,
                        logging_steps=eval_every, **CPU)
    train = lookup_questions(steps * 8, seed=100 + seed, two_hop_share=0.8, split="held_out", num_countries=COUNTRIES)
    hook = EvalEvery(eval_every, evaluation)
    trainer_class = IGPOTrainer if arm == "IGPO" else OutcomeOnlyTrainer
    trainer = trainer_class(model=model, args=config, train_dataset=train, callbacks=[hook.callback],
                            environment=environment)
    hook.trainer = trainer
    hook.curve.append((0, evaluate(trainer, evaluation)))
    trainer.train()
    return hook.curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--warm_steps", type=int, default=800)
    parser.add_argument("--warm_dir", default=None, help="keep the warm start here (reused when it exists)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--eval_every", type=int, default=20)
    parser.add_argument("--gain", type=float, default=0.05, help="target: step-0 F1 + this")
    parser.add_argument("--out", default="docs/repro")
    parser.add_argument("--report_only", action="store_true", help="rebuild the report from the saved JSON")
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        report(json.loads((out / "igpo_vs_grpo.json").read_text()), args, out)
        return
    evaluation = lookup_questions(128, seed=999, two_hop_share=1.0, split="held_out", num_countries=COUNTRIES)
    environment = SearchEnvironment(lookup_corpus(COUNTRIES), top_k=3)
    curves: dict[str, list] = {"IGPO": [], "GRPO": []}
    with tempfile.TemporaryDirectory() as work:
        model = warm_start(args.warm_dir or os.path.join(work, "warm"), args.warm_steps)
        for seed in args.seeds:
            for arm in ("IGPO", "GRPO"):
                curve = run_arm(arm, model, seed, args.steps, args.eval_every, work, evaluation, environment)
                curves[arm].append(curve)
                print(f"seed {seed} {arm}: " + ", ".join(f"step {s} F1 {f:.3f}" for s, f in curve), flush=True)

    report(curves, args, out)


def report(curves: dict, args, out: Path) -> None:
    """igpo_vs_grpo.md, .json and .png from the curves (``--report_only`` rebuilds them from the JSON)."""
    start, target = start_and_target(curves, args.gain)
    intro = (f"Warm start: {args.warm_steps} SFT steps x 64 trajectories about the train countries; held-out 2-hop F1 "
             f"at step 0: {start:.3f}. RL: {args.steps} steps x 32 rollouts (groups of 4) on held-out countries; seeds "
             f"{args.seeds}. Evaluation: one sampled rollout on each of 128 held-out 2-hop questions. Target for 'steps "
             f"to target': F1 {target:.3f} (step 0 + {args.gain:g}).")
    write_report(out, "igpo_vs_grpo", "IGPO vs outcome-only GRPO (miniature)", intro, curves, curves,
                 value_name="F1", xlabel="RL step", ylabel="held-out 2-hop F1", target=target)


if __name__ == "__main__":
    main()

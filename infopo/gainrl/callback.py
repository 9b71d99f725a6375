"""GAIN-RL's training-time helpers outside the trainer: the score file a run ranks by, a prompt's identity across
processes, and the callback that gathers the online angle every step and moves mu at the end of every epoch.

:class:`~infopo.gainrl.trainer.GainRLTrainerMixin` uses all three (:func:`load_scores` for ``gainrl_scores``,
:func:`prompt_key` for the learnability counts, :class:`GainRLCallback` added when GAIN-RL is on).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import TrainerCallback

from infopo.errors import InfopoConfigError
from infopo.gainrl.sampler import GainRLState
from infopo.gainrl.schedule import running_target, update_center
from infopo.gainrl.scoring import prompts_fingerprint


def load_scores(path: str, prompts: list, signal: str = "angle") -> dict:
    """An ``infopo gainrl score`` file (its ``scores`` and, for answer_logprob, ``totals``), refused when it was made
    for other prompts or with another signal than ``signal`` (files without one are angle scores)."""
    file = Path(path)
    if not file.is_file():
        raise InfopoConfigError(f"gainrl_scores file not found: {file}")
    try:
        saved = json.loads(file.read_text())
        scores, fingerprint = saved["scores"], saved["fingerprint"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise InfopoConfigError(f"{file} is not a score file of `infopo gainrl score` ({error})") from None
    if saved.get("signal", "angle") != signal:
        raise InfopoConfigError(
            f"{file} holds {saved.get('signal', 'angle')} scores; this run needs {signal} scores "
            f"(`infopo gainrl score --signal {signal}`)"
        )
    if len(scores) != len(prompts) or fingerprint != prompts_fingerprint(prompts):
        raise InfopoConfigError(
            f"{file} was scored on other prompts ({len(scores)} prompts, fingerprint "
            f"{fingerprint}) than this training set ({len(prompts)} prompts, fingerprint "
            f"{prompts_fingerprint(prompts)})"
        )
    return saved


def prompt_key(prompt) -> str:
    """A prompt's identity across processes: its JSON (text, or the messages)."""
    return json.dumps(prompt, sort_keys=True, ensure_ascii=False)


class GainRLCallback(TrainerCallback):
    """Per step: gather the angle; per epoch: update mu."""

    def __init__(self, trainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        trainer, schedule = self.trainer, self.trainer.gainrl_state
        angle_sum, angle_count = trainer.accelerator.reduce(trainer._gainrl_angle_sums, reduction="sum").tolist()
        trainer._gainrl_angle_sums = torch.zeros_like(trainer._gainrl_angle_sums)
        schedule.angle_sum += angle_sum
        schedule.angle_count += int(angle_count)
        metrics = trainer._metrics["train"]
        if angle_count:
            metrics["gainrl/angle"].append(angle_sum / angle_count)
        if args.gainrl_order == "learnability":
            metrics["learnability/predicted_var"].append(schedule.predicted_var)
            metrics["learnability/skipped"].append(schedule.skipped)
        else:
            metrics["gainrl/rank_mean"].append(schedule.rank_mean)
        if state.epoch is not None and state.epoch >= schedule.epoch + 1 - 1e-6:
            self._end_epoch(args, trainer, schedule, metrics)
        metrics["gainrl/mu"].append(schedule.mu)  # after an epoch's update: the last logged mu is the card's

    @staticmethod
    def _end_epoch(args, trainer, schedule: GainRLState, metrics) -> None:
        acc = schedule.success_sum / schedule.success_count if schedule.success_count else 0.0
        angle = schedule.angle_sum / schedule.angle_count if schedule.angle_count else 0.0
        if args.gainrl_order == "learnability":  # the epoch's rollouts join the posterior; no centre to move
            schedule.successes = [a + b for a, b in zip(schedule.successes, schedule.pending_successes, strict=True)]
            schedule.trials = [a + b for a, b in zip(schedule.trials, schedule.pending_trials, strict=True)]
            schedule.pending_successes = [0.0] * len(schedule.successes)
            schedule.pending_trials = [0] * len(schedule.trials)
            metrics["gainrl/acc"].append(acc)
            schedule.epoch += 1
            schedule.success_sum = schedule.angle_sum = 0.0
            schedule.success_count = schedule.angle_count = 0
            return
        if args.gainrl_target == "running":
            target = acc if schedule.target is None else schedule.target
            schedule.target = running_target(schedule.target, acc, args.gainrl_target_momentum)
        else:
            target = args.gainrl_target_acc
        schedule.mu, delta = update_center(
            schedule.mu,
            acc,
            angle,
            step=trainer.gainrl_step,
            alpha=args.gainrl_alpha,
            target_acc=target,
            clip=trainer.gainrl_clip,
        )
        metrics["gainrl/acc"].append(acc)
        metrics["gainrl/target"].append(target)
        metrics["gainrl/delta"].append(delta)
        schedule.epoch += 1
        schedule.success_sum = schedule.angle_sum = 0.0
        schedule.success_count = schedule.angle_count = 0

"""GAIN-RL in GRPO and IGPO: the sampler, the online angle from the training forward, and the update of mu.

``GainRLTrainerMixin`` sits in front of TRL's ``GRPOTrainer`` (through ``InfopoGRPOTrainer``; ``IGPOTrainer`` inherits
it) and is a no-op unless ``gainrl_samples_per_epoch`` is set. Then:

- ranking: from ``gainrl_scores`` (a file of ``infopo gainrl score``, checked against the data set), or scored by the
  policy at start-up; or by prompt length, or a seeded permutation (``gainrl_order``);
- ``_get_train_sampler`` returns a :class:`~infopo.gainrl.sampler.GainRLSampler`;
- two forward hooks on the policy compute the online angle concentration of prompt + completion during
  ``compute_loss`` only (the training forward; no extra pass): one records the attention mask, one the input of the
  configured layer's MLP;
- ``_calculate_rewards`` (already gathered over processes by TRL) counts successes: total reward above
  ``gainrl_success_threshold``;
- :class:`~infopo.gainrl.callback.GainRLCallback` sums the angle over processes every step, applies the update at the
  end of each epoch, logs ``gainrl/*``; the state goes into every checkpoint before it is marked complete and is read
  back on resume (:class:`~infopo.checkpoints.InfopoCheckpointMixin`'s hooks).
"""

from __future__ import annotations

import math
import random
from contextlib import contextmanager

import torch
from accelerate.utils import broadcast_object_list, gather_object
from transformers.utils import logging

from infopo.errors import InfopoConfigError
from infopo.gainrl.callback import GainRLCallback, load_scores, prompt_key
from infopo.gainrl.learnability import prior_counts
from infopo.gainrl.sampler import GainRLSampler, GainRLState, LearnabilitySampler
from infopo.gainrl.scoring import hooked_module, prompt_token_masks, ranks_by_score, score_prompts
from infopo.gainrl.signals import angle_concentration
from infopo.papers import GAIN_RL
from infopo.scoring import answer_logprobs

logger = logging.get_logger(__name__)


class GainRLTrainerMixin:
    """Applies the ``gainrl_*`` fields of a GRPO/IGPO config; a no-op when ``gainrl_samples_per_epoch`` is unset."""

    gainrl_state: GainRLState | None = None
    gainrl_ranked: list[int] | None = None
    gainrl_sigma: float | None = None
    gainrl_step: float | None = None
    gainrl_clip: tuple[float, float] | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = self.args
        if not getattr(config, "gainrl_enabled", False):
            return
        if self.train_dataset is None or not hasattr(self.train_dataset, "__len__"):
            raise InfopoConfigError("GAIN-RL needs a map-style train_dataset (it ranks every prompt)")
        n = len(self.train_dataset)
        if config.gainrl_samples_per_epoch > n:
            raise InfopoConfigError(
                f"gainrl_samples_per_epoch={config.gainrl_samples_per_epoch} is larger than the "
                f"training set ({n} prompts)"
            )
        # The config's defaults scale the official values (sigma 1000, n 500, clip [0, 1000] at N ~ 7500) to N.
        self.gainrl_sigma = config.gainrl_sigma or 0.13 * n
        self.gainrl_step = config.gainrl_step or n / 15
        upper = config.gainrl_max_delta if config.gainrl_max_delta is not None else 2 * self.gainrl_step
        self.gainrl_clip = (config.gainrl_min_delta, upper)
        self._gainrl_module = hooked_module(self.model, config.gainrl_layer)  # checks the layer before training
        self.gainrl_ranked = self._gainrl_ranking()
        self.gainrl_state = GainRLState(
            mu=config.gainrl_mu,
            samples_per_epoch=config.gainrl_samples_per_epoch,
            generation_batch_size=config.generation_batch_size,
        )
        if config.gainrl_order == "learnability":
            self._gainrl_prior = self._learnability_prior()
            self.gainrl_state.successes, self.gainrl_state.pending_successes = [0.0] * n, [0.0] * n
            self.gainrl_state.trials, self.gainrl_state.pending_trials = [0] * n, [0] * n
            self._gainrl_index: dict[str, int] = {}  # a repeated prompt counts on its first row
            self._gainrl_canonical = [
                self._gainrl_index.setdefault(prompt_key(prompt), index)
                for index, prompt in enumerate(self.train_dataset["prompt"])
            ]
        self._get_train_sampler()  # checks M against the generation batch now, not when training starts
        if config.max_steps <= 0 and config.gainrl_samples_per_epoch < n:
            logger.warning(
                "GAIN-RL: num_train_epochs=%g counts GAIN-RL epochs of gainrl_samples_per_epoch=%d of the %d prompts "
                "(drawn around mu, in rank order), not passes over the data set: the run has %.3gx the optimizer "
                "steps of TRL's sampler; set max_steps to fix its length",
                config.num_train_epochs,
                config.gainrl_samples_per_epoch,
                n,
                config.gainrl_samples_per_epoch / n,
            )
        self._gainrl_recording = False
        self._gainrl_mask: torch.Tensor | None = None
        self._gainrl_angle_sums = torch.zeros(2, dtype=torch.float64, device=self.accelerator.device)  # sum, count
        self._gainrl_warned = False
        self.model.register_forward_pre_hook(self._gainrl_record_mask, with_kwargs=True)
        self._gainrl_module.register_forward_pre_hook(self._gainrl_record_angle)
        self.add_callback(GainRLCallback(self))

    def _gainrl_answer_scores(self, prompts: list) -> list[float]:
        """Mean answer log-prob of every prompt under the policy (rank 0 scores, every rank gets its scores)."""
        config = self.args
        if config.gainrl_answer_column not in self.train_dataset.column_names:
            raise InfopoConfigError(
                f"gainrl_order answer_logprob needs the answer column {config.gainrl_answer_column!r}; "
                f"the training set has {', '.join(self.train_dataset.column_names)}"
            )
        if self.is_deepspeed_enabled and self.accelerator.state.deepspeed_plugin.zero_stage == 3:
            raise InfopoConfigError(
                "under ZeRO-3 score the prompts offline (`infopo gainrl score --signal "
                "answer_logprob`) and pass gainrl_scores"
            )
        scores = [None]
        if self.accelerator.is_main_process:
            was_training = self.model.training
            self.model.eval()
            answers = [str(answer) for answer in self.train_dataset[config.gainrl_answer_column]]
            scores = [
                [
                    mean
                    for mean, _, _ in answer_logprobs(
                        self.model, self.processing_class, prompts, answers, prefix=config.gainrl_answer_prefix
                    )
                ]
            ]
            self.model.train(was_training)
        return broadcast_object_list(scores, from_process=0)[0]

    def _learnability_prior(self) -> tuple[list[float], list[float]]:
        """Each prompt's Beta prior: from answer_logprob scores (mean exp of the answer's summed log-prob) when
        ``gainrl_scores`` is given, else uniform."""
        config, n = self.args, len(self.train_dataset)
        means = None
        if config.gainrl_scores is not None:
            saved = load_scores(config.gainrl_scores, list(self.train_dataset["prompt"]), "answer_logprob")
            means = [math.exp(total) for total in saved["totals"]]
        return prior_counts(means, n, config.learnability_prior_strength)

    def _gainrl_ranking(self) -> list[int]:
        config, prompts = self.args, list(self.train_dataset["prompt"])
        if config.gainrl_order == "learnability":
            return list(range(len(prompts)))  # no ranking: the draw reads the posterior
        if config.gainrl_order == "answer_logprob":
            if config.gainrl_scores is not None:
                return ranks_by_score(load_scores(config.gainrl_scores, prompts, "answer_logprob")["scores"])
            return ranks_by_score(self._gainrl_answer_scores(prompts))
        if config.gainrl_order == "random":
            order = list(range(len(prompts)))
            random.Random(config.seed).shuffle(order)
            return order
        if config.gainrl_order == "length":
            lengths = [len(prompt_token_masks(self.processing_class, prompt)[0]) for prompt in prompts]
            return sorted(range(len(prompts)), key=lengths.__getitem__)
        if config.gainrl_scores is not None:
            return ranks_by_score(load_scores(config.gainrl_scores, prompts)["scores"])
        if self.is_deepspeed_enabled and self.accelerator.state.deepspeed_plugin.zero_stage == 3:
            raise InfopoConfigError(
                "under ZeRO-3 score the prompts offline (`infopo gainrl score`) and pass gainrl_scores"
            )
        ranking = [None]
        if self.accelerator.is_main_process:  # one ranking for all: scores may differ in the last bits across devices
            was_training = self.model.training
            self.model.eval()
            scores = score_prompts(
                self.model,
                self.processing_class,
                prompts,
                layer=config.gainrl_layer,
                inter_weight=config.gainrl_inter_weight,
            )["scores"]
            self.model.train(was_training)
            ranking = [ranks_by_score(scores)]
        return broadcast_object_list(ranking, from_process=0)[0]

    # ---- sampler --------------------------------------------------------------------------------------------

    def _get_train_sampler(self, dataset=None):
        if self.gainrl_state is None:
            return super()._get_train_sampler(dataset)
        args = self.args
        settings = dict(
            ranked=self.gainrl_ranked,
            samples_per_epoch=args.gainrl_samples_per_epoch,
            sigma=self.gainrl_sigma,
            state=self.gainrl_state,
            seed=args.seed,
            mini_repeat_count=self.num_generations,
            batch_size=args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * args.steps_per_generation,
        )
        if args.gainrl_order == "learnability":
            return LearnabilitySampler(
                self._gainrl_prior,
                self.num_generations,
                args.learnability_explore,
                args.learnability_skip_floor,
                canonical=self._gainrl_canonical,
                draw=getattr(args, "learnability_draw", "variance"),
                **settings,
            )
        return GainRLSampler(**settings)

    # ---- online angle ---------------------------------------------------------------------------------------

    def _gainrl_record_mask(self, _module, _args, kwargs):
        if self._gainrl_recording:
            self._gainrl_mask = kwargs.get("attention_mask")

    @torch.no_grad()
    def _gainrl_record_angle(self, _module, args):
        if not self._gainrl_recording or self._gainrl_mask is None:
            return
        hidden = args[0]
        if hidden.shape[:2] != self._gainrl_mask.shape:
            if not self._gainrl_warned:  # padding-free / packed layouts carry no per-row mask to pair with
                logger.warning(
                    "GAIN-RL: hidden states %s do not match the attention mask %s; no online angle",
                    tuple(hidden.shape),
                    tuple(self._gainrl_mask.shape),
                )
                self._gainrl_warned = True
            return
        angles = angle_concentration(hidden.detach(), self._gainrl_mask)  # stays on the device: no sync per forward
        self._gainrl_angle_sums += torch.stack([angles.sum().double(), angles.new_tensor(angles.numel()).double()])

    @contextmanager
    def _gainrl_recording_on(self):
        self._gainrl_recording = True
        try:
            yield
        finally:
            self._gainrl_recording, self._gainrl_mask = False, None

    def compute_loss(self, model, inputs, *args, **kwargs):
        if self.gainrl_state is None or not self.model.training:  # evaluation forwards do not count
            return super().compute_loss(model, inputs, *args, **kwargs)
        with self._gainrl_recording_on():
            return super().compute_loss(model, inputs, *args, **kwargs)

    # ---- accuracy -------------------------------------------------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.gainrl_state is not None and self.model.training:
            total = (rewards_per_func * self.reward_weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
            finite = torch.isfinite(total)
            self.gainrl_state.success_sum += (total[finite] > self.args.gainrl_success_threshold).sum().item()
            self.gainrl_state.success_count += int(finite.sum().item())
            if self.args.gainrl_order == "learnability":
                self._observe_successes(inputs, total)
        return rewards_per_func

    def _observe_successes(self, inputs, total: torch.Tensor) -> None:
        """Each rollout's success into its prompt's pending counts. ``total`` is every process's rewards in process
        order (TRL gathers them), so the prompts are gathered in the same order."""
        keys = [prompt_key(row["prompt"]) for row in inputs]
        if self.accelerator.num_processes > 1:
            keys = gather_object(keys)
        state = self.gainrl_state
        for key, reward in zip(keys, total.tolist(), strict=True):
            if math.isfinite(reward):
                index = self._gainrl_index[key]
                state.pending_successes[index] += float(reward > self.args.gainrl_success_threshold)
                state.pending_trials[index] += 1

    # ---- checkpoints (InfopoCheckpointMixin's hooks) ---------------------------------------------------------

    def _save_extra_state(self, folder):
        super()._save_extra_state(folder)
        if self.gainrl_state is not None:
            self.gainrl_state.save(folder)

    def _load_extra_state(self, folder):
        super()._load_extra_state(folder)
        if self.gainrl_state is not None:
            self.gainrl_state.load(folder)

    def _card_papers(self) -> list[dict]:
        return super()._card_papers() + ([GAIN_RL] if self.gainrl_state is not None else [])

    def _card_tags(self) -> list[str]:
        return super()._card_tags() + (["gain-rl"] if self.gainrl_state is not None else [])

    def _card_sections(self) -> list[tuple[str, str]]:
        sections = super()._card_sections()
        if self.gainrl_state is not None and self.args.gainrl_order == "learnability":
            args, state = self.args, self.gainrl_state
            prior = "answer log-prob scores" if args.gainrl_scores else "a uniform prior"
            draw = (
                f"the {args.gainrl_samples_per_epoch} prompts whose success rate, sampled from a Beta posterior of "
                f"each prompt's successes (from {prior}), lies closest to 0.5 (Thompson sampling, as MoPPS)"
                if getattr(args, "learnability_draw", "variance") == "thompson"
                else f"the {args.gainrl_samples_per_epoch} prompts of highest predicted success variance E[p(1-p)] "
                f"under a Beta posterior of each prompt's successes (from {prior}), {args.learnability_explore:g} "
                "of them the least-tried, a prompt predicted to give a zero-variance group skipped with that "
                f"probability (at most {1 - args.learnability_skip_floor:g})"
            )
            sections.append(
                (
                    "GAIN-RL data schedule",
                    (
                        f"Prompts drawn by learnability: each epoch {draw}. "
                        f"{sum(state.trials)} rollouts counted over {state.epoch} epochs."
                    ),
                )
            )
        elif self.gainrl_state is not None:
            args = self.args
            sections.append(
                (
                    "GAIN-RL data schedule",
                    (
                        f"Prompts ranked by {args.gainrl_order}; {args.gainrl_samples_per_epoch} drawn per epoch by a "
                        f"Gaussian over ranks (sigma {self.gainrl_sigma:g}), centre moved by accuracy and angle "
                        f"concentration (step {self.gainrl_step:g}, alpha {args.gainrl_alpha:g}, target accuracy "
                        + (
                            f"{args.gainrl_target_acc:g}"
                            if args.gainrl_target == "fixed"
                            else f"the policy's running accuracy, momentum {args.gainrl_target_momentum:g}"
                        )
                        + f"). Final centre mu = {self.gainrl_state.mu:g} after {self.gainrl_state.epoch} epochs."
                    ),
                )
            )
        return sections

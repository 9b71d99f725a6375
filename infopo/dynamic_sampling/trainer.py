"""``DynamicSamplingMixin``: dynamic sampling and the rollout count in every GRPO-family trainer.

It sits first in ``InfopoGRPOTrainer``'s bases (so ``IGPOTrainer`` has it too) and owns the entry TRL calls,
``_generate_and_score_completions``. One generation (TRL's generation, rewards and advantages; IGPO's turn
advantages) is ``_generation_round``; a trainer that changes the advantages overrides that method and sets
``_group_signal``. With ``dynamic_sampling`` on, a training generation is:

1. generate and score the process's generation batch (``per_device_train_batch_size x steps_per_generation`` rows,
   whole groups); ``_group_signal`` says which groups of the whole batch (every process's) have a signal;
2. each process keeps its own groups with a signal, up to its batch size; while any process is short and fewer
   than ``dynamic_sampling_max_rounds`` generations were made, every process generates another full batch from the
   refill stream (:class:`~infopo.dynamic_sampling.batches.RefillStream`: all processes draw the same prompts and
   each takes its share; so every process makes the same generation calls, as ZeRO-3 and vLLM colocate need);
3. the kept rows of every round become one batch (a short one filled up with dropped groups, their advantages
   zero), ``num_items_in_batch`` is recounted over the kept rows, and TRL shuffles and splits it as usual.

Every generated group counts where its rewards are counted (GAIN-RL's accuracy and learnability posterior see every
round, kept or dropped). Logged: ``dynamic_sampling/rounds``, ``dynamic_sampling/kept_frac`` (groups with a signal
among those generated), ``dynamic_sampling/short_batches`` (generation batches so far that trained short), and in
every GRPO-family run ``rollouts_generated`` (all processes, cumulative, resumed from checkpoints) to draw curves
against rollouts spent.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from infopo.dynamic_sampling.batches import RefillStream, group_rows, groups_with_signal, merge_rollout_batches
from infopo.errors import InfopoConfigError
from infopo.papers import DAPO

STATE_FILE = "dynamic_sampling_state.json"
REFILL_SEED = 7_919
"""Offset of the refill stream's seeds from the run's, so that refills are not the sampler's own first prompts."""
PASS_FIELDS = ("rank_mean", "skipped", "predicted_var")
"""GAIN-RL state fields an epoch draw writes; a refill draw leaves them as the sampler's own draw set them."""


class DynamicSamplingMixin:
    """``dynamic_sampling`` (off by default) and the ``rollouts_generated`` count of every GRPO-family trainer."""

    rollouts_generated: int = 0
    short_batches: int = 0
    refill_stream: RefillStream | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rollouts_generated, self.short_batches = 0, 0
        self._group_signal: list[bool] | None = None
        args = self.args
        if not getattr(args, "dynamic_sampling", False):
            return
        local_rows = args.per_device_train_batch_size * args.steps_per_generation
        if local_rows % self.num_generations:
            raise InfopoConfigError(
                f"dynamic_sampling keeps whole groups on each process: per_device_train_batch_size x "
                f"steps_per_generation ({args.per_device_train_batch_size} x {args.steps_per_generation}) must be a "
                f"multiple of num_generations ({self.num_generations})"
            )
        if self.train_dataset is None or not hasattr(self.train_dataset, "__len__"):
            raise InfopoConfigError("dynamic_sampling needs a map-style train_dataset (it draws prompts to refill)")
        self.refill_stream = RefillStream(self._refill_pass)

    # ---- the refill stream ----------------------------------------------------------------------------------

    def _refill_pass(self, pass_index: int) -> list[int]:
        """One pass of refill prompts: the run's GAIN-RL draw (its order, its current state) with a seed of its own,
        or a seeded permutation of the training set (in order when ``shuffle_dataset`` is off)."""
        seed = (self.args.seed + REFILL_SEED) * 1_000_003 + pass_index
        state = getattr(self, "gainrl_state", None)
        if state is not None:
            sampler = self._get_train_sampler()
            sampler.seed = seed
            kept = {name: getattr(state, name) for name in PASS_FIELDS}
            try:
                return list(sampler.epoch_indices())
            finally:
                for name, value in kept.items():
                    setattr(state, name, value)
        size = len(self.train_dataset)
        if not getattr(self, "shuffle_dataset", True):
            return list(range(size))
        return torch.randperm(size, generator=torch.Generator().manual_seed(seed)).tolist()

    def _refill_inputs(self, rows: int) -> list[dict]:
        """``rows`` rows of new groups for this process: every process draws the same prompts, each takes its
        share, each prompt repeated ``num_generations`` times in a row (as TRL's sampler yields them)."""
        size, processes = self.num_generations, self.accelerator.num_processes
        prompts = rows // size
        drawn = self.refill_stream.draw(prompts * processes)
        mine = drawn[self.accelerator.process_index * prompts : (self.accelerator.process_index + 1) * prompts]
        return [self.train_dataset[index] for index in mine for _ in range(size)]

    # ---- generation -------------------------------------------------------------------------------------------

    def _generation_round(self, inputs):
        """One generation with rewards and advantages (TRL's); sets ``_group_signal`` through the rewards."""
        return super()._generate_and_score_completions(inputs)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        """TRL's rewards (gathered over processes); with dynamic sampling, each group's signal from the weighted
        sum of its rewards, as TRL's advantages use them (rows no function scored stay out)."""
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.refill_stream is not None and self.model.training:
            total = (rewards_per_func * self.reward_weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
            total[torch.isnan(rewards_per_func).all(dim=1)] = math.nan
            self._group_signal = groups_with_signal([[value] for value in total.tolist()], self.num_generations)
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        if not self.model.training:
            return self._generation_round(inputs)
        if self.refill_stream is None:
            output = self._generation_round(inputs)
            self.rollouts_generated += len(inputs) * self.accelerator.num_processes
            return output
        return self._dynamically_sampled(inputs)

    def _any_process(self, flag: bool) -> bool:
        return bool(self.accelerator.gather(torch.tensor([flag], device=self.accelerator.device)).any().item())

    def _dynamically_sampled(self, inputs):
        size, target = self.num_generations, len(inputs)
        groups_here, first_group = target // size, self.accelerator.process_index * (target // size)
        kept, dropped = [], []  # (batch, local rows), per round
        kept_rows = rounds = generated_groups = signal_groups = 0
        batch = inputs
        while True:
            rounds += 1
            self._group_signal = None
            output = self._generation_round(batch)
            self.rollouts_generated += len(batch) * self.accelerator.num_processes
            if self._group_signal is None:
                raise RuntimeError(f"{type(self).__name__}._generation_round set no _group_signal")
            mine = self._group_signal[first_group : first_group + groups_here]
            generated_groups += len(self._group_signal)
            signal_groups += sum(self._group_signal)
            with_signal = [group for group, has in enumerate(mine) if has]
            keep = with_signal[: (target - kept_rows) // size]
            kept.append((output, group_rows(keep, size)))
            dropped.append((output, group_rows([group for group, has in enumerate(mine) if not has], size)))
            kept_rows += len(keep) * size
            if rounds >= self.args.dynamic_sampling_max_rounds or not self._any_process(kept_rows < target):
                break
            batch = self._refill_inputs(target)
        short = self._any_process(kept_rows < target)
        for output, rows in dropped:  # a short batch is filled up with dropped groups, which carry no signal
            rows = rows[: target - kept_rows]
            if rows:
                output["advantages"][torch.as_tensor(rows, device=output["advantages"].device)] = 0.0
                kept.append((output, rows))
                kept_rows += len(rows)
        try:
            merged = merge_rollout_batches(kept, self._tokenizer.pad_token_id, self.pad_to_multiple_of)
        except ValueError as error:
            raise InfopoConfigError(str(error)) from error
        loss_mask = (
            merged["completion_mask"] * merged["tool_mask"] if "tool_mask" in merged else merged["completion_mask"]
        )
        merged["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        self.short_batches += int(short)
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/rounds"].append(float(rounds))
        metrics["dynamic_sampling/kept_frac"].append(signal_groups / generated_groups)
        return merged

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if self.model.training and "loss" in logs:
            logs["rollouts_generated"] = float(self.rollouts_generated)
            if self.refill_stream is not None:
                logs["dynamic_sampling/short_batches"] = float(self.short_batches)
        super().log(logs, start_time)

    def _card_papers(self) -> list[dict]:
        return super()._card_papers() + ([DAPO] if self.refill_stream is not None else [])

    def _card_sections(self) -> list[tuple[str, str]]:
        sections = super()._card_sections()
        if self.refill_stream is not None:
            sections.append(
                (
                    "Dynamic sampling",
                    (
                        "Groups whose signal had zero variance were dropped after generation and replaced by new "
                        "prompts until each generation batch was full (DAPO's dynamic sampling, arXiv 2503.14476), "
                        f"at most {self.args.dynamic_sampling_max_rounds} generations per batch; "
                        f"{self.rollouts_generated} rollouts generated, {self.short_batches} batches trained short."
                    ),
                )
            )
        return sections

    # ---- checkpoints (InfopoCheckpointMixin's hooks) ---------------------------------------------------------

    def _save_extra_state(self, folder):
        super()._save_extra_state(folder)
        state = {"rollouts_generated": self.rollouts_generated, "short_batches": self.short_batches}
        if self.refill_stream is not None:
            state["refill"] = self.refill_stream.state_dict()
        path = Path(folder) / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(path)

    def _load_extra_state(self, folder):
        super()._load_extra_state(folder)
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            if self.refill_stream is not None:
                raise InfopoConfigError(f"resuming dynamic_sampling needs {path}, which the checkpoint does not have")
            return
        state = json.loads(path.read_text())
        self.rollouts_generated, self.short_batches = state["rollouts_generated"], state["short_batches"]
        if self.refill_stream is not None:
            if "refill" not in state:
                raise InfopoConfigError(f"{path} was written without dynamic_sampling: resume with the same setting")
            self.refill_stream.load_state_dict(state["refill"])

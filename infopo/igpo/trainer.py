"""``IGPOTrainer``: TRL's GRPO with multi-turn search rollouts and turn-level information-gain advantages.

Rollouts go through TRL's ``rollout_func`` hook: each turn every unfinished rollout of the batch writes, in one
left-padded ``generate`` call, up to ``max_turn_tokens`` tokens (stopping at ``</search>`` or ``</answer>``); the
environment answers, its observation tokens join the context with ``env_mask`` 0 (TRL keeps them out of the loss),
and the assistant span of every turn is recorded over the tokens actually sampled. After the rollouts the probe
scores the ground-truth answer, teacher forced after ``answer_forcing_prefix``, at every turn boundary of every
well-formed rollout: one packed forward per chunk of rollouts (:mod:`infopo.igpo.probe`), no gradient. TRL then
scores the outcome with the reward function and computes its advantages; ``_generate_and_score_completions``
replaces them with per-token IGPO advantages of shape (B, T). Under ZeRO-3, ranks with fewer live rollouts run
one-token dummy turns and probe forwards, so every rank runs as many forwards as the busiest.
"""

from __future__ import annotations

import math

import torch

from infopo.data import load_named_dataset
from infopo.distributed import max_over_processes, zero3_collectives_active
from infopo.scoring import encode_prompt
from infopo.errors import InfopoConfigError
from infopo.igpo.environment import SearchEnvironment
from infopo.igpo.probe import packed_answer_logps
from infopo.igpo.rewards import (
    TurnRewards,
    answer_f1,
    discounted_turn_advantages,
    exact_match,
    extract_answer,
    info_gain_rewards,
    normalize_group_rewards,
    probe_values,
    token_advantages,
)
from infopo.trainers import InfopoGRPOTrainer


PROBE_CHUNK = 16
"""Rollouts per packed probe forward."""


def build_environment(args) -> SearchEnvironment:
    """The search environment of an ``IGPOConfig``: its corpus, top-k and time limit."""
    corpus = args.corpus
    if corpus.startswith("synthetic:"):
        corpus = load_named_dataset(corpus)["train"]
    return SearchEnvironment(corpus, top_k=args.search_top_k, time_limit_s=args.search_time_limit_s,
                             max_observation_chars=args.max_observation_chars)


class IGPOTrainer(InfopoGRPOTrainer):
    """GRPO with IGPO rollouts and advantages; keeps TRL's constructor and adds ``environment=`` (default: the
    config's search environment). The outcome reward is built in: ``reward_funcs`` may be omitted."""

    infopo_method = "igpo"
    _tag_names = ["trl", "grpo", "igpo", "infopo"]

    def __init__(self, model, reward_funcs=None, *args, environment=None, **kwargs):
        config = kwargs.get("args") if "args" in kwargs else (args[0] if args else None)
        if config is None or not hasattr(config, "max_turns"):
            raise InfopoConfigError("IGPOTrainer needs an IGPOConfig as args")
        train_dataset = kwargs.get("train_dataset")
        if train_dataset is not None:
            self._check_answers(train_dataset, config.answer_column)
        attention = (config.model_init_kwargs or {}).get("attn_implementation") or ""
        if "flash" in str(attention):
            raise InfopoConfigError("IGPO's packed probe needs a 4-D attention mask, which flash attention ignores: "
                                    "use attn_implementation sdpa or eager")
        self.environment = environment if environment is not None else build_environment(config)
        self._last_rollouts: dict = {}
        kwargs["rollout_func"] = self._rollout
        super().__init__(model, reward_funcs if reward_funcs is not None else [self._outcome_reward], *args, **kwargs)

    @staticmethod
    def _check_answers(dataset, column: str) -> None:
        if column not in dataset.column_names:
            raise InfopoConfigError(f"IGPO needs the answer column {column!r}; columns: {', '.join(dataset.column_names)}")
        empty = sum(not str(answer).strip() for answer in dataset[column])
        if empty:
            raise InfopoConfigError(f"{empty} rows have an empty {column!r}: the probe and the outcome need an answer")

    # ---- rollouts -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def _generate_turn(self, contexts: list[list[int]]) -> list[list[int]]:
        """One turn for several rollouts at once: left-padded contexts, sampling until a closing tag, EOS or
        ``max_turn_tokens``; returns each rollout's new tokens without padding."""
        tokenizer, args = self.processing_class, self.args
        eos = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        width = max(len(c) for c in contexts)
        input_ids = torch.full((len(contexts), width), pad, dtype=torch.long)
        attention = torch.zeros_like(input_ids)
        for row, context in enumerate(contexts):
            input_ids[row, width - len(context) :] = torch.tensor(context)
            attention[row, width - len(context) :] = 1
        device = self.accelerator.device
        generated = self.model.generate(  # self.model is the unwrapped policy
            input_ids=input_ids.to(device), attention_mask=attention.to(device), do_sample=True,
            synced_gpus=zero3_collectives_active(self.model),
            temperature=args.temperature, top_p=args.top_p, top_k=args.top_k or 0, max_new_tokens=args.max_turn_tokens,
            stop_strings=[self.environment.search_tags[1], self.environment.answer_tags[1]], tokenizer=tokenizer,
            eos_token_id=eos, pad_token_id=pad,
        )[:, width:].tolist()
        new_tokens = []
        for tokens in generated:
            while tokens and tokens[-1] == pad and pad != eos:
                tokens.pop()
            new_tokens.append(tokens)
        return new_tokens

    def _rollout(self, prompts: list, trainer) -> dict:
        """Multi-turn rollouts for ``prompts``, all active rollouts advancing together one turn at a time."""
        tokenizer, args = self.processing_class, self.args
        prompt_ids = [encode_prompt(tokenizer, prompt) for prompt in prompts]
        completions = [[] for _ in prompts]
        env_masks = [[] for _ in prompts]
        spans = [[] for _ in prompts]
        answered, format_error, tool_errors = [False] * len(prompts), [False] * len(prompts), [0] * len(prompts)
        truncated = [0] * len(prompts)
        active = list(range(len(prompts)))
        synced = zero3_collectives_active(self.model)
        for turn in range(args.max_turns):
            if synced and max_over_processes(len(active)) > 0 and not active:
                self._generate_turn([[tokenizer.pad_token_id or 0]])  # ZeRO-3: keep step with the busier ranks
                continue
            if not active:
                break
            turns = self._generate_turn([prompt_ids[i] + completions[i] for i in active])
            still_active = []
            for index, generated in zip(active, turns, strict=True):
                spans[index].append((len(completions[index]), len(completions[index]) + len(generated)))
                completions[index] += generated
                env_masks[index] += [1] * len(generated)
                step = self.environment.step(tokenizer.decode(generated, skip_special_tokens=True))
                tool_errors[index] += step.tool_error
                truncated[index] += step.truncated
                if step.done:
                    answered[index], format_error[index] = step.answered, step.format_error
                    continue
                if turn == args.max_turns - 1:
                    format_error[index] = True  # turn limit reached without an answer
                    continue
                observation = tokenizer(step.observation, add_special_tokens=False)["input_ids"]
                completions[index] += observation
                env_masks[index] += [0] * len(observation)
                still_active.append(index)
            active = still_active
        answers = []
        for index in range(len(prompts)):
            start, end = spans[index][-1]
            final_text = tokenizer.decode(completions[index][start:end], skip_special_tokens=True)
            answers.append(extract_answer(final_text, *self.environment.answer_tags) if answered[index] else None)
        rollouts = {"prompt_ids": prompt_ids, "completion_ids": completions, "env_mask": env_masks, "spans": spans,
                    "answer": answers, "format_error": [bad or not ok for bad, ok in zip(format_error, answered, strict=True)],
                    "tool_errors": tool_errors, "truncated": truncated}
        self._last_rollouts = rollouts
        return {"prompt_ids": rollouts["prompt_ids"], "completion_ids": rollouts["completion_ids"], "logprobs": None,
                "env_mask": rollouts["env_mask"], "igpo_answer": rollouts["answer"],
                "igpo_format_error": rollouts["format_error"]}

    def _answer_ids(self, answer: str) -> tuple[list[int], int]:
        """Token ids of forcing prefix + answer, and how many of them belong to the prefix."""
        tokenizer = self.processing_class
        prefix = tokenizer(self.args.answer_forcing_prefix, add_special_tokens=False)["input_ids"]
        full = tokenizer(self.args.answer_forcing_prefix + answer, add_special_tokens=False)["input_ids"]
        return full, len(prefix)

    def _probe_all(self, rows: list[int], inputs: list[dict]) -> dict[int, torch.Tensor]:
        """v_0..v_{T-1} for the given rollouts: the answer's probe value after the prompt and after each non-final
        turn (with its observation), from one packed forward per chunk of rollouts."""
        rollouts = self._last_rollouts
        trajectories, boundaries, answers, prefix_lengths = [], [], [], []
        for index in rows:
            prompt_length = len(rollouts["prompt_ids"][index])
            answer_ids, prefix_length = self._answer_ids(str(inputs[index][self.args.answer_column]))
            trajectories.append(rollouts["prompt_ids"][index] + rollouts["completion_ids"][index])
            boundaries.append([prompt_length] + [prompt_length + start for start, _ in rollouts["spans"][index][1:]])
            answers.append(answer_ids)
            prefix_lengths.append(prefix_length)
        pad = self.processing_class.pad_token_id or 0
        forwards = None
        if zero3_collectives_active(self.model):  # every rank runs as many probe forwards as the busiest
            forwards = max_over_processes(math.ceil(len(rows) / PROBE_CHUNK))
        logps = packed_answer_logps(self.model, trajectories, boundaries, answers, prefix_lengths, pad,
                                    chunk_size=PROBE_CHUNK, num_forwards=forwards)
        return {index: probe_values(values, torch.ones_like(values), self.args.info_gain_kind)
                for index, values in zip(rows, logps, strict=True)}

    # ---- rewards and advantages -----------------------------------------------------------------------------

    def _outcome(self, prediction: str | None, answer: str) -> float:
        metric = answer_f1 if self.args.outcome_metric == "f1" else exact_match
        return metric(prediction, answer)

    def _outcome_reward(self, prompts, completions, igpo_answer, igpo_format_error, **kwargs) -> list[float]:
        answers = kwargs[self.args.answer_column]
        return [self.args.format_penalty if bad else self._outcome(pred, str(truth))
                for pred, bad, truth in zip(igpo_answer, igpo_format_error, answers, strict=True)]

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        rollouts = self._last_rollouts
        group_size = self.num_generations if self.model.training else self.num_generations_eval
        if len(inputs) % group_size:
            raise InfopoConfigError(
                f"IGPO normalises within groups of {group_size} rollouts, but this process got {len(inputs)}; make "
                "per_device_train_batch_size a multiple of num_generations"
            )
        args = self.args
        well_formed = [index for index in range(len(inputs)) if not rollouts["format_error"][index]]
        probed = self._probe_all(well_formed, inputs)
        turn_rewards, probes = [], list(probed.values())
        for index, row in enumerate(inputs):
            truth = str(row[args.answer_column])
            spans = rollouts["spans"][index]
            if rollouts["format_error"][index]:
                turn_rewards.append([0.0] * (len(spans) - 1) + [args.format_penalty])
                continue
            values = probed[index]
            gains = info_gain_rewards(values.double()) * args.gain_weight
            outcome = args.outcome_weight * self._outcome(rollouts["answer"][index], truth)
            turn_rewards.append(gains.tolist() + [outcome])
        packed = TurnRewards.from_lists(turn_rewards)
        groups = torch.arange(len(inputs)) // group_size
        advantages = discounted_turn_advantages(normalize_group_rewards(packed, groups, args.norm_mode), args.gamma)
        width = output["completion_ids"].shape[1]
        token_level, _ = token_advantages(advantages, rollouts["spans"], width)
        output["advantages"] = token_level.to(device=output["completion_ids"].device, dtype=torch.float32)
        self._log_igpo(packed, probes, rollouts, inputs)
        return output

    def _log_igpo(self, packed: TurnRewards, probes: list[torch.Tensor], rollouts: dict, inputs: list[dict]) -> None:
        mode = "train" if self.model.training else "eval"
        gains = packed.values[~packed.is_final()]
        metrics = {
            "igpo/turns": sum(len(s) for s in rollouts["spans"]) / len(rollouts["spans"]),
            "igpo/format_error_frac": sum(rollouts["format_error"]) / len(rollouts["spans"]),
            "igpo/tool_error_frac": sum(rollouts["tool_errors"]) / max(1, sum(len(s) for s in rollouts["spans"])),
            "igpo/truncated_frac": sum(rollouts["truncated"]) / max(1, sum(len(s) for s in rollouts["spans"])),
            "igpo/outcome": packed.values[packed.is_final()].mean().item(),
            "igpo/success": sum(not bad and self._outcome(answer, str(row[self.args.answer_column])) == 1.0
                                for answer, bad, row in zip(rollouts["answer"], rollouts["format_error"], inputs,
                                                            strict=True)) / len(inputs),
        }
        nan = float("nan")  # every rank sends every key, so the gather lines up; a rank without any sends NaN
        metrics["igpo/info_gain"] = gains.mean().item() if gains.numel() else nan
        metrics["igpo/probe_first"] = torch.stack([p[0] for p in probes]).mean().item() if probes else nan
        metrics["igpo/probe_last"] = torch.stack([p[-1] for p in probes]).mean().item() if probes else nan
        local = torch.tensor([list(metrics.values())], dtype=torch.float64, device=self.accelerator.device)
        gathered = self.accelerator.gather_for_metrics(local).nanmean(0)
        for key, value in zip(metrics, gathered.tolist(), strict=True):
            if value == value:  # not NaN: some rank had it
                self._metrics[mode][key].append(value)

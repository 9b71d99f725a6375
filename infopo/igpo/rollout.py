"""IGPO's tag-protocol rollouts through TRL's generation: the turn loop of :class:`~infopo.igpo.trainer.IGPOTrainer`.

:meth:`TagRolloutMixin._tag_rollout` is the trainer's TRL ``rollout_func`` when it runs
:class:`~infopo.igpo.environment.TagEnvironment` episodes (one per rollout, from a pool that the factory fills only when
it is too small, ``reset(**row)`` with the rollout's data set row). Each turn, every unfinished rollout of the batch is
continued by one call of TRL's ``_generate_single_turn`` (:meth:`~TagRolloutMixin._generate_turns`), under the turn's
generation settings (:meth:`~TagRolloutMixin._turn_generation`: at most ``max_turn_tokens`` new tokens, stopping at
the environment's closing tags, greedy for :meth:`~infopo.igpo.greedy.GreedyEvaluationMixin.evaluate_greedily`); the
episodes' searches of one turn go out batched (:func:`~infopo.igpo.environment.step_episodes`), and the observation's
tokens join the context with mask 0, so TRL keeps them out of the loss. With several processes every rank makes the
same generation calls each turn (dummy prompts where it has fewer live rollouts), as ZeRO-3 and vLLM's server need.
On a colocated vLLM engine (``rollout_loop`` 'auto' or 'continuous') the same rollouts come from
:func:`~infopo.igpo.continuous.continuous_turns` instead, with no barrier between turns.

:meth:`~TagRolloutMixin._record_rollouts` then splits any rollout (from this loop, TRL's tool loop or a user's
``rollout_func``) into turns and reads its final answer. The mixin reads the trainer's state: ``args``, ``_tag_pool``,
``_tag_factory``, ``_inputs``, ``_rollouts``, ``_greedy``, ``answer_tags`` and TRL's generation attributes.
"""

from __future__ import annotations

import copy
import functools
from contextlib import contextmanager

from infopo.distributed import max_over_processes
from infopo.errors import InfopoConfigError
from infopo.igpo.continuous import colocate_sampling_params, continuous_turns
from infopo.igpo.environment import TagEnvironment, step_episodes
from infopo.igpo.episodes import with_reset_observation
from infopo.igpo.rewards import extract_answer, first_answer
from infopo.igpo.turns import cut_at_stop, observation_ids, turn_spans


class TagRolloutMixin:
    """IGPO's tag loop for :class:`~infopo.igpo.trainer.IGPOTrainer` (before TRL's ``GRPOTrainer`` in its bases; it
    overrides none of TRL's methods)."""

    @contextmanager
    def _turn_generation(self, stop_strings):
        """TRL's generation settings for one turn: at most ``max_turn_tokens`` new tokens, stopping at the closing
        tags (greedy inside :meth:`evaluate_greedily`). transformers' ``generate`` needs the tokenizer for stop strings,
        which TRL's call does not pass: the policy's ``generate`` gets it bound for the duration."""
        limit = self.args.max_turn_tokens
        if self.use_vllm:
            backend = self.vllm_generation
            saved = backend.max_completion_length, backend.generation_kwargs, backend.temperature
            backend.max_completion_length = limit
            if stop_strings:
                backend.generation_kwargs = {
                    **(saved[1] or {}),
                    "stop": list(stop_strings),
                    "include_stop_str_in_output": True,
                }
            backend.temperature = 0.0 if self._greedy else saved[2]
            try:
                yield
            finally:
                backend.max_completion_length, backend.generation_kwargs, backend.temperature = saved
            return
        saved = self.generation_config
        self.generation_config = copy.deepcopy(saved)
        self.generation_config.max_new_tokens = limit
        self.generation_config.stop_strings = list(stop_strings) or None
        if self._greedy:
            self.generation_config.do_sample = False
        policy = self.model
        policy.generate = functools.partial(type(policy).generate, policy, tokenizer=self._tokenizer)
        try:
            yield
        finally:
            self.generation_config = saved
            del policy.generate

    def _generate_turns(self, contexts: list[list[int]], stop_strings) -> tuple[list[list[int]], list | None]:
        """One turn for several rollouts: new tokens (cut after the first closing tag) and their sampling log-probs
        (vLLM) or None. With several processes every rank sends as many prompts as the busiest one (dummy one-token
        prompts), so collective backends (ZeRO-3 gathers, vLLM server, tensor parallel) stay in step."""
        count = max_over_processes(len(contexts)) if self.accelerator.num_processes > 1 else len(contexts)
        padded = contexts + [[self._tokenizer.pad_token_id]] * (count - len(contexts))
        with self._turn_generation(stop_strings):
            completions, logprobs = self._generate_single_turn(padded, None, {}, num_generations=1)
        turns, turn_logprobs = [], [] if logprobs is not None else None
        for index in range(len(contexts)):
            ids = cut_at_stop(self._tokenizer, completions[index], stop_strings)
            turns.append(ids)
            if turn_logprobs is not None:
                turn_logprobs.append(list(logprobs[index][: len(ids)]))
        return turns, turn_logprobs

    def _episodes(self, count: int) -> list[TagEnvironment]:
        """``count`` episode objects from the pool, made by the factory only when the pool is too small."""
        while len(self._tag_pool) < count:
            self._tag_pool.append(self._tag_factory())
        return self._tag_pool[:count]

    def _tag_rollout(self, prompts: list, trainer) -> dict:
        """TRL's ``rollout_func``: multi-turn tag-protocol rollouts of this process's rows (``self._inputs``)."""
        tokenizer, args = self._tokenizer, self.args
        episodes = self._episodes(len(prompts))
        prompts = [
            with_reset_observation(prompt, episode.reset(**row), type(episode).__name__)
            for prompt, episode, row in zip(prompts, episodes, self._inputs, strict=True)
        ]
        prompt_ids = [list(ids) for ids in self._tokenize_prompts(prompts)[0]] if prompts else []
        stops = episodes[0].stop_strings if episodes else ()
        if prompts and self.args.rollout_loop != "per_turn" and self.args.continuous_turns_possible():
            return self._continuous_rollout(prompt_ids, episodes, stops)
        completions = [[] for _ in prompts]
        masks = [[] for _ in prompts]
        logprobs: list | None = [[] for _ in prompts]
        tool_errors, truncations = [0] * len(prompts), [0] * len(prompts)
        live = list(range(len(prompts)))
        for turn in range(args.max_turns):
            if self.accelerator.num_processes > 1:
                if max_over_processes(len(live)) == 0:
                    break
            elif not live:
                break
            turns, turn_logprobs = self._generate_turns([prompt_ids[i] + completions[i] for i in live], stops)
            if turn_logprobs is None:
                logprobs = None
            texts = []
            for position, (index, ids) in enumerate(zip(live, turns, strict=True)):
                ids = ids[: args.max_completion_length - len(completions[index])]
                completions[index] += ids
                masks[index] += [1] * len(ids)
                if logprobs is not None:
                    logprobs[index] += turn_logprobs[position][: len(ids)]
                texts.append(tokenizer.decode(ids, skip_special_tokens=True))
            steps = step_episodes([episodes[index] for index in live], texts)  # one batched search per retriever
            still_live = []
            for index, step in zip(live, steps, strict=True):
                tool_errors[index] += step.tool_error
                truncations[index] += step.truncated
                if step.done or turn == args.max_turns - 1:
                    continue
                observation, cut = observation_ids(tokenizer, step.observation, args.max_observation_tokens)
                truncations[index] += cut and not step.truncated
                if len(completions[index]) + len(observation) >= args.max_completion_length:
                    continue  # no room for the observation and another turn: the rollout ends unanswered
                completions[index] += observation
                masks[index] += [0] * len(observation)
                if logprobs is not None:
                    logprobs[index] += [0.0] * len(observation)
                still_live.append(index)
            live = still_live
        self._rollouts["tool_errors"], self._rollouts["truncated"] = tool_errors, truncations
        return {"prompt_ids": prompt_ids, "completion_ids": completions, "logprobs": logprobs, "env_mask": masks}

    def _continuous_rollout(self, prompt_ids: list[list[int]], episodes: list[TagEnvironment], stops) -> dict:
        """The same rollouts through :func:`~infopo.igpo.continuous.continuous_turns` on the colocated engine, after
        the weight sync TRL's ``_generate_single_turn`` would make."""
        if self.state.global_step != self._last_loaded_step:
            self.vllm_generation.sync_weights()
            self._last_loaded_step = self.state.global_step
        with self._turn_generation(stops):
            result = continuous_turns(
                self.vllm_generation.llm.llm_engine,
                prompt_ids,
                episodes,
                colocate_sampling_params(self.vllm_generation),
                self._tokenizer,
                stop_strings=stops,
                max_turns=self.args.max_turns,
                max_completion_length=self.args.max_completion_length,
                max_observation_tokens=self.args.max_observation_tokens,
            )
        self._rollouts["tool_errors"], self._rollouts["truncated"] = result.pop("tool_errors"), result.pop("truncated")
        return {"prompt_ids": prompt_ids, **result}

    def _record_rollouts(self, prompt_ids, completion_ids, tool_mask) -> None:
        """Turns (runs of the model's tokens in the tool mask) and the final answer (the last turn's text inside the
        answer tags; None when there is none) of every local rollout."""
        if tool_mask is None:
            raise InfopoConfigError(
                "IGPO finds turns in the environment mask: a rollout_func must return 'env_mask' "
                "(1 on the model's tokens, 0 on the environment's)"
            )
        spans = [turn_spans(mask) for mask in tool_mask]
        open_tag, close_tag = self.answer_tags
        predictions = []
        for ids, turns in zip(completion_ids, spans, strict=True):
            if self.args.answer_extraction == "authors":  # the whole response, as the authors score it
                predictions.append(
                    first_answer(self._tokenizer.decode(ids, skip_special_tokens=True), open_tag, close_tag)
                )
                continue
            final = self._tokenizer.decode(ids[turns[-1][0] : turns[-1][1]], skip_special_tokens=True) if turns else ""
            predictions.append(extract_answer(final, open_tag, close_tag))
        self._rollouts.update(
            prompt_ids=[list(p) for p in prompt_ids],
            completion_ids=[list(c) for c in completion_ids],
            spans=spans,
            predictions=predictions,
        )

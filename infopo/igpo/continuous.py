"""Continuous turns on a colocated vLLM engine: IGPO's tag loop without a barrier between turns.

The per-turn loop (:meth:`~infopo.igpo.rollout.TagRolloutMixin._tag_rollout`) sends turn t of every live rollout in
one generation call, then searches for all of them, then sends turn t + 1: each turn waits for its slowest rollout,
and the engine idles during every search. Here the loop drives the engine request by request (vLLM's
``LLMEngine.add_request`` / ``step``, the engine under ``LLM``), as verl's agent loop does with one coroutine per
rollout: a rollout's turn is a request; when it finishes, its text goes to the environment, and its next turn is
submitted as soon as its own observation is ready. Searches of the rollouts whose turns ended while no search was
running go out as one batched call (:func:`~infopo.igpo.environment.step_episodes`) on a worker thread, so the engine
keeps generating meanwhile; vLLM's prefix cache keeps each rollout's context between its turns.

Everything else is the per-turn loop's: the turn's sampling settings are TRL's colocate ``SamplingParams`` (under
:meth:`~infopo.igpo.rollout.TagRolloutMixin._turn_generation`: ``max_turn_tokens``, the closing tags as stop strings,
temperature 0 in greedy evaluation), a turn is cut after its first closing tag and to the room left in
``max_completion_length``, the observation's tokens join with mask 0 and log-prob 0, a rollout ends when its episode
is done, at ``max_turns`` or when the observation and another turn no longer fit, and tool errors and truncations are
counted per rollout. The same prompts, seeds and engine give the same tokens as the per-turn loop
(tests/vllm_engine).
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import Future, ThreadPoolExecutor

from infopo.igpo.environment import TagEnvironment, step_episodes
from infopo.igpo.turns import cut_at_stop, observation_ids

_calls = itertools.count()


def sampled_logprobs(token_ids, logprobs) -> list[float | None]:
    """The sampled token's log-prob at every position of a vLLM ``CompletionOutput`` (NaN as None, as TRL)."""
    values = []
    for token, candidates in zip(token_ids, logprobs, strict=True):
        value = candidates[token].logprob
        values.append(None if math.isnan(value) else value)
    return values


def colocate_sampling_params(backend):
    """The ``SamplingParams`` TRL's colocated ``VLLMGeneration.generate`` builds from ``backend``'s settings
    (trl/generation/vllm_generation.py, colocate branch, TRL 1.16), for one request."""
    from vllm import SamplingParams

    settings = {
        "n": 1,
        "repetition_penalty": backend.repetition_penalty,
        "temperature": backend.temperature,
        "top_p": backend.top_p,
        "top_k": backend.top_k,
        "min_p": 0.0 if backend.min_p is None else backend.min_p,
        "max_tokens": backend.max_completion_length,
        "logprobs": backend.logprobs,
    }
    settings.update(backend.generation_kwargs)
    return SamplingParams(**settings)


def continuous_turns(
    engine,
    prompt_ids: list[list[int]],
    episodes: list[TagEnvironment],
    params,
    tokenizer,
    *,
    stop_strings,
    max_turns: int,
    max_completion_length: int,
    max_observation_tokens: int | None = None,
) -> dict:
    """Multi-turn rollouts of ``prompt_ids`` through ``engine`` (a vLLM ``LLMEngine``), each turn one request with
    sampling ``params``.

    Returns ``completion_ids``, ``env_mask``, ``logprobs`` (None when ``params`` asks for none), ``tool_errors`` and
    ``truncated``, one entry per rollout, as the per-turn loop makes them. On an error the requests still running
    are aborted, so the engine is left as it was found."""
    limits = (max_turns, max_completion_length, max_observation_tokens)
    loop = _Rollouts(engine, prompt_ids, episodes, params, tokenizer, stop_strings, limits)
    try:
        loop.run()
    except BaseException:
        engine.abort_request(sorted(loop.running))
        raise
    return {
        "completion_ids": loop.completions,
        "env_mask": loop.masks,
        "logprobs": loop.logprobs,
        "tool_errors": loop.tool_errors,
        "truncated": loop.truncations,
    }


class _Rollouts:
    """The state of one :func:`continuous_turns` call: per rollout its tokens, mask, log-probs, counts and turn."""

    def __init__(self, engine, prompt_ids, episodes, params, tokenizer, stop_strings, limits):
        self.engine, self.prompt_ids, self.episodes, self.params = engine, prompt_ids, episodes, params
        self.tokenizer, self.stop_strings = tokenizer, stop_strings
        self.max_turns, self.max_length, self.max_observation_tokens = limits
        count = len(prompt_ids)
        self.completions: list[list[int]] = [[] for _ in range(count)]
        self.masks: list[list[int]] = [[] for _ in range(count)]
        self.logprobs: list[list] | None = [[] for _ in range(count)] if params.logprobs is not None else None
        self.tool_errors, self.truncations, self.turns = [0] * count, [0] * count, [0] * count
        self.call, self.running = next(_calls), set()

    def submit(self, index: int) -> None:
        request = f"infopo-{self.call}-{index}-{self.turns[index]}"
        context = {"prompt_token_ids": self.prompt_ids[index] + self.completions[index]}
        self.engine.add_request(request, context, self.params)
        self.running.add(request)

    def finish_turn(self, output) -> tuple[int, str]:
        """Append a finished request's turn (cut after its closing tag and to the room left); its index and text."""
        self.running.discard(output.request_id)
        index = int(output.request_id.split("-")[2])
        sample = output.outputs[0]
        ids = cut_at_stop(self.tokenizer, list(sample.token_ids), self.stop_strings)
        ids = ids[: self.max_length - len(self.completions[index])]
        self.completions[index] += ids
        self.masks[index] += [1] * len(ids)
        if self.logprobs is not None:
            self.logprobs[index] += sampled_logprobs(sample.token_ids, sample.logprobs)[: len(ids)]
        return index, self.tokenizer.decode(ids, skip_special_tokens=True)

    def observe(self, indices: list[int], steps) -> None:
        """The environment's answers to the turns of ``indices``: counts, and the next turn where one follows."""
        for index, step in zip(indices, steps, strict=True):
            self.tool_errors[index] += step.tool_error
            self.truncations[index] += step.truncated
            if step.done or self.turns[index] == self.max_turns - 1:
                continue
            observation, cut = observation_ids(self.tokenizer, step.observation, self.max_observation_tokens)
            self.truncations[index] += cut and not step.truncated
            if len(self.completions[index]) + len(observation) >= self.max_length:
                continue  # no room for the observation and another turn: the rollout ends unanswered
            self.completions[index] += observation
            self.masks[index] += [0] * len(observation)
            if self.logprobs is not None:
                self.logprobs[index] += [0.0] * len(observation)
            self.turns[index] += 1
            self.submit(index)

    def run(self) -> None:
        """Step the engine; hand the turns that ended to one search at a time on a worker thread; take its
        observations when it is done, or wait for it when the engine has nothing else to do."""
        for index in range(len(self.prompt_ids)):
            self.submit(index)
        ready: list[tuple[int, str]] = []
        searching: tuple[list[int], Future] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="infopo-search") as searches:
            while self.running or ready or searching:
                if self.running:
                    ready += [self.finish_turn(output) for output in self.engine.step() if output.finished]
                if searching and (searching[1].done() or not self.running):
                    indices, future = searching
                    searching = None
                    self.observe(indices, future.result())
                if ready and not searching:
                    indices, texts = [index for index, _ in ready], [text for _, text in ready]
                    batch = [self.episodes[index] for index in indices]
                    searching, ready = (indices, searches.submit(step_episodes, batch, texts)), []

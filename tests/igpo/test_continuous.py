"""The continuous tag loop's bookkeeping on a scripted stand-in for vLLM's engine (the real engine runs in
tests/vllm_engine, in its own environment): the same tokens, masks, log-probs and counts as turn-by-turn rollouts,
searches running while the engine generates, and no request left behind on an error."""

import re
import threading
import time
from types import SimpleNamespace

import pytest
from transformers import AutoTokenizer

from infopo.igpo.continuous import continuous_turns
from infopo.igpo.environment import SearchEnvironment, TagEnvironment
from infopo.igpo.turns import cut_at_stop

DOCUMENTS = [f"country{i} capital city{i}" for i in range(8)]
LOGPROB = -0.25
STOPS = ("</search>", "</answer>")


class ScriptedEngine:
    """vLLM's ``LLMEngine`` surface (``add_request``, ``step``, ``abort_request``) over a scripted policy: rollout i
    (named in its prompt) searches ``i % 3`` times, then answers; request r yields ``1 + r % 3`` tokens per step, so
    turns end out of order. ``steps_during_search`` counts the steps made while a search ran."""

    def __init__(self, tokenizer, search_running: threading.Event):
        self.tokenizer, self.search_running = tokenizer, search_running
        self.requests, self.steps_during_search, self.added = {}, 0, 0

    def response(self, context: str) -> list[int]:
        index = int(re.search(r"rollout (\d+)", context).group(1))
        searches = context.count("<information>")
        text = f" <search> country{index}</search>" if searches < index % 3 else f" <answer> city{index}</answer>"
        return self.tokenizer(text + " trailing words", add_special_tokens=False)["input_ids"]

    def add_request(self, request_id, prompt, params):
        context = self.tokenizer.decode(prompt["prompt_token_ids"])
        self.requests[request_id] = [self.response(context)[: params.max_tokens], 0, 1 + self.added % 3]
        self.added += 1

    def abort_request(self, request_ids):
        for request in request_ids:
            self.requests.pop(request, None)

    def step(self):
        self.steps_during_search += self.search_running.is_set()
        outputs = []
        for request, entry in list(self.requests.items()):
            entry[1] = min(entry[1] + entry[2], len(entry[0]))
            if entry[1] == len(entry[0]):
                del self.requests[request]
                ids = entry[0]
                logprobs = [{token: SimpleNamespace(logprob=LOGPROB)} for token in ids]
                sample = SimpleNamespace(token_ids=ids, logprobs=logprobs)
                outputs.append(SimpleNamespace(request_id=request, finished=True, outputs=[sample]))
        return outputs


class SlowSearch(SearchEnvironment):
    """A search that takes 20 ms and marks the event while it runs."""

    running: threading.Event

    def step(self, text):
        self.running.set()
        try:
            time.sleep(0.02)
            return super().step(text)
        finally:
            self.running.clear()


@pytest.fixture(scope="module")
def tokenizer(tiny_qwen2):
    return AutoTokenizer.from_pretrained(tiny_qwen2)


def reference(engine, tokenizer, prompt, episode, max_turns, max_length):
    """One rollout turn by turn, as the per-turn loop builds it."""
    completion, mask, logprobs = [], [], []
    for turn in range(max_turns):
        ids = engine.response(tokenizer.decode(prompt + completion))[:24]
        ids = cut_at_stop(tokenizer, ids, STOPS)[: max_length - len(completion)]
        completion, mask, logprobs = completion + ids, mask + [1] * len(ids), logprobs + [LOGPROB] * len(ids)
        step = episode.step(tokenizer.decode(ids))
        if step.done or turn == max_turns - 1:
            break
        observation = tokenizer(step.observation, add_special_tokens=False)["input_ids"]
        if len(completion) + len(observation) >= max_length:
            break
        completion, mask = completion + observation, mask + [0] * len(observation)
        logprobs += [0.0] * len(observation)
    return completion, mask, logprobs


@pytest.mark.parametrize("max_length", [200, 40])
def test_continuous_turns_build_the_per_turn_rollouts_and_search_while_generating(tokenizer, max_length):
    running = threading.Event()
    engine = ScriptedEngine(tokenizer, running)
    SlowSearch.running = running
    make = SlowSearch.factory(DOCUMENTS, top_k=1)
    prompts = [tokenizer(f"rollout {i}:", add_special_tokens=False)["input_ids"] for i in range(6)]
    episodes = [make() for _ in prompts]
    params = SimpleNamespace(max_tokens=24, logprobs=0)
    result = continuous_turns(
        engine,
        prompts,
        episodes,
        params,
        tokenizer,
        stop_strings=STOPS,
        max_turns=3,
        max_completion_length=max_length,
    )
    assert not engine.requests
    for index, prompt in enumerate(prompts):
        expected = reference(engine, tokenizer, prompt, make(), 3, max_length)
        got = result["completion_ids"][index], result["env_mask"][index], result["logprobs"][index]
        assert got == expected, index
        assert len(got[0]) <= max_length
    text = tokenizer.decode(result["completion_ids"][2])
    if max_length == 200:  # rollout 2 searched twice, saw its documents, then answered
        assert text.count("<information>") == 2 and "country2 capital city2" in text and text.endswith("</answer>")
    assert result["tool_errors"] == [0] * 6 and result["truncated"] == [0] * 6
    assert engine.steps_during_search > 0  # the engine kept generating while a search ran


class Failing(TagEnvironment):
    def step(self, text):
        raise RuntimeError("environment failed")


def test_an_error_aborts_the_requests_still_running(tokenizer):
    engine = ScriptedEngine(tokenizer, threading.Event())
    prompts = [tokenizer(f"rollout {i}:", add_special_tokens=False)["input_ids"] for i in range(4)]
    with pytest.raises(RuntimeError, match="environment failed"):
        continuous_turns(
            engine,
            prompts,
            [Failing() for _ in prompts],
            SimpleNamespace(max_tokens=24, logprobs=None),
            tokenizer,
            stop_strings=STOPS,
            max_turns=3,
            max_completion_length=200,
        )
    assert not engine.requests

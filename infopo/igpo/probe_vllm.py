"""IGPO's probe through the colocated vLLM engine (``IGPOConfig.probe_backend = "vllm"``).

The packed probe (:mod:`infopo.igpo.probe`) scores, for every rollout and every turn boundary b_t, the answer copy
(forcing prefix + answer tokens, :mod:`infopo.igpo.probe_context`) after X[:b_t] in one masked forward of the
training model. Here each (rollout, boundary) is one vLLM request whose prompt is X[:b_t] + answer copy, asking for
``prompt_logprobs`` (``SamplingParams(max_tokens=1, prompt_logprobs=0)``: the log-prob of every prompt token given
the ones before it, from the raw logits) and reading the scored answer tokens' entries. The engine is the one that
generated the rollouts, so X[:b_t] lies in its prefix cache.

Prefix cache (vLLM 0.32, ``vllm/sampling_params.py``, ``SamplingParams.__post_init__``): a request that asks for
prompt log-probs sets ``skip_reading_prefix_cache=True`` unless told otherwise, because the engine computes prompt
log-probs only for the tokens it runs (``GPUModelRunner._get_prompt_logprobs_dict`` starts at the request's
``num_computed_tokens``; the rows before are left unfilled). The probe only needs the last tokens, so it sets
``skip_reading_prefix_cache=False`` (``prefix_cache=True``, the default here): only the tokens past the cached full
blocks are computed. A request whose cache hit reaches into its scored tokens (``RequestOutput.num_cached_tokens``:
an identical request ran before, or the rollout itself wrote the forcing prefix and the answer after b_t) is sent
again without reading the cache. Identical requests (the first boundary of every rollout of a group: the prompt) are
sent once. The requests also set ``detokenize=False``: the unfilled rows (``LogprobsTensors.empty_cpu``, uninitialized
memory) reach the output processor, which would decode their token ids and die on a garbage one
(``vllm/v1/engine/logprobs.py``, ``_update_prompt_logprobs``: ``OverflowError: number too small to fit in target
type``); the probe reads token ids, not text.

The weights vLLM holds are the policy's since the last sync (TRL syncs before each generation): the values are those
of the packed probe up to the precision of vLLM's dtype and kernels (bf16 on TRL's colocate engine, which downcasts a
float32 checkpoint).
"""

from __future__ import annotations

import torch


def probe_requests(trajectories, boundaries, answers):
    """The distinct prompts (token id tuples) to score and, per rollout and boundary, the index of its prompt."""
    prompts: dict[tuple[int, ...], int] = {}
    owners: list[list[int]] = []
    for trajectory, rollout_boundaries, answer in zip(trajectories, boundaries, answers, strict=True):
        row = []
        for boundary in rollout_boundaries:
            key = tuple(trajectory[:boundary]) + tuple(answer)
            row.append(prompts.setdefault(key, len(prompts)))
        owners.append(row)
    return list(prompts), owners


def _score(llm, prompts: list[tuple[int, ...]], first_scored: list[int], prefix_cache: bool, stats: dict):
    """Prompt log-probs of ``prompts`` (position p: log pi(token p | tokens < p)); with the prefix cache, prompts whose
    cached part reaches into their scored tokens (from ``first_scored[i]`` on) are scored again without it."""
    from vllm import SamplingParams

    params = SamplingParams(
        max_tokens=1, prompt_logprobs=0, temperature=1.0, detokenize=False, skip_reading_prefix_cache=not prefix_cache
    )
    outputs = llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params, use_tqdm=False)
    results, again = [], []
    for index, (prompt, output) in enumerate(zip(prompts, outputs, strict=True)):
        cached = output.num_cached_tokens or 0
        stats["prompt_tokens"] += len(prompt)
        stats["cached_tokens"] += cached
        if prefix_cache and first_scored[index] < cached + 1:  # rows up to the cache hit were not computed
            again.append(index)
        results.append(output.prompt_logprobs)
    if again:
        stats["rescored"] += len(again)
        rescored = _score(llm, [prompts[i] for i in again], [first_scored[i] for i in again], False, stats)
        for index, logprobs in zip(again, rescored, strict=True):
            results[index] = logprobs
    return results


@torch.no_grad()
def vllm_answer_logps(
    llm,
    trajectories: list[list[int]],
    boundaries: list[list[int]],
    answers: list[list[int]],
    prefix_lengths: list[int],
    prefix_cache: bool = True,
    stats: dict | None = None,
) -> list[torch.Tensor]:
    """The packed probe's output (:func:`infopo.igpo.probe.packed_answer_logps`) from vLLM's ``llm``: per rollout a
    (turns, answer length - prefix length) float32 tensor of log pi(answer token | X[:b_t], earlier copy tokens).
    ``stats``: filled with ``requests``, ``prompt_tokens``, ``cached_tokens`` (prefix-cache hits), ``rescored``."""
    stats = stats if stats is not None else {}
    stats.update(requests=0, prompt_tokens=0, cached_tokens=0, rescored=0)
    prompts, owners = probe_requests(trajectories, boundaries, answers)
    first_scored = [0] * len(prompts)
    for rollout_boundaries, skip, row in zip(boundaries, prefix_lengths, owners, strict=True):
        for boundary, index in zip(rollout_boundaries, row, strict=True):
            first_scored[index] = boundary + skip
    stats["requests"] = len(prompts)
    scored = _score(llm, prompts, first_scored, prefix_cache, stats) if prompts else []
    results = []
    for rollout_boundaries, answer, skip, row in zip(boundaries, answers, prefix_lengths, owners, strict=True):
        values = torch.empty((len(rollout_boundaries), len(answer) - skip), dtype=torch.float32)
        for turn, (boundary, index) in enumerate(zip(rollout_boundaries, row, strict=True)):
            logprobs = scored[index]
            for j in range(skip, len(answer)):
                entry = logprobs[boundary + j].get(answer[j])
                if entry is None:
                    raise RuntimeError(f"vLLM returned no prompt log-prob for position {boundary + j}")
                values[turn, j - skip] = entry.logprob
        results.append(values)
    return results

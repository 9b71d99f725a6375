"""Benchmark: IGPO's rollout phase on a colocated vLLM engine, (a) the per-turn loop, (b) the continuous loop
(``rollout_loop``), against (c) the engine's own limit, in one run (needs vLLM: the environment of
``make test-vllm``).

Model: ``smollm2:135m-instruct`` through TRL's colocated engine. Rollouts: ``--rollouts`` questions of the demo's kind
(the lookup world, conversational, 80% 2-hop), up to 4 turns of at most 24 tokens, temperature 1 (no per-request
seed: vLLM's CPU backend fails on seeded requests once it preempts, "CPU Generator does not use offset"), BM25 top-3
search over the lookup corpus, answering at once or after ``--latency_ms`` per batched call. (c): one
``LLM.generate`` call with every turn request of (b) (its context as the prompt, exactly as many new tokens, no stop
and no environment). Per round, the sides in alternating order, the prefix cache reset before each; prints
generated tokens per second (each side's own kept turn tokens) and the median ratios b/a and b/c.

    VLLM_CPU_KVCACHE_SPACE=4 VLLM_CPU_CI_ENV=1 NUMBA_NUM_THREADS=1 .venv-vllm/bin/python \\
        scripts/bench/igpo_rollout_engine.py [--rollouts 64] [--rounds 3] [--latency_ms 0 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


class DelayedRetriever:
    """A retriever that answers after ``latency_s`` per batched call (a remote server's round trip)."""

    def __init__(self, retriever, latency_s: float):
        self.retriever, self.latency_s = retriever, latency_s

    def retrieve(self, queries: list[str], k: int) -> list[list[str]]:
        time.sleep(self.latency_s)
        return self.retriever.retrieve(queries, k)


def turn_requests(prompt_ids, completions, masks) -> list[tuple[list[int], int]]:
    """(context, new tokens) of every turn: the context is the prompt and the completion before the turn."""
    requests = []
    for prompt, completion, mask in zip(prompt_ids, completions, masks, strict=True):
        start = None
        for position, bit in enumerate([*mask, 0]):
            if bit and start is None:
                start = position
            elif not bit and start is not None:
                requests.append((list(prompt) + list(completion[:start]), position - start))
                start = None
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency_ms", type=float, nargs="+", default=[0.0, 50.0])
    parser.add_argument("--model", default="smollm2:135m-instruct", help="a model name infopo resolves, or a folder")
    args = parser.parse_args()
    for name, value in (("VLLM_CPU_KVCACHE_SPACE", "1"), ("VLLM_CPU_CI_ENV", "1"), ("NUMBA_NUM_THREADS", "1")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

    from vllm import SamplingParams

    from infopo.data.lookup import lookup_corpus, lookup_questions
    from infopo.igpo.config import IGPOConfig
    from infopo.igpo.environment import SearchEnvironment
    from infopo.igpo.retrieval import BM25Retriever
    from infopo.igpo.trainer import IGPOTrainer
    from infopo.machine import cpu_model
    from infopo.models import resolve_model

    base = BM25Retriever.from_documents(list(lookup_corpus()["text"]))
    retriever = DelayedRetriever(base, 0.0)
    config = IGPOConfig(
        output_dir=tempfile.mkdtemp(),
        per_device_train_batch_size=args.rollouts,  # TRL sizes the engine's max_num_seqs by it
        num_generations=4,
        max_turns=4,
        max_turn_tokens=24,
        max_completion_length=256,
        temperature=1.0,
        vllm_max_model_length=1024,
        use_vllm=True,
        vllm_mode="colocate",
        use_cpu=True,
        bf16=False,
        report_to="none",
        save_strategy="no",
    )
    rows = [dict(row) for row in lookup_questions(args.rollouts, seed=5, conversational=True, two_hop_share=0.8)]
    trainer = IGPOTrainer(
        model=resolve_model(args.model),
        args=config,
        train_dataset=lookup_questions(args.rollouts, seed=1, conversational=True),
        environment_factory=SearchEnvironment.factory(retriever, top_k=3),
    )
    llm = trainer.vllm_generation.llm

    def loop(name: str) -> tuple[float, dict]:
        trainer.args.rollout_loop = name
        trainer._inputs, trainer._rollouts = rows, {}
        llm.reset_prefix_cache()
        started = time.perf_counter()
        result = trainer._tag_rollout([row["prompt"] for row in rows], trainer)
        return time.perf_counter() - started, result

    def engine_limit(requests) -> float:
        params = [SamplingParams(max_tokens=n, min_tokens=n, ignore_eos=True, temperature=1.0) for _, n in requests]
        llm.reset_prefix_cache()
        started = time.perf_counter()
        llm.generate([{"prompt_token_ids": ids} for ids, _ in requests], sampling_params=params, use_tqdm=False)
        return time.perf_counter() - started

    loop("continuous")  # warm-up: the engine's first calls compile and allocate
    print(f"{cpu_model()}; {args.rollouts} rollouts of up to 4 turns x 24 tokens; medians of {args.rounds} rounds")
    for latency in args.latency_ms:
        retriever.latency_s = latency / 1000
        rates: dict[str, list[float]] = {"per_turn": [], "continuous": [], "engine": []}
        for round_index in range(args.rounds):
            order = ["per_turn", "continuous"] if round_index % 2 == 0 else ["continuous", "per_turn"]
            for name in order:
                elapsed, result = loop(name)
                requests = turn_requests(result["prompt_ids"], result["completion_ids"], result["env_mask"])
                tokens = sum(n for _, n in requests)
                rates[name].append(tokens / elapsed)
                if name == "continuous":
                    rates["engine"].append(tokens / engine_limit(requests))
        rates = {name: statistics.median(values) for name, values in rates.items()}
        print(
            f"retriever latency {latency:g} ms: {tokens} tokens in {len(requests)} turn requests; tokens/s "
            f"(a) per-turn {rates['per_turn']:.0f}, (b) continuous {rates['continuous']:.0f}, "
            f"(c) engine limit {rates['engine']:.0f}; b/a {rates['continuous'] / rates['per_turn']:.2f}, "
            f"b/c {rates['continuous'] / rates['engine']:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Benchmark: IGPO's search at corpus scale, against the path it replaces, in one run.

    python scripts/bench/igpo_search.py [--passages 1000000] [--words 100] [--rollouts 256]

A synthetic corpus of ``--passages`` passages of ``--words`` words (Zipf-distributed over a 50,000-word vocabulary,
as JSON lines with a ``contents`` field, like wiki-18.jsonl) and ``--rollouts`` queries of 4 words drawn from random
passages. Each measurement runs in a fresh process (wall time, peak RSS and anonymous memory from /proc):

1. **start-up of a process**: the replaced path (the whole file read as one string, every line parsed, a bm25s index
   built in memory, as every rank did) against loading the prebuilt index folder memory-mapped (``corpus: DIR``),
   measured in a second process after a first one has loaded it (numba's compilation cache warm, the page cache
   shared); the one-off ``infopo search index`` build is printed for reference;
2. **one turn's searches** of ``--rollouts`` rollouts: the replaced path (one search after another) against one
   batched ``retrieve`` call on the loaded index;
3. the same batch **through ``infopo search serve``** over HTTP (a server process on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VOCABULARY = 50_000


def memory() -> dict[str, float]:
    """Peak RSS and current anonymous memory (GB) of this process. RSS counts the pages of memory-mapped files it
    touched, which the page cache shares with every other process mapping them; anonymous memory (its heap) is what
    each process holds alone."""
    import resource

    anonymous = 0
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            anonymous += int(line.split()[1])
    return {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, "anonymous_gb": anonymous / 1e6}


def make_corpus(path: Path, passages: int, words: int, seed: int = 0) -> None:
    import numpy as np

    generator = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocabulary = ["".join(generator.choice(letters, size=generator.integers(3, 10))) for _ in range(VOCABULARY)]
    weights = 1.0 / np.arange(1, VOCABULARY + 1)
    weights /= weights.sum()
    with path.open("w") as handle:
        for start in range(0, passages, 10_000):
            count = min(10_000, passages - start)
            ids = generator.choice(VOCABULARY, size=(count, words), p=weights)
            handle.writelines(
                json.dumps({"id": str(start + row), "contents": " ".join(vocabulary[i] for i in ids[row])}) + "\n"
                for row in range(count)
            )


def make_queries(path: Path, count: int, seed: int = 1) -> list[str]:
    import random

    lines = path.read_bytes().splitlines()
    chooser = random.Random(seed)
    queries = []
    for _ in range(count):
        words = json.loads(lines[chooser.randrange(len(lines))])["contents"].split()
        queries.append(" ".join(chooser.sample(words, 4)))
    return queries


# ---- workers, each in its own process ---------------------------------------------------------------------------


def worker_replaced(corpus: str, queries: list[str]) -> dict:
    """The replaced path: read and parse the whole file, build in memory, then search one query at a time."""
    import bm25s

    started = time.perf_counter()
    documents = [json.loads(line)["contents"] for line in Path(corpus).read_text().splitlines() if line.strip()]
    model = bm25s.BM25()
    model.index(bm25s.tokenize(documents, stopwords=None, show_progress=False), show_progress=False)
    start_s = time.perf_counter() - started
    started = time.perf_counter()
    for query in queries:
        tokens = bm25s.tokenize([query], stopwords=None, show_progress=False)
        indices, _ = model.retrieve(tokens, k=3, show_progress=False)
        [documents[i] for i in indices[0].tolist()]
    return {"start_s": start_s, "sequential_s": time.perf_counter() - started, **memory()}


def worker_build(corpus: str, folder: str) -> dict:
    from infopo.igpo.retrieval import build_index

    started = time.perf_counter()
    build_index(corpus, folder, text_field="contents", progress=False)
    return {"build_s": time.perf_counter() - started, **memory()}


def worker_load(folder: str, queries: list[str]) -> dict:
    started = time.perf_counter()
    from infopo.igpo.retrieval import open_retriever

    imports = memory()["anonymous_gb"]  # infopo, numpy, bm25s and torch (infopo.igpo imports it): before any index
    retriever = open_retriever(folder)
    start_s = time.perf_counter() - started
    after_load = memory()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        retriever.retrieve(queries, 3)
        times.append(time.perf_counter() - started)
    return {
        "start_s": start_s,
        "imports_anonymous_gb": imports,
        "load_anonymous_gb": after_load["anonymous_gb"],
        "batched_s": statistics.median(times),
        **memory(),
    }


def run_worker(name: str, *arguments) -> dict:
    command = [sys.executable, __file__, "--worker", name, json.dumps(arguments)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def http_batched(folder: str, queries: list[str]) -> dict:
    from infopo.igpo.retrieval import HttpRetriever

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "infopo", "search", "serve", "--index", folder, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = HttpRetriever(f"http://127.0.0.1:{port}/retrieve", timeout_s=120)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                client.retrieve(["warm up"], 1)
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start: {server.stderr.read()[-2000:]}") from None
                time.sleep(0.5)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            client.retrieve(queries, 3)
            times.append(time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(60)
    return {"http_batched_s": statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=100)
    parser.add_argument("--rollouts", type=int, default=256)
    parser.add_argument("--workdir", default=None, help="where the corpus and index go (default: a temporary folder)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.worker:
        print(json.dumps(globals()[f"worker_{args.worker}"](*json.loads(rest[0]))))
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="igpo_search_"))
    workdir.mkdir(parents=True, exist_ok=True)
    corpus, folder = workdir / "corpus.jsonl", workdir / "index"
    if not corpus.exists():
        started = time.perf_counter()
        make_corpus(corpus, args.passages, args.words)
        print(
            f"corpus: {args.passages:,} passages of {args.words} words, {corpus.stat().st_size / 1e9:.2f} GB, made "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    queries = make_queries(corpus, args.rollouts)
    replaced = run_worker("replaced", str(corpus), queries)
    print(
        f"replaced path: start-up {replaced['start_s']:.1f} s, peak RSS {replaced['peak_rss_gb']:.2f} GB; "
        f"{args.rollouts} searches one by one {replaced['sequential_s']:.2f} s",
        flush=True,
    )
    if not folder.exists():
        build = run_worker("build", str(corpus), str(folder))
        print(
            f"infopo search index (once): {build['build_s']:.1f} s, peak RSS {build['peak_rss_gb']:.2f} GB", flush=True
        )
    first = run_worker("load", str(folder), queries)
    second = run_worker("load", str(folder), queries)
    print(
        f"index folder, first process: start-up {first['start_s']:.2f} s (numba compiles unless cached); second: "
        f"{second['start_s']:.2f} s; anonymous memory {second['imports_anonymous_gb']:.2f} GB after the imports, "
        f"{second['load_anonymous_gb']:.2f} GB after loading, {second['anonymous_gb']:.2f} GB after searching; "
        f"peak RSS {second['peak_rss_gb']:.2f} GB (shared pages included)",
        flush=True,
    )
    http = http_batched(str(folder), queries)
    print("| what | replaced | infopo | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| start-up of a second process | {replaced['start_s']:.1f} s, {replaced['peak_rss_gb']:.2f} GB | "
        f"{second['start_s']:.2f} s, {second['peak_rss_gb']:.2f} GB RSS ({second['anonymous_gb']:.2f} GB anonymous) | "
        f"**{replaced['start_s'] / second['start_s']:.0f}x** time, "
        f"**{replaced['peak_rss_gb'] / second['anonymous_gb']:.1f}x** memory (anonymous) | <= 5 s, <= 1 GB |"
    )
    print(
        f"| {args.rollouts} rollouts' searches, one turn | {replaced['sequential_s']:.2f} s | "
        f"{second['batched_s']:.3f} s batched | **{replaced['sequential_s'] / second['batched_s']:.0f}x** | >= 20x |"
    )
    print(
        f"| the same through `infopo search serve` | {replaced['sequential_s']:.2f} s | "
        f"{http['http_batched_s']:.3f} s | "
        f"**{replaced['sequential_s'] / http['http_batched_s']:.0f}x** | >= 10x |"
    )


if __name__ == "__main__":
    main()

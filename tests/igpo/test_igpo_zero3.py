"""IGPO across processes: rollouts and probe on ZeRO-3 partitioned weights with unequal work per rank
(deepspeed.initialize, gloo), a group spread over two processes, and a two-process run (torchrun)."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import RECIPES, REPO, run_infopo
from transformers import AutoModelForCausalLM

from infopo.igpo.probe import packed_answer_logps
from infopo.igpo.rewards import probe_values

pytestmark = pytest.mark.slow


def test_a_rank_without_rollouts_keeps_step_and_probe_values_match(tmp_path, tiny_qwen2):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        str(REPO / "tests" / "helpers" / "igpo_zero3.py"),
        str(RECIPES / "accelerate" / "zero3.yaml"),
        tiny_qwen2,
        str(tmp_path),
    ]
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO / "tests" / "helpers")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    busy, idle = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert busy["zero3"] and idle["zero3"]
    assert len(busy["trajectories"]) == 3 and idle["trajectories"] == []
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2).eval()
    answers = [ids for ids, _ in busy["answers"]]
    prefixes = [first for _, first in busy["answers"]]
    expected = packed_answer_logps(model, busy["trajectories"], busy["boundaries"], answers, prefixes)
    for got, logps in zip(busy["probes"], expected, strict=True):
        want = probe_values(logps, torch.ones_like(logps))
        assert got == pytest.approx(want.tolist(), abs=1e-5)


def test_igpo_runs_under_two_processes(tmp_path):
    out = tmp_path / "igpo-2proc"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    args = [
        "igpo",
        "--config",
        RECIPES / "igpo_tiny.yaml",
        "--output_dir",
        out,
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "8",
        "--logging_steps",
        "1",
    ]
    result = run_infopo(args, cwd=REPO, launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0/2 finished" in result.stdout and "rank 1/2 finished" in result.stdout
    assert (out / "igpo_curves.png").is_file() and (out / "README.md").is_file()


def _torchrun(script: str, processes: int, *args) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(processes),
        str(REPO / "tests" / "helpers" / script),
        *map(str, args),
    ]
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO / "tests" / "helpers")}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_a_group_spread_over_two_processes_gets_the_single_process_advantages(tmp_path, tiny_qwen2):
    results = {}
    for processes in (1, 2):
        out = tmp_path / f"p{processes}"
        out.mkdir()
        result = _torchrun("igpo_groups.py", processes, tiny_qwen2, out)
        assert result.returncode == 0, result.stderr[-3000:]
        results[processes] = [json.loads((out / f"rank{r}.json").read_text()) for r in range(processes)]
    single = results[1][0]
    assert single["outcomes"] == [1.0, 0.0, 1.0, 0.0]  # two rows carry a wrong ground truth: the group's rewards differ
    split = results[2][0]["advantages"] + results[2][1]["advantages"]
    assert all(len(turns) == 2 for turns in split)
    assert results[2][0]["outcomes"] == results[2][1]["outcomes"] == single["outcomes"]  # gathered: the whole group
    for got, want in zip(split, single["advantages"], strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    assert abs(split[0][0] - split[1][0]) > 0.1  # not trivially zero

"""IGPO across processes: rollouts and probe on ZeRO-3 partitioned weights with unequal work per rank (deepspeed.initialize, gloo), and a two-process run (torchrun)."""

import json
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM

from conftest import RECIPES, REPO, run_infopo
from infopo.igpo.probe import packed_answer_logps
from infopo.igpo.rewards import probe_values

pytestmark = pytest.mark.slow


def test_a_rank_without_rollouts_keeps_step_and_probe_values_match(tmp_path, tiny_qwen2):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               str(REPO / "tests" / "helpers" / "igpo_zero3.py"), str(RECIPES / "accelerate" / "zero3.yaml"),
               tiny_qwen2, str(tmp_path)]
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO / "tests" / "helpers")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    busy, idle = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert busy["zero3"] and idle["zero3"]
    assert len(busy["trajectories"]) == 3 and idle["trajectories"] == []
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2).eval()
    answers = [ids for ids, _ in busy["answers"]]
    prefixes = [prefix for _, prefix in busy["answers"]]
    expected = packed_answer_logps(model, busy["trajectories"], busy["boundaries"], answers, prefixes)
    for got, logps in zip(busy["probes"], expected, strict=True):
        want = probe_values(logps, torch.ones_like(logps))
        assert got == pytest.approx(want.tolist(), abs=1e-5)


def test_igpo_runs_under_two_processes(tmp_path):
    out = tmp_path / "igpo-2proc"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    args = ["igpo", "--config", RECIPES / "igpo_tiny.yaml", "--output_dir", out, "--max_steps", "2",
            "--per_device_train_batch_size", "8", "--logging_steps", "1"]
    result = run_infopo(args, cwd=REPO, launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0/2 finished" in result.stdout and "rank 1/2 finished" in result.stdout
    assert (out / "igpo_curves.png").is_file() and (out / "README.md").is_file()

"""The DeepSpeed accelerate configs drive a real ZeRO step on CPU (gloo, two ranks, deepspeed.initialize)."""

import json
import subprocess
import sys

import pytest
from conftest import RECIPES, REPO

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("config,stage", [("zero3.yaml", 3), ("zero2.yaml", 2)])
def test_zero_config_trains_a_step_on_two_ranks(tmp_path, tiny_qwen2, config, stage):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        str(REPO / "tests" / "helpers" / "zero_step.py"),
        str(RECIPES / "accelerate" / config),
        tiny_qwen2,
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for report in ranks:
        assert report["stage"] == stage
        assert report["partitioned"] is (stage == 3)  # ZeRO-3 keeps a shard of each weight per rank
        assert report["changed"] and report["shape"] == [128, 64]  # the step updated the gathered full weight
    assert ranks[0]["loss"] == pytest.approx(ranks[1]["loss"])

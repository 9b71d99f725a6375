"""The scan split across two ranks (gloo, CPU) gives every rank the single-process dict, with and without ZeRO-3."""

import json
import subprocess
import sys

import pytest
from transformers import AutoModelForCausalLM

from conftest import RECIPES, REPO
from infopo.kappa import scan_condition_numbers

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["zero3", "ddp"])
def test_every_rank_gets_the_single_process_dict(tmp_path, tiny_qwen2, mode):
    expected = scan_condition_numbers(AutoModelForCausalLM.from_pretrained(tiny_qwen2), progress=False)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               str(REPO / "tests" / "helpers" / "kappa_scan_ranks.py"), mode, tiny_qwen2,
               str(RECIPES / "accelerate" / "zero3.yaml"), str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for report in reports:
        assert report["partitioned"] is (mode == "zero3")
        assert list(report["kappas"]) == list(expected)
        assert report["kappas"] == pytest.approx(expected, rel=1e-12)

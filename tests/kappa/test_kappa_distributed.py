"""The scan split across two ranks (gloo, CPU) gives every rank the single-process dict, with and without ZeRO-3."""

import json
import re
import subprocess
import sys

import pytest
from conftest import RECIPES, REPO, run_infopo
from transformers import AutoModelForCausalLM

from infopo.kappa import scan_condition_numbers, select_by_condition

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["zero3", "ddp"])
def test_every_rank_gets_the_single_process_dict(tmp_path, tiny_qwen2, mode):
    expected = scan_condition_numbers(AutoModelForCausalLM.from_pretrained(tiny_qwen2), progress=False)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        str(REPO / "tests" / "helpers" / "kappa_scan_ranks.py"),
        mode,
        tiny_qwen2,
        str(RECIPES / "accelerate" / "zero3.yaml"),
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for report in reports:
        assert report["partitioned"] is (mode == "zero3")
        assert list(report["kappas"]) == list(expected)
        assert report["kappas"] == pytest.approx(expected, rel=1e-12)


def test_kappa_sft_under_two_processes_selects_what_one_process_selects(tmp_path, tiny_qwen2):
    out = tmp_path / "sft-2proc"
    args = [
        "sft",
        "--config",
        RECIPES / "sft_tiny.yaml",
        "--synthetic_rows",
        "32",
        "--num_train_epochs",
        "1",
        "--output_dir",
        out,
        "--kappa_top_p",
        "0.2",
    ]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    result = run_infopo(args, cwd=REPO, launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0/2 finished" in result.stdout and "rank 1/2 finished" in result.stdout
    expected = select_by_condition(
        scan_condition_numbers(AutoModelForCausalLM.from_pretrained(tiny_qwen2), progress=False), top_p=0.2
    )
    card = (out / "README.md").read_text()
    listed = re.findall(r"^- `([^`]+)` \(", card, flags=re.M)
    assert listed == expected

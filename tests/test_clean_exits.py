"""Every multi-process run ends its process group: the drill (10 two-process runs each of a short DPO under torchrun
and of a ZeRO-3 step under deepspeed.initialize, every exit 0, no gloo abort), and an error on one rank stops both
ranks at once instead of leaving the other in a collective until it times out."""

import sys

import pytest
from conftest import RECIPES, REPO, run_infopo

pytestmark = pytest.mark.slow

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
ABORT = "terminate called"


def test_drill_ten_two_process_dpo_runs_exit_zero(tmp_path, tiny_qwen2):
    for attempt in range(10):
        result = run_infopo(
            [
                "dpo",
                "--config",
                RECIPES / "dpo_tiny.yaml",
                "--synthetic_rows",
                "16",
                "--max_steps",
                "1",
                "--eval_strategy",
                "no",
                "--output_dir",
                tmp_path / f"run{attempt}",
            ],
            cwd=REPO,
            launcher=TORCHRUN,
        )
        assert result.returncode == 0 and ABORT not in result.stderr, (attempt, result.stderr[-3000:])
        assert "rank 1/2 finished" in result.stdout


def test_drill_ten_zero3_steps_exit_zero(tmp_path, tiny_qwen2):
    import subprocess

    helper = REPO / "tests" / "helpers" / "zero_step.py"
    for attempt in range(10):
        out = tmp_path / f"run{attempt}"
        out.mkdir()
        result = subprocess.run(
            [*TORCHRUN, str(helper), str(RECIPES / "accelerate" / "zero3.yaml"), tiny_qwen2, str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0 and ABORT not in result.stderr, (attempt, result.stderr[-3000:])
        assert sorted(p.name for p in out.iterdir()) == ["rank0.json", "rank1.json"]


def test_a_config_error_on_one_rank_stops_both(tmp_path, tiny_qwen2):
    """Rank 1's reward is infinite at the first step: rank 1 prints the one-line error, ends its group and exits 2;
    rank 0, waiting for it in a collective, sees the connection close and fails, and torchrun reports the failure
    within seconds (the collective's own timeout is 30 minutes; the subprocess limit below is 5)."""
    (tmp_path / "rank_reward.py").write_text(
        "import os\n\n\ndef infinite_on_rank_1(completions, **kwargs):\n"
        "    value = float('inf') if os.environ['RANK'] == '1' else 0.0\n"
        "    return [value] * len(completions)\n"
    )
    result = run_infopo(
        [
            "grpo",
            "--config",
            RECIPES / "grpo_tiny.yaml",
            "--reward_funcs",
            "rank_reward.infinite_on_rank_1",
            "--max_steps",
            "2",
            "--output_dir",
            tmp_path / "out",
        ],
        cwd=tmp_path,
        launcher=TORCHRUN,
        timeout=300,
    )
    assert result.returncode != 0
    assert "infopo grpo: error: reward function(s) infinite_on_rank_1 returned an infinite reward" in result.stderr
    assert "exitcode  : 2" in result.stderr, result.stderr[-3000:]  # rank 1's status, as torchrun reports it
    assert ABORT not in result.stderr

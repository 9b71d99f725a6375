"""GAIN-RL under two processes (torchrun, gloo): every rank ranks, draws and updates alike, as one process does."""

import json
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow
HELPER = str(REPO / "tests" / "helpers" / "gainrl_ranks.py")


def test_two_ranks_share_the_schedule_of_one_process(tmp_path, tiny_qwen2):
    single, double = tmp_path / "one", tmp_path / "two"
    for folder, launcher in (
        (single, [sys.executable]),
        (double, [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]),
    ):
        folder.mkdir()
        result = subprocess.run(
            [*launcher, HELPER, tiny_qwen2, str(folder)], capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr[-3000:]
    one = json.loads((single / "rank0.json").read_text())
    ranks = [json.loads((double / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["ranked"] == ranks[1]["ranked"] == one["ranked"]
    assert ranks[0]["state"] == ranks[1]["state"]
    assert ranks[0]["mu_log"] == ranks[1]["mu_log"]
    # acc is 1 everywhere, so mu moves by step * (tanh(2 * 0.5) + tanh(2 * angle)); the angle is gathered, so
    # both ranks moved together; the epoch-1 draw depends on mu only and equals one process's
    assert ranks[0]["state"]["mu"] > 0 and ranks[0]["state"]["epoch"] == one["state"]["epoch"] == 2
    first_epoch_two = sorted(set(sum((r["seen"][s] for r in ranks for s in range(len(r["seen"]) // 2)), [])))
    first_epoch_one = sorted(set(sum(one["seen"][: len(one["seen"]) // 2], [])))
    assert first_epoch_two == first_epoch_one

"""Two-process CPU runs (gloo), launched the ways users launch them: torchrun and accelerate launch."""

import re
import sys

import pytest
from conftest import RECIPES, REPO, run_infopo
from huggingface_hub import ModelCard

from infopo.cli import main

pytestmark = pytest.mark.slow

DPO_ARGS = ["dpo", "--config", RECIPES / "dpo_tiny.yaml", "--synthetic_rows", "32", "--logging_steps", "1"]


def _num_tokens(folder) -> int:
    return int(re.search(r"\| num_tokens \| (\d+) \|", ModelCard.load(folder / "README.md").text).group(1))


@pytest.fixture(scope="module")
def single_process_tokens(tmp_path_factory, tiny_qwen2):
    out = tmp_path_factory.mktemp("single")
    assert main([*map(str, DPO_ARGS), "--output_dir", str(out)]) == 0
    return _num_tokens(out)


@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"], id="torchrun"),
        pytest.param(
            [
                sys.executable,
                "-m",
                "accelerate.commands.launch",
                "--config_file",
                str(RECIPES / "accelerate" / "cpu_2proc.yaml"),
            ],
            id="accelerate",
        ),
    ],
)
def test_two_processes_finish_and_gather_metrics(tmp_path, launcher, single_process_tokens):
    out = tmp_path / "ddp"
    result = run_infopo([*DPO_ARGS, "--output_dir", out], cwd=REPO, launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0/2 finished" in result.stdout and "rank 1/2 finished" in result.stdout
    assert result.stdout.count("infopo dpo: done") == 1  # one summary, from the main process
    assert re.search(r"processes\s+│\s+2", result.stdout)
    # Each rank sees half the pairs; the logged token count matches the single-process run only if it was gathered.
    assert _num_tokens(out) == single_process_tokens

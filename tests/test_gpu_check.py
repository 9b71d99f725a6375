"""The GPU check script stays ready where no GPU is: valid shell, and every command line it would run parses."""

import subprocess
import sys

from conftest import REPO


def test_gpu_check_is_valid_shell_and_its_command_lines_parse(tmp_path):
    assert subprocess.run(["bash", "-n", str(REPO / "scripts" / "gpu_check.sh")]).returncode == 0
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gpu_check.py"), "--dry_run", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("ok  ") == 7 and "grpo_gainrl_qwen2.5-0.5b.yaml" in result.stdout
    assert "igpo_qwen2.5-7b.yaml" in result.stdout

"""Resume without loss for every trainer: stop at a checkpoint, resume in a fresh trainer, and the steps after it
match the uninterrupted run (losses, KappaTune selection, IGPO's rollout metrics)."""

import shutil

import pytest
from conftest import RECIPES

from infopo.cli.dpo import DID_DPO, DPO
from infopo.cli.grpo import GRPO
from infopo.cli.igpo import IGPO
from infopo.cli.train import run_training

pytestmark = pytest.mark.slow

CASES = {
    "dpo+kappa": (DPO, "dpo_tiny.yaml", ["--kappa_top_p", "0.3", "--synthetic_rows", "32"]),
    "did-dpo": (DID_DPO, "did-dpo_tiny.yaml", ["--synthetic_rows", "32", "--did_entropy_steps", "0"]),
    "grpo": (GRPO, "grpo_tiny.yaml", ["--synthetic_rows", "16"]),
    "igpo": (IGPO, "igpo_tiny.yaml", ["--per_device_train_batch_size", "8", "--synthetic_rows", "16"]),
}
COMMON = [
    "--max_steps",
    "4",
    "--save_strategy",
    "steps",
    "--save_steps",
    "2",
    "--logging_steps",
    "1",
    "--eval_strategy",
    "no",
    "--num_train_epochs",
    "1",
]


def logged(trainer, key: str) -> dict[int, float]:
    return {h["step"]: h[key] for h in trainer.state.log_history if key in h}


@pytest.mark.parametrize("case", sorted(CASES))
def test_resumed_run_matches_the_uninterrupted_one(tmp_path, monkeypatch, case):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    command, recipe, extra = CASES[case]
    argv = ["--config", str(RECIPES / recipe), *COMMON, *extra]
    full = run_training(command, [*argv, "--output_dir", str(tmp_path / "full")])
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copytree(tmp_path / "full" / "checkpoint-2", resumed_dir / "checkpoint-2")
    resumed = run_training(command, [*argv, "--output_dir", str(resumed_dir), "--resume_from_checkpoint", "true"])
    assert resumed.state.global_step == 4
    key = "igpo/turns" if case == "igpo" else "loss"
    after, reference = logged(resumed, key), logged(full, key)
    assert set(after) == {1, 2, 3, 4}
    for step in (3, 4):
        assert after[step] == pytest.approx(reference[step], rel=1e-3, abs=1e-5), (step, after, reference)
    if case == "dpo+kappa":
        assert resumed.kappa_selection == full.kappa_selection and full.kappa_selection

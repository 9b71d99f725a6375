"""All four methods in one IGPO run (recipes/igpo_all-four_tiny.yaml, shortened): their hooks, states and card sections
compose, and a resumed run continues every method's state as the uninterrupted run did."""

import shutil

import pytest
import yaml
from conftest import RECIPES
from huggingface_hub import ModelCard

from infopo.cli.igpo import IGPO
from infopo.cli.train import run_training
from infopo.papers import DID, GAIN_RL, KAPPATUNE
from infopo.papers import IGPO as IGPO_PAPER

pytestmark = pytest.mark.slow

RECIPE = RECIPES / "igpo_all-four_tiny.yaml"
SHORT = [
    "--synthetic_rows", "64", "--per_device_train_batch_size", "8", "--gainrl_samples_per_epoch", "4",
    "--greedy_eval_questions", "0", "--did_entropy_steps", "2", "--did_entropy_prompts", "2", "--did_entropy_k", "4",
    "--did_entropy_max_new_tokens", "8", "--max_steps", "4", "--logging_steps", "1", "--save_strategy", "steps",
    "--save_steps", "2",
]  # fmt: skip


def logged(trainer, key: str) -> dict[int, float]:
    return {entry["step"]: entry[key] for entry in trainer.state.log_history if key in entry}


def test_the_recipe_turns_on_all_four_methods():
    fields = yaml.safe_load(RECIPE.read_text())
    assert fields["kappa_top_p"] and fields["gainrl_samples_per_epoch"] and fields["did_entropy_steps"]
    assert fields["gainrl_order"] == "learnability" and "corpus" in fields


def test_all_four_compose_and_resume(tmp_path, monkeypatch, warm_model):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    argv = ["--config", str(RECIPE), *SHORT, "--model_name_or_path", warm_model]
    full = run_training(IGPO, [*argv, "--output_dir", str(tmp_path / "full")])
    # every method acted: a KappaTune selection, GAIN-RL epochs with success counts, DID estimates, IGPO's rollouts
    assert full.kappa_selection and full.did_reference_kind == "frozen copy"
    assert (
        full.gainrl_state.epoch == 2 and sum(full.gainrl_state.trials) == 4 * 4 * 2
    )  # 2 epochs of 4 questions x 4 rollouts
    assert set(logged(full, "did/entropy")) == {2, 4} and set(logged(full, "igpo/turns")) == {1, 2, 3, 4}
    assert all(0 <= value <= 1 for value in logged(full, "did/ordered_frac").values())
    trainable = {name for name, p in full.model.named_parameters() if p.requires_grad}
    assert trainable == set(full.kappa_selection)  # GAIN-RL's and DID's hooks and copy left KappaTune's freeze alone

    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copytree(tmp_path / "full" / "checkpoint-2", resumed_dir / "checkpoint-2")
    resumed = run_training(IGPO, [*argv, "--output_dir", str(resumed_dir), "--resume_from_checkpoint", "true"])
    assert resumed.state.global_step == 4
    assert resumed.kappa_selection == full.kappa_selection
    assert resumed.gainrl_state.epoch == full.gainrl_state.epoch and resumed.gainrl_state.mu == full.gainrl_state.mu
    assert resumed.gainrl_state.trials == full.gainrl_state.trials
    assert resumed.gainrl_state.successes == full.gainrl_state.successes
    for key in ("igpo/turns", "did/entropy", "did/ordered_frac"):
        after, reference = logged(resumed, key), logged(full, key)
        steps = [step for step in reference if step > 2]
        assert steps and all(after[s] == pytest.approx(reference[s], rel=1e-3, abs=1e-5) for s in steps), key

    card = ModelCard.load(tmp_path / "full" / "README.md").text
    for section in (
        "## KappaTune selection",
        "## GAIN-RL data schedule",
        "## Information-gain policy optimization (IGPO)",
        "## Differential information (DID)",
    ):
        assert section in card, section
    for paper in (DID, IGPO_PAPER, GAIN_RL, KAPPATUNE):
        assert paper["id"] in card, paper["title"]

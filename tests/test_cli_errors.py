"""Every command given a missing file, malformed YAML, an unknown field or a data set with the wrong columns fails
fast: exit status 2, one line on stderr that names the problem, no output folder."""

import pytest
from conftest import RECIPES

from infopo.cli import main

TRAINING = {
    "sft": "sft_tiny.yaml",
    "dpo": "dpo_tiny.yaml",
    "did-dpo": "did-dpo_tiny.yaml",
    "grpo": "grpo_tiny.yaml",
    "grpo+gainrl": "grpo_gainrl_tiny.yaml",
    "igpo": "igpo_tiny.yaml",
}
WRONG_DATA = {
    "sft": ("synthetic:arithmetic_prompts", "none of the SFT formats"),
    "dpo": ("synthetic:arithmetic_prompts", "missing column(s) 'chosen', 'rejected'"),
    "did-dpo": ("synthetic:arithmetic_prompts", "missing column(s) 'chosen', 'rejected'"),
    "grpo": ("synthetic:arithmetic_sft", "missing column(s) 'answer'"),
    "grpo+gainrl": ("synthetic:lookup_corpus", "missing column(s) 'prompt'"),
    "igpo": ("synthetic:lookup_corpus", "missing column(s) 'prompt'"),
}


@pytest.fixture(autouse=True)
def no_model_is_built(monkeypatch):
    """Bad input must stop the run before any model is loaded: loading one fails the test."""
    from transformers import PreTrainedModel

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the bad input was reported")

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(refuse))


def fails_fast(argv, capsys, expected: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("infopo")]
    assert code == 2, err
    assert len(lines) == 1 and expected in lines[0], err


@pytest.mark.parametrize("command", sorted(TRAINING))
def test_training_commands_fail_fast_on_bad_input(tmp_path, capsys, command):
    name = command.split("+")[0]
    out = ["--output_dir", str(tmp_path / "never")]
    recipe = str(RECIPES / TRAINING[command])
    fails_fast([name, "--config", str(tmp_path / "missing.yaml"), *out], capsys, "config file not found")
    broken = tmp_path / "broken.yaml"
    broken.write_text("learning_rate: [1e-3\nseed: 0\n")
    fails_fast([name, "--config", str(broken), *out], capsys, "broken.yaml: not valid YAML (line 2, column 5)")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text((RECIPES / TRAINING[command]).read_text() + "\nlerning_rate: 1.0e-3\n")
    fails_fast([name, "--config", str(unknown), *out], capsys, "unknown field(s) 'lerning_rate'")
    dataset, expected = WRONG_DATA[command]
    fails_fast([name, "--config", recipe, "--dataset_name", dataset, "--eval_strategy", "no", *out], capsys, expected)
    fails_fast(
        [name, "--config", recipe, "--dataset_name", str(tmp_path / "absent.jsonl"), *out],
        capsys,
        "dataset file not found",
    )
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["kappa", "scan", "--model", "./no/model"], "model folder not found: ./no/model"),
        (
            [
                "gainrl",
                "score",
                "--model",
                "./no/model",
                "--dataset",
                "synthetic:arithmetic_prompts",
                "--out",
                "x.json",
            ],
            "model folder not found: ./no/model",
        ),
        (
            ["gainrl", "score", "--model", "tiny:qwen2", "--dataset", "absent.jsonl", "--out", "x.json"],
            "dataset file not found",
        ),
        (
            [
                "did",
                "analyze",
                "--model",
                "tiny:qwen2",
                "--ref",
                "tiny:qwen2",
                "--dataset",
                "synthetic:arithmetic_prompts",
            ],
            "missing column(s) 'chosen', 'rejected'",
        ),
        (
            [
                "did",
                "make-pairs",
                "--ref",
                "./no/model",
                "--target",
                "tiny:qwen2",
                "--beta",
                "0.1",
                "--prompts",
                "synthetic:arithmetic_prompts",
            ],
            "model folder not found",
        ),
        (
            ["grpo", "--config", str(RECIPES / "grpo_tiny.yaml"), "--model_name_or_path", "tiny:gpt9"],
            "unknown tiny model 'tiny:gpt9'",
        ),
    ],
    ids=["kappa", "gainrl-model", "gainrl-data", "did-analyze", "did-make-pairs", "tiny-name"],
)
def test_tools_fail_fast_on_bad_input(tmp_path, monkeypatch, capsys, argv, expected):
    monkeypatch.chdir(tmp_path)
    fails_fast(argv, capsys, expected)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--greedy_min_start_success", "1.5"], "greedy_min_start_success must be in [0, 1], got 1.5"),
        (
            ["--greedy_min_start_success", "0.1", "--greedy_eval_questions", "0"],
            "greedy_min_start_success needs greedy_eval_questions > 0",
        ),
    ],
    ids=["out-of-range", "no-evaluation"],
)
def test_the_start_floor_is_checked_before_any_model(tmp_path, capsys, flags, expected):
    """The demo's floor on the start's greedy success (``greedy_min_start_success``) cannot be one that never
    applies: out of [0, 1], or without the start evaluation it reads."""
    argv = ["igpo", "--config", str(RECIPES / "igpo_tiny.yaml"), "--output_dir", str(tmp_path / "never"), *flags]
    fails_fast(argv, capsys, expected)

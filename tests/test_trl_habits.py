"""The surface a TRL user meets: cards whose recipes rerun, merged tags, configs left untouched, reward modules from
the working folder, trackers checked up front, help that names --config (real short runs on the tiny model)."""

import re
import sys

import pytest
import yaml
from conftest import RECIPES
from huggingface_hub import ModelCard

from infopo import (
    DIDDPOConfig,
    DIDDPOTrainer,
    IGPOConfig,
    IGPOTrainer,
    InfopoDPOConfig,
    InfopoDPOTrainer,
    InfopoGRPOConfig,
    InfopoGRPOTrainer,
    InfopoSFTConfig,
    InfopoSFTTrainer,
)
from infopo.cli import main
from infopo.data import arithmetic_preference, arithmetic_prompts, arithmetic_sft
from infopo.data.synthetic import SYNTHETIC_TASKS
from infopo.errors import InfopoConfigError
from infopo.recipe import _plain_fields
from infopo.rewards import answer_match

pytestmark = pytest.mark.slow

CPU = dict(
    use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True
)
SHORT = dict(max_steps=1, logging_steps=1, seed=0)


def card_recipe(folder) -> dict:
    text = ModelCard.load(folder / "README.md").text
    return yaml.safe_load(re.search(r"## Recipe.*?```yaml\n(.*?)```", text, flags=re.S).group(1))


def rerun(command: str, recipe: dict, folder) -> None:
    """The card's recipe as a file, run again by the command line (into another folder)."""
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main([command, "--config", str(path), "--output_dir", str(folder / "again"), "--max_steps", "1"]) == 0


PYTHON_RUNS = {
    "sft": lambda out, model: InfopoSFTTrainer(
        model=model,
        args=InfopoSFTConfig(
            output_dir=str(out), kappa_num=3, max_length=64, model_init_kwargs={"dtype": "float32"}, **SHORT, **CPU
        ),
        train_dataset=arithmetic_sft(16),
    ),
    "dpo": lambda out, model: InfopoDPOTrainer(
        model=model,
        args=InfopoDPOConfig(output_dir=str(out), max_length=64, per_device_train_batch_size=4, **SHORT, **CPU),
        train_dataset=arithmetic_preference(16, conversational=True),
    ),
    "did-dpo": lambda out, model: DIDDPOTrainer(
        model=model,
        args=DIDDPOConfig(
            output_dir=str(out),
            max_length=64,
            per_device_train_batch_size=4,
            did_entropy_steps=1,
            did_entropy_k=2,
            did_entropy_prompts=1,
            did_entropy_max_new_tokens=4,
            **SHORT,
            **CPU,
        ),
        train_dataset=arithmetic_preference(16),
    ),
    "grpo": lambda out, model: InfopoGRPOTrainer(
        model=model,
        reward_funcs=[answer_match],
        args=InfopoGRPOConfig(
            output_dir=str(out),
            per_device_train_batch_size=4,
            num_generations=4,
            max_completion_length=8,
            gainrl_samples_per_epoch=4,
            **SHORT,
            **CPU,
        ),
        train_dataset=arithmetic_prompts(16),
    ),
    "igpo": lambda out, model: IGPOTrainer(
        model=model,
        args=IGPOConfig(
            output_dir=str(out),
            per_device_train_batch_size=4,
            num_generations=4,
            max_turns=2,
            max_turn_tokens=8,
            max_completion_length=64,
            **SHORT,
            **CPU,
        ),
        train_dataset=SYNTHETIC_TASKS["lookup_held_out_questions"](16),
    ),
}


@pytest.mark.parametrize("command", list(PYTHON_RUNS))
def test_python_api_cards_name_things_leave_the_config_alone_and_rerun(command, tmp_path, tiny_qwen2):
    out = tmp_path / command
    build = PYTHON_RUNS[command]
    trainer = build(out, tiny_qwen2)
    before = _plain_fields(trainer.args)
    trainer.train()
    assert _plain_fields(trainer.args) == before  # never mutate the user's config (model_init_kwargs included)
    trainer.save_model()
    trainer.create_model_card(tags=["custom-tag"])
    card = ModelCard.load(out / "README.md")
    assert {"infopo", command, "trl", "custom-tag"} <= set(card.data.tags) and card.data.license == "apache-2.0"
    assert "- Base model: `tiny:qwen2`" in card.text and "Training data: `synthetic:" in card.text
    assert "Cite TRL as:" in card.text and "```bibtex" in card.text
    recipe = card_recipe(out)
    assert "accelerator_config" not in recipe and "debug" not in recipe and "generation_batch_size" not in recipe
    assert recipe["model_name_or_path"] == "tiny:qwen2"
    if command == "sft":  # KappaTune loads the model with them: they stay in the config and the recipe
        assert recipe["model_init_kwargs"] == {"dtype": "float32"} and trainer.args.model_init_kwargs is not None
    rerun(command, recipe, tmp_path)


def test_each_method_card_cites_its_own_paper_with_its_settings(tmp_path, tiny_qwen2):
    for command, paper, section in [
        ("did-dpo", "2505.23761", "Differential information (DID)"),
        ("igpo", "2510.14967", "Information-gain policy optimization (IGPO)"),
        ("grpo", "2506.02281", "GAIN-RL data schedule"),
        ("sft", "2506.16289", "KappaTune selection"),
    ]:
        trainer = PYTHON_RUNS[command](tmp_path / command, tiny_qwen2)
        trainer.train()
        trainer.create_model_card()
        text = (tmp_path / command / "README.md").read_text()
        assert f"huggingface.co/papers/{paper}" in text and f"eprint        = {{{paper}}}" in text
        assert f"## {section}" in text
    did = (tmp_path / "did-dpo" / "README.md").read_text()
    assert "| did/entropy_per_token |" in did and "| did/sample_length |" in did and "K = 2" in did
    igpo = (tmp_path / "igpo" / "README.md").read_text()
    assert "SearchEnvironment" in igpo and "environment.step(text)" in igpo and "| igpo/turns |" in igpo


def test_the_igpo_quick_start_runs(tmp_path, tiny_qwen2):
    trainer = PYTHON_RUNS["igpo"](tmp_path / "igpo", tiny_qwen2)
    trainer.save_model()
    trainer.create_model_card()
    text = (tmp_path / "igpo" / "README.md").read_text()
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", text, flags=re.S).group(1)
    code = code.replace("path/to/this/folder", str(tmp_path / "igpo"))
    exec(compile(code, "card", "exec"), {})  # a search loop with the tag protocol, on the saved model


@pytest.mark.parametrize(
    "command,recipe,extra",
    [
        ("sft", "sft_tiny.yaml", ["--kappa_num", "2"]),
        ("dpo", "dpo_tiny.yaml", []),
        ("did-dpo", "did-dpo_tiny.yaml", ["--did_entropy_steps", "1", "--did_entropy_k", "2"]),
        ("grpo", "grpo_gainrl_tiny.yaml", ["--gainrl_samples_per_epoch", "4"]),
        ("igpo", "igpo_tiny.yaml", ["--per_device_train_batch_size", "4"]),
    ],
)
def test_command_line_cards_rerun(command, recipe, extra, tmp_path):
    out = tmp_path / "first"
    assert (
        main(
            [
                command,
                "--config",
                str(RECIPES / recipe),
                "--output_dir",
                str(out),
                "--max_steps",
                "1",
                "--synthetic_rows",
                "16",
                "--eval_strategy",
                "no",
                *extra,
            ]
        )
        == 0
    )
    rerun(command, card_recipe(out), tmp_path)


def test_a_reward_module_in_the_working_folder_loads(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(
        "def contains_answer(completions, answer, **kwargs):\n"
        "    return [float(str(a) in c) for c, a in zip(completions, answer)]\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert (
        main(
            [
                "grpo",
                "--config",
                str(RECIPES / "grpo_tiny.yaml"),
                "--reward_funcs",
                "my_rewards.contains_answer",
                "--output_dir",
                str(tmp_path / "out"),
                "--max_steps",
                "1",
                "--synthetic_rows",
                "8",
            ]
        )
        == 0
    )
    assert "| rewards/contains_answer/mean |" in (tmp_path / "out" / "README.md").read_text()


def test_a_missing_tracker_and_a_conflicting_peft_config_fail_before_any_model(tmp_path, capsys, tiny_qwen2):
    from peft import LoraConfig

    if "tensorboard" not in sys.modules and __import__("importlib").util.find_spec("tensorboard") is None:
        assert (
            main(
                [
                    "dpo",
                    "--config",
                    str(RECIPES / "dpo_tiny.yaml"),
                    "--report_to",
                    "tensorboard",
                    "--model_name_or_path",
                    "./no/model/here",
                ]
            )
            == 2
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "report_to 'tensorboard' needs the package tensorboard" in err[0]
    with pytest.raises(
        InfopoConfigError, match=r"takes no LoRA adapters: drop the peft config \(peft_config= in Python"
    ):
        InfopoDPOTrainer(
            model="./no/model/here",
            args=InfopoDPOConfig(output_dir=str(tmp_path), kappa_num=2, **CPU),
            train_dataset=arithmetic_preference(4),
            peft_config=LoraConfig(r=4),
        )


def test_help_names_the_config_flag(capsys):
    with pytest.raises(SystemExit):
        main(["dpo", "--help"])
    assert "--config recipe.yaml" in capsys.readouterr().out

"""Real short training runs through the command line on the tiny model (seconds each)."""

import json
import re

import pytest
import torch
from conftest import RECIPES
from huggingface_hub import HfApi, ModelCard
from safetensors.torch import load_file

from infopo.cli import main
from infopo.cli.sft import SFT
from infopo.cli.train import run_training
from infopo.data import arithmetic_preference

pytestmark = pytest.mark.slow

DPO_TINY = str(RECIPES / "dpo_tiny.yaml")
GRPO_TINY = str(RECIPES / "grpo_tiny.yaml")


def test_dpo_recipe_trains_saves_and_writes_card(tmp_path, tiny_qwen2, capsys):
    out = tmp_path / "dpo"
    assert main(["dpo", "--config", DPO_TINY, "--output_dir", str(out), "--synthetic_rows", "64"]) == 0
    assert {"model.safetensors", "tokenizer.json", "config.json", "README.md"} <= {p.name for p in out.iterdir()}
    trained = load_file(out / "model.safetensors")
    base = load_file(f"{tiny_qwen2}/model.safetensors")
    assert not torch.equal(trained["model.layers.0.mlp.up_proj.weight"], base["model.layers.0.mlp.up_proj.weight"])
    card = ModelCard.load(out / "README.md")
    assert {"infopo", "dpo", "trl"} <= set(card.data.tags) and card.data.library_name == "trl"
    assert "synthetic_rows: 64" in card.text and "model_name_or_path: tiny:qwen2" in card.text
    assert "| rewards/accuracies |" in card.text and "| train_loss |" in card.text
    summary = capsys.readouterr().out
    assert "infopo dpo: done" in summary
    assert re.search(r"steps\s+│\s+24\s", summary)  # 64 rows / batch 8 x 3 epochs
    assert "eval_rewards/accuracies" in summary  # the recipe evaluates on the held-out split


def test_dpo_with_lora_on_conversational_pairs(tmp_path):
    out = tmp_path / "dpo-lora"
    args = [
        "dpo",
        "--config",
        DPO_TINY,
        "--output_dir",
        str(out),
        "--synthetic_rows",
        "16",
        "--conversational",
        "true",
        "--use_peft",
        "true",
        "--lora_r",
        "4",
        "--lora_target_modules",
        "q_proj",
        "v_proj",
    ]
    assert main(args) == 0
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and set(adapter["target_modules"]) == {"q_proj", "v_proj"}
    assert "use_peft: true" in (out / "README.md").read_text()


def test_grpo_recipe_trains_with_rewards(tmp_path):
    out = tmp_path / "grpo"
    assert main(["grpo", "--config", GRPO_TINY, "--output_dir", str(out), "--synthetic_rows", "8"]) == 0
    card = ModelCard.load(out / "README.md")
    assert "grpo" in card.data.tags and "- answer_match" in card.text
    assert "| reward |" in card.text and "| rewards/answer_match/mean |" in card.text


def test_bad_inputs_fail_before_training(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    arithmetic_preference(4).remove_columns("rejected").to_json(str(pairs))
    out = tmp_path / "never"

    def run(*extra):
        code = main(["dpo", "--config", DPO_TINY, "--output_dir", str(out), *extra])
        return code, capsys.readouterr().err

    code, err = run("--dataset_name", str(pairs))
    assert code == 2 and "no split 'test' (needed for evaluation, eval_strategy: epoch" in err
    code, err = run("--dataset_name", str(pairs), "--eval_strategy", "no")
    assert code == 2 and "missing column(s) 'rejected' needed by DPO" in err
    code, err = run("--dataset_name", str(tmp_path / "absent.jsonl"))
    assert code == 2 and "dataset file not found" in err and "absent.jsonl" in err
    code, err = run("--model_name_or_path", "./no/such/model")
    assert code == 2 and "model folder not found: ./no/such/model" in err
    code, err = run("--dataset_train_split", "training")
    assert code == 2 and "no split 'training'" in err
    code, err = run("--dataset_streaming", "true")
    assert code == 2 and "dataset_streaming: true is not supported" in err
    assert not out.exists()

    code = main(
        ["grpo", "--config", GRPO_TINY, "--output_dir", str(out), "--dataset_name", "synthetic:arithmetic_preference"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "missing column(s) 'answer' needed by reward answer_match" in err
    code = main(["grpo", "--config", GRPO_TINY, "--output_dir", str(out), "--reward_funcs", "my_rewards.missing"])
    assert code == 2 and "reward_funcs: cannot load 'my_rewards.missing'" in capsys.readouterr().err
    assert not out.exists()


def test_sft_accepts_its_three_formats_and_names_them_when_none_fits(tmp_path, capsys):
    out = tmp_path / "sft"
    args = [
        "sft",
        "--config",
        str(RECIPES / "sft_tiny.yaml"),
        "--output_dir",
        str(out),
        "--synthetic_rows",
        "16",
        "--num_train_epochs",
        "1",
    ]
    assert main([*args, "--conversational", "true"]) == 0
    card = ModelCard.load(out / "README.md")
    assert "sft" in card.data.tags and "| eval_loss |" in card.text
    code = main([*args, "--dataset_name", "synthetic:arithmetic_prompts"])
    err = capsys.readouterr().err
    assert (
        code == 2
        and "none of the SFT formats (prompt+turns+observations or prompt+completion or messages or text)" in err
    )


def test_igpo_recipe_runs_through_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    out = tmp_path / "igpo"
    args = [
        "igpo",
        "--config",
        str(RECIPES / "igpo_tiny.yaml"),
        "--output_dir",
        str(out),
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "8",
        "--logging_steps",
        "1",
    ]
    assert main(args) == 0
    card = ModelCard.load(out / "README.md")
    assert (
        "igpo" in card.data.tags
        and "| igpo/format_error_frac |" in card.text
        and "corpus: synthetic:lookup_corpus" in card.text
    )
    printed = capsys.readouterr().out
    assert "info gain" in printed and "success" in printed and (out / "igpo_curves.png").stat().st_size > 0


def test_sft_trains_on_agent_trajectories_turns_only(tmp_path):
    out = tmp_path / "warm"
    args = [
        "--config",
        str(RECIPES / "sft_igpo-warmstart_tiny.yaml"),
        "--output_dir",
        str(out),
        "--max_steps",
        "2",
        "--synthetic_rows",
        "64",
        "--per_device_train_batch_size",
        "8",
        "--logging_steps",
        "1",
    ]
    trainer = run_training(SFT, args)
    row = trainer.train_dataset[0]
    labels = [label for label in row["labels"] if label != -100]
    text = trainer.processing_class.decode(labels)
    assert text.startswith(" <search> ") and "</answer>" in text and "<information>" not in text
    assert (out / "model.safetensors").is_file()


def test_the_demo_runs_shortened(tmp_path, monkeypatch, capsys):
    """``make demo``'s two commands, as the Makefile writes them, with fewer steps and rows: the warm start, then IGPO
    from it with the greedy held-out evaluation before and after, printed, logged and drawn."""
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    makefile = (RECIPES.parent / "Makefile").read_text()
    demo = makefile.split("\ndemo:")[1].split("\n\n")[0]
    commands = [line.split("/infopo ", 1)[1].split() for line in demo.splitlines()[1:]]
    assert [command[0] for command in commands] == ["sft", "igpo"]
    warm, igpo = tmp_path / "warm", tmp_path / "igpo"
    shorten = [
        "--max_steps",
        "2",
        "--synthetic_rows",
        "64",
        "--per_device_train_batch_size",
        "8",
        "--logging_steps",
        "1",
    ]
    assert main([*commands[0], *shorten, "--output_dir", str(warm)]) == 0
    igpo_args = [*commands[1], *shorten, "--output_dir", str(igpo), "--greedy_eval_questions", "8"]
    igpo_args[igpo_args.index("--model_name_or_path") + 1] = str(warm)
    # Two warm-start steps teach nothing: the demo's floor refuses the start before any RL step, in one line.
    assert main(igpo_args) == 2
    refusal = capsys.readouterr().err.strip().splitlines()[-1]
    assert refusal.startswith("infopo igpo: error: the start model does not answer: greedy success 0.000 on 8")
    assert "the warm start did not learn the task" in refusal and not (igpo / "model.safetensors").exists()
    assert main([*igpo_args, "--greedy_min_start_success", "0"]) == 0
    printed = capsys.readouterr().out
    assert "greedy held-out success at the start of training" in printed
    assert "greedy held-out success at the end of training" in printed and "(8 questions;" in printed
    card = ModelCard.load(igpo / "README.md")
    assert "igpo/greedy_success_start" in card.text and "igpo/greedy_success_end" in card.text
    assert (igpo / "igpo_curves.png").stat().st_size > 0


def test_push_to_hub_uploads_the_folder_with_its_card(tmp_path, monkeypatch):
    """Everything up to the Hub calls is real; create_repo and upload_folder are recorded instead of sent."""
    from huggingface_hub import RepoUrl

    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id))
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        card = ModelCard.load(f"{folder_path}/README.md")
        files = sorted(p.name for p in __import__("pathlib").Path(folder_path).iterdir())
        calls.append(("upload_folder", repo_id, str(folder_path), card, files))

    from huggingface_hub import constants

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as online; the two calls above are the test double
    out = tmp_path / "pushed"
    args = [
        "dpo",
        "--config",
        DPO_TINY,
        "--output_dir",
        str(out),
        "--synthetic_rows",
        "16",
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "someone/tiny-dpo",
    ]
    assert main(args) == 0
    assert calls[0] == ("create_repo", "someone/tiny-dpo")
    uploads = [c for c in calls if c[0] == "upload_folder"]
    assert len(uploads) == 1
    _, repo_id, folder, card, files = uploads[0]
    assert repo_id == "someone/tiny-dpo" and folder == str(out)
    assert {"model.safetensors", "tokenizer.json", "README.md"} <= set(files)
    assert "infopo" in card.data.tags and 'model="someone/tiny-dpo"' in card.text
    assert "hub_model_id: someone/tiny-dpo" in card.text and "| train_loss |" in card.text

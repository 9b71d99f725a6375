"""KappaTune inside real short training runs, through the command line and the Python API."""

import json

import pytest
import torch
from conftest import RECIPES
from huggingface_hub import ModelCard
from safetensors.torch import load_file

from infopo.cli import main
from infopo.kappa import export_unfrozen_yaml, scan_condition_numbers, select_by_condition
from infopo.models import resolve_model

pytestmark = pytest.mark.slow

SFT = [
    "sft",
    "--config",
    str(RECIPES / "sft_tiny.yaml"),
    "--synthetic_rows",
    "32",
    "--num_train_epochs",
    "1",
    "--logging_steps",
    "1",
]


def _base_weights(model_path):
    return load_file(f"{model_path}/model.safetensors")


def _expected_selection(model_path, **budget):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path)
    return select_by_condition(scan_condition_numbers(model, progress=False), **budget)


def test_full_mode_changes_only_the_selected_tensors(tmp_path, tiny_qwen2):
    out = tmp_path / "sft-kappa"
    assert main([*SFT, "--output_dir", str(out), "--kappa_top_p", "0.2"]) == 0
    selected = _expected_selection(tiny_qwen2, top_p=0.2)
    assert len(selected) == 3  # int(15 * 0.2)
    before, after = _base_weights(tiny_qwen2), load_file(out / "model.safetensors")
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == set(selected)
    card = ModelCard.load(out / "README.md").text
    assert "## KappaTune selection" in card and "kappa_top_p = 0.2, lowest kappa, mode `full`" in card
    assert all(f"`{name}`" in card for name in selected)
    assert "| kappa/selected | 3 |" in card  # logged with the first step, so in the final metrics too


def test_lora_mode_in_dpo_targets_the_selected_modules(tmp_path, tiny_qwen2):
    out = tmp_path / "dpo-kappa-lora"
    args = [
        "dpo",
        "--config",
        str(RECIPES / "dpo_tiny.yaml"),
        "--synthetic_rows",
        "16",
        "--num_train_epochs",
        "1",
        "--output_dir",
        str(out),
        "--kappa_num",
        "2",
        "--kappa_mode",
        "lora",
        "--lora_r",
        "4",
    ]
    assert main(args) == 0
    selected = _expected_selection(tiny_qwen2, num=2)
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == sorted(name.removesuffix(".weight") for name in selected)
    assert adapter["r"] == 4


def test_highest_kappa_control_in_grpo(tmp_path, tiny_qwen2):
    out = tmp_path / "grpo-control"
    args = [
        "grpo",
        "--config",
        str(RECIPES / "grpo_tiny.yaml"),
        "--synthetic_rows",
        "8",
        "--output_dir",
        str(out),
        "--kappa_num",
        "1",
        "--kappa_lowest",
        "false",
        "--beta",
        "0.0",
    ]
    assert main(args) == 0
    (highest,) = _expected_selection(tiny_qwen2, num=1, lowest=False)
    assert "q_proj" in highest or "o_proj" in highest  # square attention weights are the ill-conditioned ones here
    before, after = _base_weights(tiny_qwen2), load_file(out / "model.safetensors")
    assert {n for n in before if not torch.equal(before[n], after[n])} <= {highest}
    assert "highest (the paper's control)" in (out / "README.md").read_text()


def test_selection_from_an_unfrozen_yaml(tmp_path, tiny_qwen2):
    names = ["model.layers.1.mlp.up_proj.weight"]
    selection = export_unfrozen_yaml(names, tmp_path / "unfrozen.yaml")
    out = tmp_path / "from-yaml"
    assert main([*SFT, "--output_dir", str(out), "--kappa_unfrozen_yaml", str(selection)]) == 0
    before, after = _base_weights(tiny_qwen2), load_file(out / "model.safetensors")
    assert {n for n in before if not torch.equal(before[n], after[n])} == set(names)


def test_kappa_errors_come_before_training(tmp_path, capsys):
    out = tmp_path / "never"
    missing = export_unfrozen_yaml(["model.layers.7.mlp.up_proj.weight"], tmp_path / "wrong.yaml")
    cases = [
        (["--kappa_top_p", "0.2", "--use_peft", "true"], "kappa_mode 'full' trains the selected tensors themselves"),
        (["--kappa_unfrozen_yaml", str(missing)], "not in the model: model.layers.7.mlp.up_proj.weight"),
        (["--kappa_top_p", "0.2", "--kappa_max_dim", "1"], "no tensor of the model is eligible"),
        (["--kappa_top_p", "0.2", "--kappa_num", "3"], "exactly one budget of kappa_top_p, kappa_num"),
    ]
    for extra, message in cases:
        assert main([*SFT, "--output_dir", str(out), *extra]) == 2
        assert message in capsys.readouterr().err
    assert not out.exists()


def test_kappa_scan_command_writes_json_yaml_and_png(tmp_path):
    out = tmp_path / "scan"
    cache = tmp_path / "cache.json"
    assert (
        main(
            [
                "kappa",
                "scan",
                "--model",
                "tiny:llama",
                "--output_dir",
                str(out),
                "--num",
                "4",
                "--cache",
                str(cache),
                "--no_progress",
            ]
        )
        == 0
    )
    kappas = json.loads((out / "kappas.json").read_text())
    expected = _expected_selection(resolve_model("tiny:llama"), num=4)
    assert len(kappas) == 15 and select_by_condition(kappas, num=4) == expected
    assert (out / "unfrozen_parameters.yaml").read_text().count("- ^") == 4
    assert (out / "kappa_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(json.loads(cache.read_text())["entries"]) == set(kappas)

import math

import pytest
from peft import LoraConfig, get_peft_model

from infopo.configs import InfopoDPOConfig
from infopo.errors import InfopoConfigError
from infopo.kappa import apply_selection, export_unfrozen_yaml, load_unfrozen_yaml, select_by_condition
from infopo.tiny import build_tiny_model

KAPPAS = {"d": 4.0, "a": 2.0, "c": 2.0, "b": 9.0, "e": math.inf, "f": 1.5, "g": 30.0, "h": 7.0, "i": 5.0, "j": 3.0}


def test_top_p_num_threshold_sorted_with_ties_by_name():
    assert select_by_condition(KAPPAS, top_p=0.3) == ["f", "a", "c"]  # k = int(10 * 0.3)
    assert select_by_condition(KAPPAS, top_p=0.01) == ["f"]  # at least one
    assert select_by_condition(KAPPAS, num=4) == ["f", "a", "c", "j"]
    assert select_by_condition(KAPPAS, threshold=3.0) == ["f", "a", "c", "j"]


def test_highest_is_the_control_and_inf_is_never_selected():
    assert select_by_condition(KAPPAS, num=2, lowest=False) == ["g", "b"]
    assert select_by_condition(KAPPAS, threshold=9.0, lowest=False) == ["g", "b"]
    assert "e" not in select_by_condition(KAPPAS, top_p=1.0)
    assert len(select_by_condition(KAPPAS, top_p=1.0)) == 9


@pytest.mark.parametrize(
    "budget,message",
    [
        ({}, "exactly one budget .* got none"),
        ({"top_p": 0.2, "num": 3}, "got top_p, num"),
        ({"top_p": 0.0}, "top_p must be in \\(0, 1\\]"),
        ({"top_p": 1.5}, "top_p must be in \\(0, 1\\]"),
        ({"num": 0}, "num must be at least 1"),
        ({"threshold": -1.0}, "threshold must be positive"),
    ],
)
def test_bad_budgets_are_named(budget, message):
    with pytest.raises(InfopoConfigError, match=message):
        select_by_condition(KAPPAS, **budget)


def test_config_fields_are_checked_when_the_config_is_built():
    base = dict(output_dir="x", use_cpu=True, bf16=False)
    assert not InfopoDPOConfig(**base).kappa_enabled
    assert InfopoDPOConfig(**base, kappa_top_p=0.2).kappa_enabled
    with pytest.raises(ValueError, match="got kappa_top_p, kappa_num"):
        InfopoDPOConfig(**base, kappa_top_p=0.2, kappa_num=2)
    with pytest.raises(ValueError, match="kappa_top_p must be in"):
        InfopoDPOConfig(**base, kappa_top_p=2.0)
    with pytest.raises(ValueError, match="kappa_mode must be one of full, lora"):
        InfopoDPOConfig(**base, kappa_top_p=0.2, kappa_mode="half")
    with pytest.raises(ValueError, match="kappa_unfrozen_yaml replaces the scan"):
        InfopoDPOConfig(**base, kappa_top_p=0.2, kappa_unfrozen_yaml="x.yaml")


def test_full_mode_trains_exactly_the_selection():
    model = build_tiny_model("llama", seed=0)
    names = ["model.layers.0.mlp.up_proj.weight", "model.layers.1.self_attn.v_proj.weight"]
    assert apply_selection(model, names, "full") is None
    assert [n for n, p in model.named_parameters() if p.requires_grad] == sorted(
        names, key=[n for n, _ in model.named_parameters()].index
    )


def test_lora_mode_targets_exactly_the_selected_modules():
    model = build_tiny_model("llama", seed=0)
    names = ["model.layers.1.mlp.down_proj.weight", "model.layers.0.self_attn.q_proj.weight"]
    config = apply_selection(model, names, "lora", LoraConfig(r=4, lora_alpha=8, target_modules=["x"]))
    assert config.r == 4 and config.target_modules == [
        "model.layers.1.mlp.down_proj",
        "model.layers.0.self_attn.q_proj",
    ]
    assert all(p.requires_grad for p in model.parameters())  # the model is left for peft to wrap
    wrapped = get_peft_model(model, config)
    adapted = {
        n.split(".lora_")[0].removeprefix("base_model.model.") for n, _ in wrapped.named_parameters() if "lora_" in n
    }
    assert adapted == {"model.layers.1.mlp.down_proj", "model.layers.0.self_attn.q_proj"}


def test_unknown_or_empty_selection_is_an_error():
    model = build_tiny_model("qwen2", seed=0)
    with pytest.raises(InfopoConfigError, match="not in the model: model.layers.9.mlp.up_proj.weight"):
        apply_selection(model, ["model.layers.9.mlp.up_proj.weight"])
    with pytest.raises(InfopoConfigError, match="selection is empty"):
        apply_selection(model, [])
    with pytest.raises(InfopoConfigError, match="mode must be one of"):
        apply_selection(model, ["model.embed_tokens.weight"], "half")


def test_unfrozen_yaml_round_trip_in_spectrum_format(tmp_path):
    names = ["model.layers.0.mlp.up_proj.weight", "model.embed_tokens.weight"]
    path = export_unfrozen_yaml(names, tmp_path / "sel" / "unfrozen.yaml")
    assert path.read_text().splitlines() == [
        "unfrozen_parameters:",
        "- ^model.layers.0.mlp.up_proj.weight$",
        "- ^model.embed_tokens.weight$",
    ]
    assert load_unfrozen_yaml(path) == names
    escaped = tmp_path / "axolotl.yaml"
    escaped.write_text("unfrozen_parameters:\n- ^model\\.layers\\.0\\.mlp\\.up_proj\\.weight$\n")
    assert load_unfrozen_yaml(escaped) == ["model.layers.0.mlp.up_proj.weight"]


def test_unfrozen_yaml_errors(tmp_path):
    with pytest.raises(InfopoConfigError, match="not found"):
        load_unfrozen_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("frozen: []\n")
    with pytest.raises(InfopoConfigError, match="'unfrozen_parameters' list"):
        load_unfrozen_yaml(bad)

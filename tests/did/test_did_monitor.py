"""The DID entropy in every trainer (SFT, DPO, GRPO) and the rollout log-margin ordering: values against a direct
computation on the tiny model, the reference each setup uses, and the pairless ``infopo did analyze --prompts``."""

import json
import math

import pytest
import torch
from peft import LoraConfig
from transformers import AutoModelForCausalLM

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer, InfopoSFTConfig, InfopoSFTTrainer
from infopo.cli import main
from infopo.cli.did import run_analyze
from infopo.data.synthetic import arithmetic_preference, arithmetic_prompts, arithmetic_sft
from infopo.did.analyze import prompt_did_entropies
from infopo.did.config import DIDDPOConfig
from infopo.did.info import did_entropy_snis, group_extremes
from infopo.did.trainer import DIDDPOTrainer
from infopo.errors import InfopoConfigError
from infopo.scoring import completion_logps, encode_prompt, prompt_of, sample_completions

CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", disable_tqdm=True)
DID = dict(did_entropy_steps=2, did_entropy_k=4, did_entropy_prompts=3, did_entropy_max_new_tokens=5)


def test_group_extremes_picks_each_groups_best_and_worst_and_skips_ties():
    nan = float("nan")
    scores = torch.tensor([0.1, 0.9, 0.5, 0.5] + [0.5] * 4 + [nan, 2.0, -1.0, 0.0] + [nan, nan, 1.0, nan])
    best, worst = group_extremes(scores, 4)
    # group 0: best 1, worst 0; group 1: all tied; group 2: best 9, worst 10 (the NaN never counts); group 3: one
    # finite score, nothing to compare
    assert best.tolist() == [1, 9] and worst.tolist() == [0, 10]
    with pytest.raises(ValueError, match="groups of 5"):
        group_extremes(scores, 5)


def test_prompt_of_reads_both_formats():
    assert prompt_of({"prompt": "2+2?", "completion": "4"}) == "2+2?"
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert prompt_of({"messages": messages}) == messages[:1]
    assert prompt_of({"text": "plain"}) is None and prompt_of({"messages": messages[1:]}) is None


def direct_estimate(policy, reference, tokenizer, prompts, k, max_new_tokens, seed):
    """The DID entropy from the primitives, as a user would compute it: mean over prompts of the SNIS estimate."""
    policy.eval()  # as the trainer samples: no dropout
    torch.manual_seed(seed)
    estimates = []
    for prompt in prompts:
        ids = encode_prompt(tokenizer, prompt)
        sequences, mask = sample_completions(
            policy, ids, k, max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id
        )
        policy_logps = completion_logps(policy, sequences, len(ids), mask).double()
        ref_logps = completion_logps(reference, sequences, len(ids), mask).double()
        estimates.append(did_entropy_snis(policy_logps, ref_logps)[0].item())
    return sum(estimates) / len(estimates)


def check_estimate_against_direct(trainer, base_path, prompts):
    """After training, the trainer's estimate equals the direct one against a fresh load of the starting weights."""
    policy = trainer.accelerator.unwrap_model(trainer.model)
    base = AutoModelForCausalLM.from_pretrained(base_path).eval()
    torch.manual_seed(7)
    estimate, k, _ = trainer.estimate_did_entropy()
    expected = direct_estimate(policy, base, trainer.processing_class, prompts, k, DID["did_entropy_max_new_tokens"], 7)
    assert k == DID["did_entropy_k"] and estimate == pytest.approx(expected, abs=1e-5)


def entropy_logs(trainer):
    return [entry for entry in trainer.state.log_history if "did/entropy" in entry]


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True])
def test_sft_logs_the_did_entropy_against_its_starting_weights(tmp_path, tiny_qwen2, lora):
    data = arithmetic_sft(16, seed=3)
    args = InfopoSFTConfig(
        output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=4, learning_rate=1e-3, logging_steps=1,
        save_strategy="no", **DID, **CPU,
    )  # fmt: skip
    peft_config = LoraConfig(r=4, lora_alpha=8, task_type="CAUSAL_LM") if lora else None
    trainer = InfopoSFTTrainer(model=tiny_qwen2, args=args, train_dataset=data, peft_config=peft_config)
    assert trainer.did_reference_kind == ("adapters off" if lora else "frozen copy")
    trainer.train()
    logs = entropy_logs(trainer)
    assert [entry["step"] for entry in logs] == [2, 4]
    for entry in logs:
        assert entry["did/entropy_k"] == 4 and 1 <= entry["did/sample_length"] <= 5
        assert entry["did/entropy_per_token"] == pytest.approx(entry["did/entropy"] / entry["did/sample_length"])
    check_estimate_against_direct(trainer, tiny_qwen2, data["prompt"][:3])
    trainer.create_model_card()
    card = (tmp_path / "README.md").read_text()
    assert "## Differential information (DID)" in card and "2505.23761" in card
    assert f"against the {trainer.did_reference_kind} as the reference" in card


@pytest.mark.slow
def test_dpo_with_precomputed_reference_log_probs_estimates_against_a_frozen_copy(tmp_path, tiny_qwen2):
    data = arithmetic_preference(16, seed=1)
    args = DIDDPOConfig(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, learning_rate=1e-3, logging_steps=1,
        save_strategy="no", beta=0.1, precompute_ref_log_probs=True, **DID, **CPU,
    )  # fmt: skip
    trainer = DIDDPOTrainer(model=tiny_qwen2, args=args, train_dataset=data)
    assert trainer.did_reference_kind == "frozen copy"
    trainer.train()
    assert [entry["step"] for entry in entropy_logs(trainer)] == [2]
    check_estimate_against_direct(trainer, tiny_qwen2, data["prompt"][:3])


def distinct_characters(completions, **kwargs):
    """A reward that varies within every group, even for an untrained model's rollouts."""
    return [float(len(set(completion))) for completion in completions]


def grpo_trainer(tmp_path, model, **fields):
    settings = dict(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=8, num_generations=4,
        max_completion_length=6, learning_rate=1e-3, logging_steps=1, save_strategy="no", seed=0, **CPU, **DID,
    )  # fmt: skip
    args = InfopoGRPOConfig(**{**settings, **fields})
    return InfopoGRPOTrainer(
        model=model, reward_funcs=[distinct_characters], args=args, train_dataset=arithmetic_prompts(16, seed=0)
    )


@pytest.mark.slow
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_grpo_orders_each_groups_best_and_worst_rollout_and_estimates(tmp_path, tiny_qwen2, beta):
    trainer = grpo_trainer(tmp_path, tiny_qwen2, beta=beta, temperature=1.5)
    assert trainer.did_reference_kind == ("frozen copy" if beta == 0 else "reference model")
    trainer.train()
    steps = {entry["step"]: entry for entry in trainer.state.log_history if "did/ordered_frac" in entry}
    assert set(steps) == {1, 2}
    for step, entry in steps.items():
        assert 0 <= entry["did/ordered_frac"] <= 1
        if step == 1:  # before the first update the policy is the reference: equal margins, every group ordered
            assert entry["did/margin_policy"] == pytest.approx(entry["did/margin_ref"], abs=1e-4)
            assert entry["did/ordered_frac"] == 1.0
    assert [entry["step"] for entry in entropy_logs(trainer)] == [2]
    check_estimate_against_direct(trainer, tiny_qwen2, arithmetic_prompts(16, seed=0)["prompt"][:3])


@pytest.mark.slow
def test_rollout_margins_equal_a_direct_computation(tmp_path, tiny_qwen2):
    """The logged reference margin is the mean of log pi_ref(best) - log pi_ref(worst) over the batch's groups."""
    trainer = grpo_trainer(tmp_path, tiny_qwen2, temperature=1.5, max_steps=1)
    captured = []
    original = trainer._record_did_ordering
    trainer._record_did_ordering = lambda output: (captured.append(output), original(output))[1]
    trainer.train()
    (output,) = captured
    best, worst = group_extremes(output["advantages"].float().cpu(), 4)
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen2).eval()

    def sequence_logp(model, row):  # one rollout at a time, without padding
        prompt = output["prompt_ids"][row][output["prompt_mask"][row].bool()]
        completion = output["completion_ids"][row][output["completion_mask"][row].bool()]
        ids = torch.cat([prompt, completion])[None]
        with torch.no_grad():
            return completion_logps(model, ids, len(prompt), torch.ones(1, len(completion))).item()

    # the policy has taken one step since the rollouts: only the reference's margins can be checked after training
    m_ref = [sequence_logp(base, int(b)) - sequence_logp(base, int(w)) for b, w in zip(best, worst, strict=True)]
    logged = next(entry for entry in trainer.state.log_history if "did/margin_ref" in entry)
    assert logged["did/margin_ref"] == pytest.approx(sum(m_ref) / len(m_ref), abs=1e-4)


def test_plain_text_sft_and_zero3_without_a_reference_are_refused(tmp_path, tiny_qwen2, monkeypatch):
    args = InfopoSFTConfig(output_dir=str(tmp_path), max_steps=1, **DID, **CPU)
    from datasets import Dataset

    with pytest.raises(InfopoConfigError, match=r"did_entropy_steps needs prompts.*columns: text"):
        InfopoSFTTrainer(model=tiny_qwen2, args=args, train_dataset=Dataset.from_dict({"text": ["a b c"] * 4}))
    monkeypatch.setattr("infopo.did.monitor.is_deepspeed_zero3_enabled", lambda: True)
    with pytest.raises(InfopoConfigError, match="did_entropy_steps under ZeRO-3 needs a reference"):
        InfopoSFTTrainer(model=tiny_qwen2, args=args, train_dataset=arithmetic_sft(8))
    lora = LoraConfig(r=4, lora_alpha=8, task_type="CAUSAL_LM")
    trainer = InfopoSFTTrainer(model=tiny_qwen2, args=args, train_dataset=arithmetic_sft(8), peft_config=lora)
    assert trainer.did_reference_kind == "adapters off"


def test_analyze_without_pairs_gives_per_prompt_entropies(tmp_path, tiny_qwen2):
    out = tmp_path / "analysis"
    argv = ["did", "analyze", "--model", "tiny:llama", "--ref", tiny_qwen2, "--prompts", "synthetic:arithmetic_prompts",
            "--entropy_prompts", "3", "--k", "4", "--max_new_tokens", "4", "--output_dir", str(out)]  # fmt: skip
    torch.manual_seed(0)
    assert main(argv) == 0
    result = json.loads((out / "did_analysis.json").read_text())
    summary, rows = result["summary"], result["prompt_entropies"]
    assert summary["entropy_prompts"] == 3 and summary["did_entropy_k"] == 4 and result["pairs"] == []
    assert [row["prompt"] for row in rows] == arithmetic_prompts(3)["prompt"]
    assert summary["did_entropy_per_token_mean"] == pytest.approx(sum(r["entropy_per_token"] for r in rows) / 3)
    assert all(math.isfinite(row["entropy"]) and 1 <= row["sample_length"] <= 4 for row in rows)
    assert (out / "did_entropies.png").read_bytes()[:4] == b"\x89PNG" and not (out / "did_margins.png").exists()
    # the same estimate as the Python function with the same seed (two different models: nonzero log-ratios)
    from infopo.cli.models import load_model, load_tokenizer

    torch.manual_seed(0)
    direct = prompt_did_entropies(
        load_model("tiny:llama", False), load_model(tiny_qwen2, False), load_tokenizer("tiny:llama", False),
        arithmetic_prompts(3)["prompt"], 4, 4,
    )  # fmt: skip
    assert [row["entropy"] for row in rows] == pytest.approx([row["entropy"] for row in direct], abs=1e-6)


def test_analyze_refuses_what_it_cannot_do(tiny_qwen2):
    models = ["--model", tiny_qwen2, "--ref", tiny_qwen2]
    with pytest.raises(InfopoConfigError, match=r"needs --dataset \(preference pairs\) or --prompts"):
        run_analyze(models)
    with pytest.raises(InfopoConfigError, match="--k must be at least 2"):
        run_analyze([*models, "--prompts", "synthetic:arithmetic_prompts", "--k", "1"])
    with pytest.raises(InfopoConfigError, match="--rejected_model scores preference pairs"):
        run_analyze([*models, "--prompts", "synthetic:arithmetic_prompts", "--rejected_model", tiny_qwen2])


@pytest.mark.slow
def test_two_ranks_order_groups_split_over_them_and_gather_the_entropy(tmp_path, tiny_qwen2):
    """Groups of 4 rollouts over 2 ranks of 2: best and worst meet in the gather; 3 prompts split 2 + 1 (+ 1 of
    weight 0), and both ranks log the same gathered values."""
    import subprocess
    import sys

    from conftest import REPO

    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    helper = str(REPO / "tests" / "helpers" / "did_grpo_ranks.py")
    result = subprocess.run([*launcher, helper, tiny_qwen2, str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["kind"] == ranks[1]["kind"] == "frozen copy"
    logs = [{entry["step"]: entry for entry in rank["history"] if "did/ordered_frac" in entry} for rank in ranks]
    assert set(logs[0]) == set(logs[1]) == {1, 2}
    for key in ("did/ordered_frac", "did/margin_policy", "did/margin_ref"):
        assert logs[0][2][key] == pytest.approx(logs[1][2][key], abs=1e-9)
    assert logs[0][1]["did/margin_policy"] == pytest.approx(logs[0][1]["did/margin_ref"], abs=1e-4)
    assert logs[0][1]["did/ordered_frac"] == 1.0
    assert logs[0][2]["did/entropy"] == pytest.approx(logs[1][2]["did/entropy"], abs=1e-9)
    assert math.isfinite(logs[0][2]["did/entropy"]) and logs[0][2]["did/entropy_k"] == 4

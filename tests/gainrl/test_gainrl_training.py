"""GAIN-RL in real short GRPO runs on the tiny model: sampling, metrics, the update, resume, bad input, the card."""

import json

import pytest
from conftest import RECIPES
from huggingface_hub import ModelCard

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer
from infopo.cli import main
from infopo.data.synthetic import arithmetic_prompts
from infopo.errors import InfopoConfigError
from infopo.gainrl.sampler import STATE_FILE
from infopo.rewards import answer_match

CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", disable_tqdm=True)


def config(out, **overrides):
    fields = dict(
        output_dir=str(out),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=6,
        num_train_epochs=3,
        logging_steps=1,
        save_strategy="no",
        seed=0,
        learning_rate=5e-4,
        gainrl_samples_per_epoch=8,
        **CPU,
    )
    fields.update(overrides)
    return InfopoGRPOConfig(**fields)


def train(model, out, data, resume=None, **overrides):
    trainer = InfopoGRPOTrainer(
        model=model, reward_funcs=[answer_match], args=config(out, **overrides), train_dataset=data
    )
    seen = []
    original = trainer._generate_and_score_completions

    def record(inputs):
        seen.append([row["row"] for row in inputs])
        return original(inputs)

    trainer._generate_and_score_completions = record
    trainer.train(resume_from_checkpoint=resume)
    return trainer, seen


@pytest.fixture(scope="module")
def data():
    rows = arithmetic_prompts(32, seed=0)
    return rows.add_column("row", list(range(len(rows))))


def test_sampler_draws_m_prompts_per_epoch_in_rank_order_and_logs(tmp_path, tiny_qwen2, data):
    trainer, seen = train(tiny_qwen2, tmp_path / "run", data, gainrl_order="length", gainrl_success_threshold=-1.0)
    assert len(seen) == 12  # 3 epochs x 8 prompts x 4 rollouts / 8 per step
    position = {index: rank for rank, index in enumerate(trainer.gainrl_ranked)}
    for epoch in range(3):
        rows = [row for step in seen[4 * epoch : 4 * epoch + 4] for row in step]
        prompts = list(dict.fromkeys(rows))
        assert len(prompts) == 8 and all(rows.count(p) == 4 for p in prompts)  # M distinct prompts, 4 rollouts each
        assert [position[p] for p in prompts] == sorted(position[p] for p in prompts)  # in rank order
    lengths = [len(trainer.processing_class(p)["input_ids"]) for p in data["prompt"]]
    assert [lengths[i] for i in trainer.gainrl_ranked] == sorted(lengths)  # length order: shortest first
    logs = trainer.state.log_history
    updates = [h for h in logs if "gainrl/delta" in h]
    assert len(updates) == 3 and all(h["gainrl/acc"] == 1.0 for h in updates)  # threshold -1: every rollout succeeds
    angles = [h["gainrl/angle"] for h in logs if "gainrl/angle" in h]
    assert len(angles) == 12 and all(-1 <= a <= 1 for a in angles)
    # delta = n tanh(2 (1 - 0.5)) + n tanh(2 angle) with n = N / 15, clipped to [0, 2n]
    n = 32 / 15
    assert updates[0]["gainrl/delta"] == pytest.approx(
        min(2 * n, max(0.0, n * 0.7616 + n * __import__("math").tanh(2 * (sum(angles[:4]) / 4)))), rel=1e-3
    )
    assert trainer.gainrl_state.mu == pytest.approx(sum(h["gainrl/delta"] for h in updates))
    assert trainer.gainrl_state.epoch == 3


def test_a_running_target_advances_a_policy_that_the_fixed_target_holds(tmp_path, tiny_qwen2, data):
    """No rollout succeeds (threshold 2: answer_match is at most 1): against the authors' fixed target 0.5 every update
    is negative and clipped to 0; against the policy's own running accuracy mu moves on, by the angle term, and the
    state carries the target into checkpoints."""
    fixed, _ = train(tiny_qwen2, tmp_path / "fixed", data, gainrl_order="length", gainrl_success_threshold=2.0)
    running, _ = train(
        tiny_qwen2,
        tmp_path / "running",
        data,
        gainrl_order="length",
        gainrl_success_threshold=2.0,
        gainrl_target="running",
        save_strategy="steps",
        save_steps=4,
    )
    assert fixed.gainrl_state.mu == 0.0
    updates = [h for h in running.state.log_history if "gainrl/delta" in h]
    assert [h["gainrl/acc"] for h in updates] == [0.0] * 3 and [h["gainrl/target"] for h in updates] == [0.0] * 3
    n = 32 / 15
    for update, epoch in zip(updates, range(3), strict=True):
        angles = [h["gainrl/angle"] for h in running.state.log_history if "gainrl/angle" in h][
            4 * epoch : 4 * epoch + 4
        ]
        assert update["gainrl/delta"] == pytest.approx(
            min(2 * n, max(0.0, n * __import__("math").tanh(2 * sum(angles) / 4))), rel=1e-3
        )
    assert running.gainrl_state.mu > 0 and running.gainrl_state.target == 0.0
    assert json.loads((tmp_path / "running" / "checkpoint-4" / STATE_FILE).read_text())["target"] == 0.0
    with pytest.raises(ValueError, match="gainrl_target must be one of fixed, running"):
        config(tmp_path, gainrl_target="moving")


def test_resume_reproduces_the_uninterrupted_run(tmp_path, tiny_qwen2, data):
    full, seen_full = train(tiny_qwen2, tmp_path / "full", data, save_strategy="steps", save_steps=2)
    checkpoint = tmp_path / "full" / "checkpoint-6"  # mid-epoch 2: mu already moved once
    state = json.loads((checkpoint / STATE_FILE).read_text())
    assert state["epoch"] == 1 and state["success_count"] == 16
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    (resumed_dir / "checkpoint-6").symlink_to(checkpoint, target_is_directory=True)
    resumed, seen_resumed = train(tiny_qwen2, resumed_dir, data, resume=True, save_strategy="no")
    assert seen_resumed == seen_full[6:]
    assert resumed.gainrl_state == full.gainrl_state
    with pytest.raises(InfopoConfigError, match="samples_per_epoch=8, this run has 16"):
        train(tiny_qwen2, resumed_dir, data, resume=True, save_strategy="no", gainrl_samples_per_epoch=16)
    full_mu = [h["gainrl/mu"] for h in full.state.log_history if "gainrl/mu" in h]
    resumed_mu = [h["gainrl/mu"] for h in resumed.state.log_history if "gainrl/mu" in h]
    assert resumed_mu == full_mu[-len(resumed_mu) :]


def test_card_describes_the_schedule(tmp_path, tiny_qwen2):
    out = tmp_path / "cli"
    code = main(
        [
            "grpo",
            "--config",
            str(RECIPES / "grpo_gainrl_tiny.yaml"),
            "--output_dir",
            str(out),
            "--synthetic_rows",
            "16",
            "--gainrl_samples_per_epoch",
            "8",
            "--num_train_epochs",
            "2",
        ]
    )
    assert code == 0
    card = ModelCard.load(out / "README.md")
    assert "GAIN-RL data schedule" in card.text and "2 epochs" in card.text and "| gainrl/mu |" in card.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(gainrl_samples_per_epoch=64), "larger than the training set"),
        (dict(gainrl_samples_per_epoch=7), "multiple of the 2 distinct prompts"),
        (dict(gainrl_layer=5), "layer 5 is out of range"),
    ],
)
def test_bad_settings_fail_before_training(tmp_path, tiny_qwen2, data, overrides, message):
    with pytest.raises(InfopoConfigError, match=message):
        train(tiny_qwen2, tmp_path / "bad", data, **overrides)


def test_config_checks_and_score_file_mismatch(tmp_path, tiny_qwen2, data):
    with pytest.raises(ValueError, match="gainrl_sigma must be > 0"):
        config(tmp_path, gainrl_sigma=0.0)
    with pytest.raises(ValueError, match="gainrl_order"):
        config(tmp_path, gainrl_order="shortest")
    scores = tmp_path / "scores.json"
    assert (
        main(
            [
                "gainrl",
                "score",
                "--model",
                tiny_qwen2,
                "--dataset",
                "synthetic:arithmetic_prompts",
                "--synthetic_rows",
                "24",
                "--out",
                str(scores),
            ]
        )
        == 0
    )
    with pytest.raises(InfopoConfigError, match="scored on other prompts"):
        train(tiny_qwen2, tmp_path / "mismatch", data, gainrl_scores=str(scores))
    with pytest.raises(InfopoConfigError, match="gainrl_scores file not found"):
        train(tiny_qwen2, tmp_path / "missing", data, gainrl_scores=str(tmp_path / "nope.json"))


def test_only_training_forwards_feed_the_online_angle(tmp_path, tiny_qwen2, data):
    trainer = InfopoGRPOTrainer(
        model=tiny_qwen2, reward_funcs=[answer_match], args=config(tmp_path / "angle"), train_dataset=data
    )
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, read by the loss
    batch = trainer._generate_and_score_completions([data[i // 4] for i in range(8)])
    trainer.model.eval()
    trainer.compute_loss(trainer.model, batch)  # an evaluation pass: not recorded
    assert trainer._gainrl_angle_sums.tolist() == [0.0, 0.0]
    trainer.model.train()
    trainer.compute_loss(trainer.model, batch)
    angle_sum, count = trainer._gainrl_angle_sums.tolist()
    assert count == 8 and -1.0 <= angle_sum / count <= 1.0

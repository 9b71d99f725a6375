"""GRPO with rewards that are missing, non-finite or constant, and empty completions: defined behaviour."""

import math

import pytest

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer
from infopo.data.synthetic import arithmetic_prompts
from infopo.errors import InfopoConfigError
from infopo.rewards import answer_match

pytestmark = pytest.mark.slow

CPU = dict(
    use_cpu=True,
    bf16=False,
    gradient_checkpointing=False,
    report_to="none",
    save_strategy="no",
    disable_tqdm=True,
    per_device_train_batch_size=8,
    num_generations=4,
    max_completion_length=4,
    max_steps=2,
    logging_steps=1,
    seed=0,
)


def train(model, out, reward, **fields):
    args = InfopoGRPOConfig(output_dir=str(out), **CPU, **fields)
    trainer = InfopoGRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=arithmetic_prompts(16))
    trainer.train()
    return trainer


def half_missing(completions, **kwargs):
    return [None if i % 2 else 1.0 for i in range(len(completions))]


def constant(completions, **kwargs):
    return [0.5] * len(completions)


def infinite(completions, **kwargs):
    return [math.inf] + [0.0] * (len(completions) - 1)


def test_missing_and_constant_rewards_train_with_finite_losses(tmp_path, tiny_qwen2):
    for reward in (half_missing, constant):
        trainer = train(tiny_qwen2, tmp_path / reward.__name__, reward, gainrl_samples_per_epoch=4)
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        assert losses and all(math.isfinite(loss) for loss in losses)
        if reward is constant:  # all-equal groups: zero advantages, no update signal
            assert all(
                h["frac_reward_zero_std"] == 1.0 for h in trainer.state.log_history if "frac_reward_zero_std" in h
            )
        acc = [h["gainrl/acc"] for h in trainer.state.log_history if "gainrl/acc" in h]
        assert all(0.0 <= a <= 1.0 for a in acc)


def test_infinite_reward_is_a_clear_error(tmp_path, tiny_qwen2):
    with pytest.raises(InfopoConfigError, match="reward function\\(s\\) infinite returned an infinite reward"):
        train(tiny_qwen2, tmp_path / "inf", infinite)


def test_empty_completions_score_zero():
    assert answer_match(["", " "], answer=["3", "4"]) == [0.0, 0.0]

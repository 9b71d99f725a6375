"""IGPOTrainer on the tiny model after a short supervised warm start on search demonstrations (real runs)."""

import pytest
import torch
from datasets import Dataset

from infopo import InfopoSFTConfig, InfopoSFTTrainer
from infopo.data.lookup import lookup_demonstrations, lookup_questions
from infopo.errors import InfopoConfigError
from infopo.igpo.config import IGPOConfig
from infopo.igpo.trainer import IGPOTrainer

pytestmark = pytest.mark.slow

CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True)


@pytest.fixture(scope="module")
def warm_model(tmp_path_factory, tiny_qwen2):
    """The tiny model after 100 SFT steps on search demonstrations: it writes <search> and <answer> tags."""
    folder = tmp_path_factory.mktemp("warm")
    args = InfopoSFTConfig(output_dir=str(folder / "run"), max_steps=100, per_device_train_batch_size=16,
                           learning_rate=5e-3, logging_steps=100, max_length=96, seed=0, **CPU)
    trainer = InfopoSFTTrainer(model=tiny_qwen2, args=args, train_dataset=lookup_demonstrations(960))
    trainer.train()
    trainer.save_model(str(folder))
    return str(folder)


def _config(tmp_path, **fields):
    base = dict(output_dir=str(tmp_path / "igpo"), per_device_train_batch_size=8, num_generations=4, max_turns=3,
                max_turn_tokens=24, max_completion_length=160, learning_rate=1e-3, logging_steps=1, max_steps=2,
                seed=0, **CPU)
    return IGPOConfig(**{**base, **fields})


def test_turn_spans_masks_and_advantages(tmp_path, warm_model):
    torch.manual_seed(0)
    trainer = IGPOTrainer(model=warm_model, args=_config(tmp_path), train_dataset=lookup_questions(16, seed=3))
    question = lookup_questions(2, seed=5, two_hop_share=1.0)
    inputs = [question[0]] * 4 + [question[1]] * 4
    output = trainer._generate_and_score_completions(inputs)
    advantages, tool_mask = output["advantages"], output["tool_mask"]
    assert advantages.shape == output["completion_ids"].shape == tool_mask.shape
    rollouts = trainer._last_rollouts
    assert max(len(spans) for spans in rollouts["spans"]) >= 2  # the warm policy searches before answering
    width = advantages.shape[1]
    for row, spans in enumerate(rollouts["spans"]):
        assistant = torch.zeros(width, dtype=torch.bool)
        per_turn = []
        for start, end in spans:
            end = min(end, width)
            assistant[start:end] = True
            if start < end:
                values = advantages[row, start:end]
                assert torch.all(values == values[0])  # every token of a turn carries that turn's advantage
                per_turn.append(values[0].item())
        length = int(output["completion_mask"][row].sum())
        observation = ~assistant[:length]
        assert torch.all(tool_mask[row, :length][observation] == 0)  # observations are out of the loss
        assert torch.all(tool_mask[row, :length][assistant[:length]] == 1)
        assert torch.all(advantages[row, :length][observation] == 0)
    # gamma = 1, joint: r~_t = A_t - A_{t+1}; the z-scored rewards of a group sum to zero.
    for group in (range(0, 4), range(4, 8)):
        total = 0.0
        for row in group:
            spans = rollouts["spans"][row]
            turn_values = [advantages[row, start].item() for start, _ in spans if start < width]
            total += sum(a - b for a, b in zip(turn_values, turn_values[1:] + [0.0], strict=True))
        assert total == pytest.approx(0.0, abs=1e-4)


def test_short_igpo_run_logs_its_metrics(tmp_path, warm_model):
    trainer = IGPOTrainer(model=warm_model, args=_config(tmp_path), train_dataset=lookup_questions(16, seed=3))
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "igpo/turns" in entry]
    assert len(logged) == 2
    for entry in logged:
        assert {"igpo/outcome", "igpo/format_error_frac", "igpo/tool_error_frac", "reward"} <= set(entry)
        assert 1 <= entry["igpo/turns"] <= 3
    assert any("igpo/info_gain" in entry and "igpo/probe_last" in entry for entry in logged)
    trainer.save_model()
    trainer.create_model_card()
    assert "igpo" in (tmp_path / "igpo" / "README.md").read_text().split("---")[1]


def test_gainrl_schedules_igpo_questions(tmp_path, warm_model):
    """GAIN-RL in IGPO: the sampler draws M questions per epoch, acc comes from IGPO's outcome reward."""
    config = _config(tmp_path, max_steps=4, gainrl_samples_per_epoch=4, gainrl_order="length")
    trainer = IGPOTrainer(model=warm_model, args=config, train_dataset=lookup_questions(16, seed=3))
    trainer.train()
    logs = trainer.state.log_history
    assert sum("gainrl/delta" in entry for entry in logs) == 2  # 4 questions x 4 rollouts / 8 per step: 2 epochs
    assert all(0.0 <= entry["gainrl/acc"] <= 1.0 for entry in logs if "gainrl/acc" in entry)
    assert all(-1.0 <= entry["gainrl/angle"] <= 1.0 for entry in logs if "gainrl/angle" in entry)
    assert trainer.gainrl_state.epoch == 2
    assert trainer.gainrl_state.mu == pytest.approx(sum(e["gainrl/delta"] for e in logs if "gainrl/delta" in e))


def test_bad_input_is_refused_before_training(tmp_path, tiny_qwen2):
    with pytest.raises(InfopoConfigError, match="needs the answer column 'answer'"):
        IGPOTrainer(model=tiny_qwen2, args=_config(tmp_path), train_dataset=Dataset.from_dict({"prompt": ["q"]}))
    with pytest.raises(InfopoConfigError, match="1 rows have an empty 'answer'"):
        IGPOTrainer(model=tiny_qwen2, args=_config(tmp_path),
                    train_dataset=Dataset.from_dict({"prompt": ["q", "r"], "answer": ["a", " "]}))
    with pytest.raises(InfopoConfigError, match="corpus file not found"):
        IGPOTrainer(model=tiny_qwen2, args=_config(tmp_path, corpus=str(tmp_path / "none.jsonl")),
                    train_dataset=lookup_questions(4))
    with pytest.raises(ValueError, match="norm_mode must be one of joint, separate"):
        _config(tmp_path, norm_mode="both")

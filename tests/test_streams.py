"""Streams (``datasets.IterableDataset``) in infopo's trainers as in TRL's (issue 36): TRL's own stream tests, written
here with infopo's classes (SFT, DPO, GRPO training on a stream; TRL's errors and overrides for streams surfacing
unchanged), and the start-up checks and the card reading a bounded head of a stream, once."""

import warnings

import pytest
import torch
from datasets import IterableDataset

from infopo import (
    IGPOConfig,
    IGPOTrainer,
    InfopoDPOConfig,
    InfopoDPOTrainer,
    InfopoGRPOConfig,
    InfopoGRPOTrainer,
    InfopoSFTConfig,
    InfopoSFTTrainer,
)
from infopo.data.validation import STREAM_HEAD_ROWS
from infopo.errors import InfopoConfigError
from infopo.trainers import DegenerateDataWarning

pytestmark = pytest.mark.slow

CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", disable_tqdm=True)


def stream(rows: list[dict], reads: list[int] | None = None) -> IterableDataset:
    """A stream of ``rows`` (cycled up to 1,000) that counts the rows read from it in ``reads[0]``."""

    def generate():
        for index in range(1000):
            if reads is not None:
                reads[0] += 1
            yield rows[index % len(rows)]

    return IterableDataset.from_generator(generate)


PROMPT_COMPLETION = [{"prompt": f"{i} plus one is", "completion": f" {i + 1}."} for i in range(10)]
PAIRS = [{"prompt": f"{i} plus one is", "chosen": f" {i + 1}.", "rejected": f" {i + 2}."} for i in range(10)]
PROMPTS = [{"prompt": f"{i} plus one is"} for i in range(10)]


def length_reward(completions, **kwargs):
    return [float(len(completion)) for completion in completions]


def changed(trainer, before: dict) -> bool:
    return any(not torch.equal(before[name], p.detach()) for name, p in trainer.model.named_parameters())


def snapshot(trainer) -> dict:
    return {name: p.detach().clone() for name, p in trainer.model.named_parameters()}


def test_sft_trains_on_a_stream_and_the_card_shows_its_first_prompt(tmp_path, tiny_qwen2):
    args = InfopoSFTConfig(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=2, **CPU)
    trainer = InfopoSFTTrainer(model=tiny_qwen2, args=args, train_dataset=stream(PROMPT_COMPLETION))
    before = snapshot(trainer)
    trainer.train()
    assert trainer.state.global_step == 3 and changed(trainer, before)
    assert trainer._example_prompt == "0 plus one is"


def test_sft_assistant_only_loss_trains_on_a_stream(tmp_path, tiny_qwen2):
    messages = [
        {"messages": [{"role": "user", "content": f"{i} plus one?"}, {"role": "assistant", "content": f"{i + 1}."}]}
        for i in range(10)
    ]
    args = InfopoSFTConfig(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, assistant_only_loss=True, **CPU
    )
    trainer = InfopoSFTTrainer(model=tiny_qwen2, args=args, train_dataset=stream(messages))
    before = snapshot(trainer)
    trainer.train()
    assert trainer.state.global_step == 2 and changed(trainer, before)


def test_dpo_trains_on_a_stream(tmp_path, tiny_qwen2):
    args = InfopoDPOConfig(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=2, **CPU)
    trainer = InfopoDPOTrainer(model=tiny_qwen2, args=args, train_dataset=stream(PAIRS))
    before = snapshot(trainer)
    trainer.train()
    assert trainer.state.global_step == 3 and changed(trainer, before)


def test_dpo_precomputed_reference_on_a_stream_raises_trls_error(tmp_path, tiny_qwen2):
    args = InfopoDPOConfig(output_dir=str(tmp_path), max_steps=3, precompute_ref_log_probs=True, **CPU)
    with pytest.raises(ValueError, match="not supported with IterableDataset"):
        InfopoDPOTrainer(model=tiny_qwen2, args=args, train_dataset=stream(PAIRS))


def grpo_args(tmp_path, **fields) -> InfopoGRPOConfig:
    settings = dict(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=8,
        **CPU,
    )
    return InfopoGRPOConfig(**(settings | fields))


def test_grpo_trains_on_a_stream(tmp_path, tiny_qwen2):
    trainer = InfopoGRPOTrainer(
        model=tiny_qwen2, reward_funcs=length_reward, args=grpo_args(tmp_path), train_dataset=stream(PROMPTS)
    )
    before = snapshot(trainer)
    trainer.train()
    assert trainer.state.global_step == 2 and changed(trainer, before)


def test_grpo_on_a_stream_needs_dispatch_batches_off_as_trl_says(tmp_path, tiny_qwen2):
    args = grpo_args(tmp_path, accelerator_config={"dispatch_batches": True})
    with pytest.raises(ValueError, match="Iterable datasets require `dispatch_batches=False`"):
        InfopoGRPOTrainer(model=tiny_qwen2, reward_funcs=length_reward, args=args, train_dataset=stream(PROMPTS))


def test_grpo_on_a_stream_reads_with_no_worker_as_trl_sets(tmp_path, tiny_qwen2):
    args = grpo_args(tmp_path, dataloader_num_workers=2)
    trainer = InfopoGRPOTrainer(model=tiny_qwen2, reward_funcs=length_reward, args=args, train_dataset=stream(PROMPTS))
    assert trainer.args.dataloader_num_workers == 0


def test_start_up_reads_a_bounded_head_of_a_stream_once_and_warns_on_it(tmp_path, tiny_qwen2):
    """Constructing a trainer reads at most STREAM_HEAD_ROWS rows of a 1,000-row stream beyond what TRL's own
    constructor reads; degenerate rows in that head are counted and said to come from it."""
    import trl

    rows = [{**row, "rejected": row["chosen"]} if i == 0 else row for i, row in enumerate(PAIRS)]
    counts = {}
    for name, trainer_class, config_class in (
        ("trl", trl.DPOTrainer, trl.DPOConfig),
        ("infopo", InfopoDPOTrainer, InfopoDPOConfig),
    ):
        reads = [0]
        args = config_class(output_dir=str(tmp_path / name), max_steps=1, **CPU)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer_class(model=tiny_qwen2, args=args, train_dataset=stream(rows, reads))
        counts[name] = reads[0], [str(w.message) for w in caught if w.category is DegenerateDataWarning]
    assert counts["infopo"][0] <= counts["trl"][0] + STREAM_HEAD_ROWS
    assert counts["infopo"][1] == [
        f"train_dataset (first {STREAM_HEAD_ROWS} rows of a stream): 10 have chosen identical to rejected "
        "(no preference, zero gradient)"
    ]


def test_igpo_checks_a_streams_answer_column_on_its_head(tmp_path, tiny_qwen2):
    args = IGPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=2, **CPU)
    expected = r"answer column 'answer' in train_dataset \(answer_column, .*its columns: prompt"
    with pytest.raises(InfopoConfigError, match=expected):
        IGPOTrainer(model=tiny_qwen2, args=args, train_dataset=stream(PROMPTS))

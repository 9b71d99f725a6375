"""Resume without loss: a save that did not finish is skipped, and a resumed run ends where the uninterrupted one
does."""

import shutil

import pytest
from transformers import TrainerCallback

from infopo import InfopoSFTConfig, InfopoSFTTrainer
from infopo.checkpoints import MARKER, last_complete_checkpoint
from infopo.data import arithmetic_sft
from infopo.errors import InfopoConfigError

pytestmark = pytest.mark.slow

CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", disable_tqdm=True)


def sft(model, out, **fields):
    args = InfopoSFTConfig(
        output_dir=str(out),
        max_steps=6,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="steps",
        save_steps=2,
        seed=0,
        **CPU,
        **fields,
    )
    return InfopoSFTTrainer(model=model, args=args, train_dataset=arithmetic_sft(64, seed=0))


def losses(trainer) -> dict[int, float]:
    return {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}


def test_resume_skips_an_unfinished_save_and_matches_the_uninterrupted_run(tmp_path, tiny_qwen2):
    full = sft(tiny_qwen2, tmp_path / "full")
    full.train()
    assert all((tmp_path / "full" / f"checkpoint-{s}" / MARKER).is_file() for s in (2, 4, 6))

    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    shutil.copytree(tmp_path / "full" / "checkpoint-2", interrupted / "checkpoint-2")
    # a process killed while writing checkpoint-4: some files there, no trainer state, no marker
    partial = interrupted / "checkpoint-4"
    partial.mkdir()
    shutil.copy(tmp_path / "full" / "checkpoint-4" / "model.safetensors", partial / "model.safetensors")
    assert last_complete_checkpoint(interrupted) == interrupted / "checkpoint-2"
    with pytest.raises(InfopoConfigError, match="not a complete infopo checkpoint"):
        sft(tiny_qwen2, interrupted).train(resume_from_checkpoint=str(partial))

    resumed = sft(tiny_qwen2, interrupted)
    steps_run = []
    resumed.add_callback(
        type(
            "Count",
            (TrainerCallback,),
            {"on_step_end": lambda self, args, state, control, **kw: steps_run.append(state.global_step)},
        )()
    )
    resumed.train(resume_from_checkpoint=True)
    assert steps_run == [3, 4, 5, 6]  # resumed from step 2, not from the broken 4 and not from 0
    after, reference = losses(resumed), losses(full)
    assert sorted(after) == [1, 2, 3, 4, 5, 6]
    for step, loss in after.items():
        assert loss == pytest.approx(reference[step], rel=1e-4)


def test_nothing_to_resume_is_a_clear_error(tmp_path, tiny_qwen2):
    with pytest.raises(InfopoConfigError, match="no complete checkpoint"):
        sft(tiny_qwen2, tmp_path / "empty").train(resume_from_checkpoint=True)


def test_rotation_keeps_the_newest_complete_checkpoint(tmp_path, tiny_qwen2):
    trainer = sft(tiny_qwen2, tmp_path / "rotated", save_total_limit=1)
    trainer.train()
    left = sorted(path.name for path in (tmp_path / "rotated").glob("checkpoint-*"))
    assert left == ["checkpoint-6"] and (tmp_path / "rotated" / "checkpoint-6" / MARKER).is_file()

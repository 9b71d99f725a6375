"""The IGPO tests' warm start (``tests/conftest.py::warm_model``) and its premise, in one place.

usage: warm_model.py OUT_DIR — trains the warm start into OUT_DIR and prints its premise as JSON, so that a test can
check it in a fresh process whose environment selects other CPU kernels (the kernel variables act when torch loads).
"""

import json
import sys

QUESTIONS = 32


def train_warm_model(folder: str, base: str) -> str:
    """``base`` (tiny:qwen2) after 100 SFT steps on search demonstrations, saved to ``folder``."""
    from infopo import InfopoSFTConfig, InfopoSFTTrainer
    from infopo.data.lookup import lookup_demonstrations

    args = InfopoSFTConfig(
        output_dir=f"{folder}/run", max_steps=100, per_device_train_batch_size=16, learning_rate=5e-3,
        logging_steps=100, max_length=96, seed=0, use_cpu=True, bf16=False, gradient_checkpointing=False,
        report_to="none", save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    trainer = InfopoSFTTrainer(model=base, args=args, train_dataset=lookup_demonstrations(960))
    trainer.train()
    trainer.save_model(folder)
    return folder


def premise(folder: str) -> dict:
    """What the IGPO tests rely on: rollouts sampled as IGPO trains (temperature 1, the tag loop over the lookup
    world's search environment) search before they answer and often write an answer, so that groups have search turns
    to measure gains on and outcomes that differ. 32 questions x 4 rollouts, seed 0. Returns the share of rollouts
    that searched at least once before their final turn and the share that ended in a parsed answer. (Greedy, this
    short warm start writes ``<search>`` and stops: the tests train on sampled rollouts.)"""
    import torch

    from infopo import IGPOConfig, IGPOTrainer
    from infopo.data.lookup import lookup_questions

    questions = lookup_questions(QUESTIONS, seed=5)
    config = IGPOConfig(
        output_dir=f"{folder}/premise", per_device_train_batch_size=4 * QUESTIONS, num_generations=4, max_turns=3,
        max_turn_tokens=24, max_completion_length=160, seed=0, use_cpu=True, bf16=False,
        gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    trainer = IGPOTrainer(model=folder, args=config, train_dataset=questions)
    trainer.model.train()
    torch.manual_seed(0)
    trainer._generate_and_score_completions([questions[index // 4] for index in range(4 * QUESTIONS)])
    rollouts = trainer._rollouts
    count = len(rollouts["spans"])
    return {
        "answered": sum(prediction is not None for prediction in rollouts["predictions"]) / count,
        "searched_first": sum(len(spans) >= 2 for spans in rollouts["spans"]) / count,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


if __name__ == "__main__":
    from infopo.models import resolve_model

    out = sys.argv[1]
    print(json.dumps(premise(train_warm_model(out, resolve_model("tiny:qwen2")))))

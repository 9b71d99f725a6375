"""A GRPO setting whose zero-variance groups are known before generation, for the dynamic-sampling tests.

``scripted_rollout`` (a TRL ``rollout_func``) answers the i-th rollout of every group with the digit ``i`` and EOS,
so a group's completions depend on nothing random; ``row_reward`` scores a completion by that digit on the rows
``has_signal`` picks and 1.0 on every other row, whose groups therefore have zero variance.

usage: scripted_groups.py MODEL OUT_DIR -> under torchrun, OUT_DIR/rank{r}.json with every round's rows and metrics.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GROUP = 4


def has_signal(row: int) -> bool:
    return row % 3 == 0


def scripted_rollout(prompts, trainer):
    tokenizer = trainer.processing_class
    prompt_ids = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    completion_ids = [
        tokenizer(str(index % GROUP), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        for index in range(len(prompts))
    ]
    return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None}


def row_reward(prompts, completions, row, **kwargs):
    return [
        float(completion.strip()[:1]) / GROUP if has_signal(index) else 1.0
        for completion, index in zip(completions, row, strict=True)
    ]


def scripted_data(count: int = 48):
    from infopo.data.synthetic import arithmetic_prompts

    rows = arithmetic_prompts(count, seed=0)
    return rows.add_column("row", list(range(count)))


def scripted_trainer(model: str, out: str, **overrides):
    """An ``InfopoGRPOTrainer`` on the scripted setting; its ``rounds`` list records the rows of every generation."""
    from infopo import InfopoGRPOConfig, InfopoGRPOTrainer

    fields = dict(
        output_dir=out, per_device_train_batch_size=8, num_generations=GROUP, max_completion_length=4, max_steps=3,
        logging_steps=1, save_strategy="no", seed=0, learning_rate=1e-3, dynamic_sampling=True,
        use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", disable_tqdm=True,
    )  # fmt: skip
    fields.update(overrides)
    trainer = InfopoGRPOTrainer(
        model=model,
        reward_funcs=[row_reward],
        args=InfopoGRPOConfig(**fields),
        train_dataset=scripted_data(),
        rollout_func=scripted_rollout,
    )
    trainer.rounds = []
    original = trainer._generation_round

    def record(inputs):
        trainer.rounds.append([row["row"] for row in inputs])
        return original(inputs)

    trainer._generation_round = record
    return trainer


def main(model: str, out: str) -> None:
    trainer = scripted_trainer(model, os.path.join(out, "run"), per_device_train_batch_size=4)
    trainer.train()
    report = {
        "rounds": trainer.rounds,
        "logs": trainer.state.log_history,
        "rollouts_generated": trainer.rollouts_generated,
    }
    with open(os.path.join(out, f"rank{trainer.accelerator.process_index}.json"), "w") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    from infopo.distributed import distributed_run, exit_process

    with distributed_run() as run:  # the process group ends on every path
        main(*sys.argv[1:3])
    if run.ended_group:
        exit_process(0)

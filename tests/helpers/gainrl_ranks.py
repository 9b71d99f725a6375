"""GRPO with GAIN-RL for two epochs, run by a test under torchrun or as one process; writes what this rank saw.

usage: gainrl_ranks.py MODEL OUT_DIR [ORDER]  ->  OUT_DIR/rank{r}.json with the prompt ids per step and the final state.
ORDER: the gainrl_order (default: the angle schedule with every rollout a success; learnability: successes above
0.05, so the posterior has something to count).
"""

import json
import os
import sys
from dataclasses import asdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer  # noqa: E402
from infopo.data.synthetic import arithmetic_prompts  # noqa: E402
from infopo.distributed import distributed_run, exit_process  # noqa: E402
from infopo.rewards import answer_match  # noqa: E402


def main(model: str, out: str, order: str = "angle") -> None:
    data = arithmetic_prompts(32, seed=0)
    data = data.add_column("row", list(range(len(data))))
    args = InfopoGRPOConfig(
        output_dir=os.path.join(out, "run"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=6,
        num_train_epochs=2,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        seed=0,
        disable_tqdm=True,
        gainrl_samples_per_epoch=8,
        gainrl_sigma=4.0,
        gainrl_step=6.0,
        gainrl_success_threshold=-1.0 if order == "angle" else 0.05,
        gainrl_order=order,
    )  # angle: every rollout "succeeds", acc is 1 on every rank
    trainer = InfopoGRPOTrainer(model=model, reward_funcs=[answer_match], args=args, train_dataset=data)
    seen = []
    original = trainer._generate_and_score_completions

    def record(inputs):
        seen.append([row["row"] for row in inputs])
        return original(inputs)

    trainer._generate_and_score_completions = record
    trainer.train()
    report = {
        "seen": seen,
        "state": asdict(trainer.gainrl_state),
        "ranked": trainer.gainrl_ranked,
        "mu_log": [h["gainrl/mu"] for h in trainer.state.log_history if "gainrl/mu" in h],
    }
    rank = trainer.accelerator.process_index
    with open(os.path.join(out, f"rank{rank}.json"), "w") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    with distributed_run() as run:  # the process group ends on every path
        main(*sys.argv[1:4])
    if run.ended_group:
        exit_process(0)

"""GRPO with the DID entropy and rollout ordering for two steps, run by a test under torchrun; writes what this rank
logged. Two rollouts per rank and groups of four: every group's best and worst rollout may sit on different ranks.

usage: did_grpo_ranks.py MODEL OUT_DIR  ->  OUT_DIR/rank{r}.json with this rank's log history.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer  # noqa: E402
from infopo.data.synthetic import arithmetic_prompts  # noqa: E402
from infopo.distributed import distributed_run, exit_process  # noqa: E402


def distinct_characters(completions, **kwargs):
    return [float(len(set(completion))) for completion in completions]


def main(model: str, out: str) -> None:
    args = InfopoGRPOConfig(
        output_dir=os.path.join(out, "run"), per_device_train_batch_size=2, num_generations=4,
        max_completion_length=6, max_steps=2, logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
        bf16=False, gradient_checkpointing=False, seed=0, disable_tqdm=True, learning_rate=1e-3, temperature=1.5,
        did_entropy_steps=2, did_entropy_prompts=3, did_entropy_k=4, did_entropy_max_new_tokens=4,
    )  # fmt: skip
    trainer = InfopoGRPOTrainer(
        model=model, reward_funcs=[distinct_characters], args=args, train_dataset=arithmetic_prompts(16, seed=0)
    )
    trainer.train()
    rank = trainer.accelerator.process_index
    with open(os.path.join(out, f"rank{rank}.json"), "w") as handle:
        json.dump({"history": trainer.state.log_history, "kind": trainer.did_reference_kind}, handle)


if __name__ == "__main__":
    with distributed_run(destroy=torch.distributed.destroy_process_group) as run:  # ends the group on every path
        main(*sys.argv[1:3])
    if run.ended_group:
        exit_process(0)

"""Dynamic-sampling fields of the GRPO and IGPO configs (``InfopoGRPOConfig``, ``IGPOConfig``). Off by default."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DynamicSamplingArguments:
    """Dynamic sampling (DAPO, arXiv 2503.14476; verl's ``algorithm.filter_groups``): after generation and rewards,
    groups without a signal are dropped and more prompts are generated until the generation batch is full again."""

    dynamic_sampling: bool = field(
        default=False,
        metadata={
            "help": "Drop the groups whose signal has zero variance after generation and rewards, and generate "
            "more prompts (drawn from the training data by the run's own order) until every process's generation "
            "batch is full again or dynamic_sampling_max_rounds generations were made. The signal is the group's "
            "rewards in GRPO; in IGPO its turn rewards (information gains and outcomes, normalized as "
            "norm_mode says), so a group whose outcomes agree but whose information gains differ is kept: it "
            "still has a gradient. A group is never split: each process keeps whole groups (its generation "
            "batch, per_device_train_batch_size x steps_per_generation, must hold whole groups)."
        },
    )
    dynamic_sampling_max_rounds: int = field(
        default=10,
        metadata={
            "help": "Generations per step at most, the first included (verl's max_num_gen_batches). A batch "
            "still short after them trains on what it kept, filled up with dropped groups whose advantages "
            "are zero (counted in dynamic_sampling/short_batches)."
        },
    )

    def check_dynamic_sampling(self) -> None:
        """Checks that need no data set or model."""
        if self.dynamic_sampling_max_rounds < 1:
            raise ValueError(f"dynamic_sampling_max_rounds must be at least 1, got {self.dynamic_sampling_max_rounds}")
        if not self.dynamic_sampling:
            return
        scale = getattr(self, "scale_rewards", "group")
        aggregation = getattr(self, "multi_objective_aggregation", "sum_then_normalize")
        if scale == "batch" or aggregation != "sum_then_normalize":
            raise ValueError(
                "dynamic_sampling keeps the groups with a signal and trains on them as GRPO would: it needs "
                "advantages computed within each group (scale_rewards 'group' or 'none', "
                f"multi_objective_aggregation 'sum_then_normalize'); got scale_rewards={scale!r}, "
                f"multi_objective_aggregation={aggregation!r}"
            )

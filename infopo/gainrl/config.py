"""GAIN-RL fields of the GRPO and IGPO configs (``InfopoGRPOConfig``, ``IGPOConfig``). Off unless M is set."""

from __future__ import annotations

from dataclasses import dataclass, field

ORDERS = ("angle", "length", "random", "answer_logprob", "learnability")
SIGNALS = ("angle", "answer_logprob", "length")
"""What ``infopo gainrl score --signal`` writes, and the order each one ranks for."""
TARGETS = ("fixed", "running")
LEARNABILITY_DRAWS = ("variance", "thompson")


@dataclass
class GainRLArguments:
    """Angle-concentration data scheduling (GAIN-RL, arXiv 2506.02281).

    Setting ``gainrl_samples_per_epoch`` (M) replaces GRPO's uniform sampler: prompts are ranked once (by angle
    score, by length or at random), each epoch draws M of them by a Gaussian over ranks centred at mu, and after the
    epoch mu moves by ``gainrl_step * (tanh(alpha * (acc - target_acc)) + tanh(alpha * angle))``, clipped. Defaults
    scale the official values (sigma 1000, step 500, clip [0, 1000] for N of about 7500) to the data set size N.
    """

    gainrl_samples_per_epoch: int | None = field(
        default=None,
        metadata={
            "help": "M: prompts drawn per epoch; setting it turns GAIN-RL on. An epoch "
            "(num_train_epochs) is then one draw of M prompts, not a pass over the data "
            "set (M/N of TRL's epoch; set max_steps for a fixed length), and its prompts "
            "come in rank order, unshuffled, as the authors' code draws them."
        },
    )
    gainrl_order: str = field(
        default="angle",
        metadata={
            "help": "Ranking: 'angle' (score, highest first), 'answer_logprob' (the mean "
            "log-prob of the row's answer after the prompt, highest first), 'length' "
            "(shortest first) or 'random', each drawn by GAIN-RL's Gaussian over ranks; "
            "or 'learnability': no ranking, each epoch draws the prompts of highest "
            "predicted success variance under their success history "
            "(infopo.gainrl.learnability)."
        },
    )
    gainrl_scores: str | None = field(
        default=None,
        metadata={
            "help": "Score file from `infopo gainrl score` of the order's signal (angle or answer_logprob; for "
            "learnability, answer_logprob: the prior); without it the policy scores the prompts at "
            "start-up (learnability: a uniform prior)."
        },
    )
    gainrl_answer_column: str = field(
        default="answer", metadata={"help": "Column with each row's reference answer (gainrl_order answer_logprob)."}
    )
    gainrl_answer_prefix: str = field(
        default="",
        metadata={
            "help": "Text between the prompt and the scored answer (answer_logprob), e.g. ' the "
            "answer is ' where completions state it so."
        },
    )
    learnability_explore: float = field(
        default=0.25,
        metadata={
            "help": "Share of each epoch's M prompts that goes to the least-tried prompts (gainrl_order: learnability)."
        },
    )
    learnability_skip_floor: float = field(
        default=0.1,
        metadata={
            "help": "A prompt predicted to give a zero-variance group is skipped with that "
            "probability, at most 1 - this: its least chance per epoch to be drawn."
        },
    )
    learnability_draw: str = field(
        default="variance",
        metadata={
            "help": "How the learnability order picks an epoch's prompts: 'variance' (highest predicted success "
            "variance, the least-tried share and the zero-variance skip) or 'thompson' (MoPPS, arXiv 2507.04632: "
            "one success rate sampled from each prompt's posterior, the M closest to 0.5)."
        },
    )
    learnability_prior_strength: float = field(
        default=2.0, metadata={"help": "Pseudo-rollouts of the prior from answer_logprob scores (learnability)."}
    )
    gainrl_sigma: float | None = field(
        default=None, metadata={"help": "Width of the Gaussian over ranks, in ranks (default 0.13 * N)."}
    )
    gainrl_mu: float = field(default=0.0, metadata={"help": "Initial centre of the Gaussian, in ranks."})
    gainrl_step: float | None = field(
        default=None, metadata={"help": "n: size of a full update of mu, in ranks (default N / 15, i.e. 500 for 7500)."}
    )
    gainrl_alpha: float = field(default=2.0, metadata={"help": "Slope of the tanh in the update of mu."})
    gainrl_target_acc: float = field(
        default=0.5,
        metadata={"help": "beta: accuracy at which the accuracy term of the update is zero (gainrl_target: fixed)."},
    )
    gainrl_target: str = field(
        default="fixed",
        metadata={
            "help": "'fixed': beta = gainrl_target_acc (the authors' rule); 'running': beta is "
            "a moving average of the policy's own epoch accuracies, so mu advances for "
            "policies far from 50% success too."
        },
    )
    gainrl_target_momentum: float = field(
        default=0.5, metadata={"help": "Momentum of the running target's moving average (gainrl_target: running)."}
    )
    gainrl_max_delta: float | None = field(
        default=None,
        metadata={"help": "Upper clip of an update of mu (default 2 * step); the lower clip is gainrl_min_delta."},
    )
    gainrl_min_delta: float = field(
        default=0.0, metadata={"help": "Lower clip of an update of mu (0: mu never moves back)."}
    )
    gainrl_success_threshold: float = field(
        default=0.5,
        metadata={"help": "A rollout succeeds when its total reward is above this; acc is the epoch's success rate."},
    )
    gainrl_layer: int = field(
        default=-1,
        metadata={
            "help": "Decoder layer whose MLP input gives the hidden states (negative: from the end). "
            "The authors' forks hard-code layer 23 online, the last layer only of a 24-layer "
            "model (Qwen2.5-0.5B); infopo's default is the last layer of any depth."
        },
    )
    gainrl_inter_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of the question-template term of the offline score (paper 1, official code 8)."},
    )

    @property
    def gainrl_enabled(self) -> bool:
        return self.gainrl_samples_per_epoch is not None

    def check_gainrl(self) -> None:
        """Checks that need no data set (the rest happens when the trainer sees it)."""
        if not self.gainrl_enabled:
            return
        if self.gainrl_samples_per_epoch < 1:
            raise ValueError(f"gainrl_samples_per_epoch must be at least 1, got {self.gainrl_samples_per_epoch}")
        if self.gainrl_order not in ORDERS:
            raise ValueError(f"gainrl_order must be one of {', '.join(ORDERS)}, got {self.gainrl_order!r}")
        if self.gainrl_target not in TARGETS:
            raise ValueError(f"gainrl_target must be one of {', '.join(TARGETS)}, got {self.gainrl_target!r}")
        if not 0.0 <= self.gainrl_target_momentum < 1.0:
            raise ValueError(f"gainrl_target_momentum must lie in [0, 1), got {self.gainrl_target_momentum}")
        for name in ("gainrl_sigma", "gainrl_step"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if not 0.0 <= self.learnability_explore <= 1.0 or not 0.0 <= self.learnability_skip_floor <= 1.0:
            raise ValueError("learnability_explore and learnability_skip_floor must lie in [0, 1]")
        if self.learnability_draw not in LEARNABILITY_DRAWS:
            raise ValueError(
                f"learnability_draw must be one of {', '.join(LEARNABILITY_DRAWS)}, got {self.learnability_draw!r}"
            )
        if not self.learnability_prior_strength > 0:
            raise ValueError(f"learnability_prior_strength must be > 0, got {self.learnability_prior_strength}")
        if self.gainrl_max_delta is not None and self.gainrl_max_delta < self.gainrl_min_delta:
            raise ValueError("gainrl_max_delta must be at least gainrl_min_delta")

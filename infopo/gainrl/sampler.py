"""``GainRLSampler``: GRPO's prompt sampler with GAIN-RL's epoch draw, and the schedule state it shares.

It yields the same structure as TRL's ``RepeatSampler`` (each prompt ``mini_repeat_count`` times in a row, chunks of
``batch_size`` prompts repeated ``repeat_count`` times) so GRPO's grouping and generation reuse work unchanged, but
each epoch's prompts are :func:`~infopo.gainrl.schedule.draw_epoch`'s M ranks, in rank order. The draw depends only on
(seed, epoch, mu): every process draws the same prompts, and a run resumed from a checkpoint (which stores the state)
draws what the uninterrupted run drew.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import Sampler

from infopo.errors import InfopoConfigError
from infopo.gainrl.learnability import draw_learnable, draw_thompson
from infopo.gainrl.schedule import draw_epoch

STATE_FILE = "gainrl_state.json"


@dataclass
class GainRLState:
    """The schedule's state: the centre, the epoch in progress and that epoch's running sums (all processes'), and the
    running accuracy target (``gainrl_target: running``; None before the first epoch ends). ``gainrl_order:
    learnability``: each prompt's successes and rollouts up to the epoch's start, those of the epoch in progress
    (folded in when it ends), and what the epoch's draw decided (candidates skipped, mean predicted variance)."""

    mu: float
    samples_per_epoch: int = 0
    generation_batch_size: int = 0
    epoch: int = 0
    success_sum: float = 0.0
    success_count: int = 0
    angle_sum: float = 0.0
    angle_count: int = 0
    rank_mean: float = 0.0
    target: float | None = None
    successes: list[float] | None = None
    trials: list[int] | None = None
    pending_successes: list[float] | None = None
    pending_trials: list[int] | None = None
    skipped: int = 0
    predicted_var: float = 0.0

    def save(self, folder: str | Path) -> None:
        path = Path(folder) / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=1))
        temporary.replace(path)

    def load(self, folder: str | Path) -> None:
        """Replace this state with the one saved in checkpoint ``folder`` (in place: the sampler holds it)."""
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            raise InfopoConfigError(f"resuming GAIN-RL needs {path}, which the checkpoint does not have")
        saved = json.loads(path.read_text())
        for key in ("samples_per_epoch", "generation_batch_size"):  # they fix where epochs end
            if saved.get(key) != getattr(self, key):
                raise InfopoConfigError(
                    f"{path} was written with {key}={saved.get(key)}, this run has "
                    f"{getattr(self, key)}: resume with the same gainrl_samples_per_epoch, batch "
                    "size and number of processes"
                )
        for key, value in saved.items():
            setattr(self, key, value)


class GainRLSampler(Sampler[int]):
    """Yields data set indices for one epoch of GAIN-RL (see the module docstring)."""

    def __init__(
        self,
        ranked: list[int],
        samples_per_epoch: int,
        sigma: float,
        state: GainRLState,
        seed: int,
        mini_repeat_count: int = 1,
        batch_size: int = 1,
        repeat_count: int = 1,
    ):
        if samples_per_epoch > len(ranked):
            raise InfopoConfigError(
                f"gainrl_samples_per_epoch={samples_per_epoch} is larger than the data set ({len(ranked)} prompts)"
            )
        if samples_per_epoch % batch_size:
            raise InfopoConfigError(
                f"gainrl_samples_per_epoch={samples_per_epoch} must be a multiple of the "
                f"{batch_size} distinct prompts of a generation batch"
            )
        self.ranked, self.samples_per_epoch, self.sigma = ranked, samples_per_epoch, sigma
        self.state, self.seed = state, seed
        self.mini_repeat_count, self.batch_size, self.repeat_count = mini_repeat_count, batch_size, repeat_count

    def epoch_ranks(self) -> list[int]:
        """The ranks drawn for ``state.epoch`` at the current centre."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.state.epoch)
        return draw_epoch(len(self.ranked), self.samples_per_epoch, self.state.mu, self.sigma, generator)

    def epoch_indices(self) -> list[int]:
        """The data set indices of ``state.epoch``, in the order they are generated."""
        ranks = self.epoch_ranks()
        self.state.rank_mean = sum(ranks) / len(ranks)
        return [self.ranked[rank] for rank in ranks]

    def __iter__(self):
        indices = self.epoch_indices()
        for start in range(0, len(indices), self.batch_size):
            chunk = indices[start : start + self.batch_size]
            for _ in range(self.repeat_count):
                for index in chunk:
                    yield from [index] * self.mini_repeat_count

    def __len__(self) -> int:
        return self.samples_per_epoch * self.mini_repeat_count * self.repeat_count


class LearnabilitySampler(GainRLSampler):
    """GAIN-RL's sampler with :func:`~infopo.gainrl.learnability.draw_learnable`'s draw: the M prompts of highest
    predicted success variance under each prompt's Beta posterior (``prior``: its (a, b) before any rollout); with
    ``draw="thompson"`` :func:`~infopo.gainrl.learnability.draw_thompson`'s instead."""

    def __init__(
        self,
        prior: tuple[list[float], list[float]],
        group_size: int,
        explore: float,
        skip_floor: float,
        canonical: list[int] | None = None,
        draw: str = "variance",
        **settings,
    ):
        super().__init__(**settings)
        self.prior, self.group_size, self.explore, self.skip_floor = prior, group_size, explore, skip_floor
        self.draw = draw
        self.canonical = canonical or list(range(len(prior[0])))

    def epoch_indices(self) -> list[int]:
        """A repeated prompt's rows share its first row's counts (``canonical``): one prompt, one success rate."""
        state, canonical = self.state, self.canonical
        successes = [state.successes[canonical[i]] for i in range(len(canonical))]
        trials = [state.trials[canonical[i]] for i in range(len(canonical))]
        a = [prior + done for prior, done in zip(self.prior[0], successes, strict=True)]
        b = [prior + tried - done for prior, tried, done in zip(self.prior[1], trials, successes, strict=True)]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + state.epoch)
        if self.draw == "thompson":
            draw = draw_thompson(a, b, self.samples_per_epoch, generator)
            state.skipped, state.predicted_var = draw["skipped"], draw["predicted_var"]
            return draw["indices"]
        draw = draw_learnable(
            a,
            b,
            trials,
            self.samples_per_epoch,
            self.group_size,
            generator,
            explore=self.explore,
            skip_floor=self.skip_floor,
        )
        state.skipped, state.predicted_var = draw["skipped"], draw["predicted_var"]
        return draw["indices"]

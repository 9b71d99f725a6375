"""IGPO's counterfactual gain (``credit: counterfactual_gain``), after IG-Search (arXiv 2604.15148).

IG-Search credits a search step with how much its retrieved documents raise the policy's confidence in the gold answer
relative to a counterfactual baseline of random documents, so that a step earns credit for what its query found
rather than for any text placed in the context. Here: for search turn t of a rollout (t = 1..T-1, the turns followed
by an observation), v_t is the probe value after the real observation and v~_t the probe value after an observation of
``search_top_k`` documents drawn at random from the corpus in its place (same format, same count); the turn's reward is

    r_t = v_t - v~_t                                              (authors' IGPO: r_t = v_t - v_{t-1})

and everything after it (normalisation, discount, token advantages) is IGPO's. One extra probe row per search turn,
scored by the same packed probe (:meth:`IGPOTrainer._probe_logps`).

Followed from the paper: the counterfactual of random documents of the same count, the gold answer's probability under
the policy, one value per search step. Not followed, or not known from the paper: IG-Search feeds its step reward into
GRPO's advantages of the query tokens (infopo keeps IGPO's turn rewards, z-scored per group with the outcomes); how many
random draws it averages and whether it draws per rollout or per batch (infopo: one draw per search turn, seeded by the
run's seed, the step, the process and the turn).
"""

from __future__ import annotations

import random

import torch

from infopo.errors import InfopoConfigError
from infopo.igpo.rewards import probe_values


def counterfactual_trajectories(
    prompt: list[int], completion: list[int], spans: list[tuple[int, int]], observations: list[list[int]]
) -> tuple[list[list[int]], list[list[int]]]:
    """For each search turn t (a turn followed by an observation): the prompt, the completion up to the end of turn
    t's text, then ``observations[t]`` in place of the real observation; the probe boundary at its end."""
    if len(observations) != max(0, len(spans) - 1):
        raise ValueError(f"{len(observations)} counterfactual observations for {len(spans)} turns")
    trajectories, boundaries = [], []
    for (_, end), observation in zip(spans[:-1], observations, strict=True):
        trajectory = prompt + completion[:end] + list(observation)
        trajectories.append(trajectory)
        boundaries.append([len(trajectory)])
    return trajectories, boundaries


class CounterfactualProbeMixin:
    """``credit: counterfactual_gain`` for :class:`~infopo.igpo.trainer.IGPOTrainer`: the probe values after random
    documents, one per search turn of every multi-turn rollout."""

    def _check_counterfactual(self) -> None:
        """Random documents come from the environment's corpus: IGPO's tag loop over local documents."""
        retriever = getattr(self._tag_pool[0], "retriever", None) if self._tag_factory is not None else None
        if retriever is None or not hasattr(retriever, "documents") or not len(retriever.documents):
            raise InfopoConfigError(
                "credit counterfactual_gain draws random documents from the search corpus: it needs IGPO's tag loop "
                "over a corpus or index folder (not retriever_url, TRL's tool loop or a rollout_func)"
            )

    def _random_observation(self, rng: random.Random) -> list[int]:
        episode = self._tag_pool[0]
        documents = episode.retriever.documents
        picked = [documents[rng.randrange(len(documents))] for _ in range(episode.top_k)]
        text = self._tag_factory().observe(picked).observation
        return self._tokenizer(text, add_special_tokens=False)["input_ids"]

    def _counterfactual_probe(self, rows: list[int]) -> dict[int, torch.Tensor]:
        """v~_1..v~_{T-1} of each given local rollout (every process calls this, with or without rows)."""
        rollouts, entries, trajectories, boundaries = self._rollouts, [], [], []
        for index in rows:
            spans = rollouts["spans"][index]
            seeds = [
                f"{self.args.seed}-{self.state.global_step}-{self.accelerator.process_index}-{index}-{turn}"
                for turn in range(len(spans) - 1)
            ]
            observations = [self._random_observation(random.Random(seed)) for seed in seeds]
            built, points = counterfactual_trajectories(
                rollouts["prompt_ids"][index], rollouts["completion_ids"][index], spans, observations
            )
            entries += [index] * len(built)
            trajectories += built
            boundaries += points
        logps = self._probe_logps(entries, trajectories, boundaries)
        values: dict[int, list[torch.Tensor]] = {index: [] for index in rows}
        for index, value in zip(entries, logps, strict=True):
            values[index].append(probe_values(value, torch.ones_like(value), self.args.info_gain_kind))
        return {index: torch.cat(parts) if parts else torch.zeros(0) for index, parts in values.items()}

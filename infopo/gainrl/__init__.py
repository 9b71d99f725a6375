"""GAIN-RL: data scheduling by the angle concentration of the model's own hidden states (arXiv 2506.02281).

Pure functions (:mod:`~infopo.gainrl.signals`, :mod:`~infopo.gainrl.schedule`), offline scoring
(:mod:`~infopo.gainrl.scoring`, ``infopo gainrl score``), and the trainer layer: the ``gainrl_*`` fields of
``InfopoGRPOConfig``/``IGPOConfig`` and :class:`~infopo.gainrl.trainer.GainRLTrainerMixin` in their trainers.
"""

from infopo.gainrl.config import GainRLArguments
from infopo.gainrl.sampler import GainRLSampler, GainRLState
from infopo.gainrl.schedule import draw_epoch, gaussian_rank_probs, running_target, update_center
from infopo.gainrl.scoring import ranks_by_score, score_prompts, spearman
from infopo.gainrl.signals import angle_concentration, prompt_angle_score

__all__ = [
    "GainRLArguments",
    "GainRLSampler",
    "GainRLState",
    "angle_concentration",
    "draw_epoch",
    "gaussian_rank_probs",
    "prompt_angle_score",
    "ranks_by_score",
    "running_target",
    "score_prompts",
    "spearman",
    "update_center",
]

"""infopo: information-based preference and RL fine-tuning on top of TRL.

Every trainer, config and helper a user meets is importable from the top level, as TRL does
(``from infopo import IGPOTrainer, IGPOConfig``); the names load on first use, so ``import infopo`` stays fast.

- Trainers and configs: ``InfopoSFTTrainer``/``InfopoSFTConfig``, ``InfopoDPOTrainer``/``InfopoDPOConfig``,
  ``InfopoGRPOTrainer``/``InfopoGRPOConfig`` (TRL's, with KappaTune and GAIN-RL fields), ``DIDDPOTrainer``/
  ``DIDDPOConfig`` (DID metrics), ``IGPOTrainer``/``IGPOConfig`` (information-gain rewards for multi-turn agents).
- Models: ``resolve_model`` turns ``tiny:<preset>`` and ``smollm2:135m-instruct`` into local folders
  (:mod:`infopo.models`); ``build_tiny_model``, ``build_tokenizer``, ``save_tiny`` (:mod:`infopo.tiny`).
- The methods' pure functions live in :mod:`infopo.did`, :mod:`infopo.igpo`, :mod:`infopo.gainrl`, :mod:`infopo.kappa`;
  data sets in :mod:`infopo.data`, reward functions in :mod:`infopo.rewards`, model cards in :mod:`infopo.model_card`.
"""

from __future__ import annotations

from infopo.lazy import lazy_attributes

__version__ = "0.1.0"

_EXPORTS = {
    "InfopoSFTConfig": "infopo.configs",
    "InfopoDPOConfig": "infopo.configs",
    "InfopoGRPOConfig": "infopo.configs",
    "InfopoSFTTrainer": "infopo.trainers",
    "InfopoDPOTrainer": "infopo.trainers",
    "InfopoGRPOTrainer": "infopo.trainers",
    "DIDDPOConfig": "infopo.did.config",
    "DIDDPOTrainer": "infopo.did.trainer",
    "IGPOConfig": "infopo.igpo.config",
    "IGPOTrainer": "infopo.igpo.trainer",
    "GainRLArguments": "infopo.gainrl.config",
    "KappaArguments": "infopo.kappa.config",
    "resolve_model": "infopo.models",
    "build_tiny_model": "infopo.tiny",
    "build_tokenizer": "infopo.tiny",
    "save_tiny": "infopo.tiny",
}
"""Top-level names and the module each one is loaded from on first access."""

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_attributes(__name__, globals(), _EXPORTS)

"""infopo: information-based preference and RL fine-tuning on top of TRL.

Public entry points:
- :mod:`infopo.tiny`: offline tiny tokenizer and Qwen2/Llama models (``save_tiny``, ``resolve_model``).
- :mod:`infopo.data`: deterministic synthetic data sets and named data set loading.
- :mod:`infopo.rewards`: reward functions for GRPO.
- :mod:`infopo.configs` and :mod:`infopo.trainers`: TRL's configs and trainers with KappaTune and infopo's model
  card (``InfopoSFTTrainer``, ``InfopoDPOTrainer``, ``InfopoGRPOTrainer``).
- :mod:`infopo.kappa`: KappaTune, condition-number selective fine-tuning.
- :mod:`infopo.model_card`: the model card of a run.
"""

__version__ = "0.1.0"

from infopo.configs import InfopoDPOConfig, InfopoGRPOConfig, InfopoSFTConfig  # noqa: E402
from infopo.tiny import build_tiny_model, build_tokenizer, resolve_model, save_tiny  # noqa: E402
from infopo.trainers import InfopoDPOTrainer, InfopoGRPOTrainer, InfopoSFTTrainer  # noqa: E402

__all__ = [
    "InfopoDPOConfig",
    "InfopoDPOTrainer",
    "InfopoGRPOConfig",
    "InfopoGRPOTrainer",
    "InfopoSFTConfig",
    "InfopoSFTTrainer",
    "build_tiny_model",
    "build_tokenizer",
    "resolve_model",
    "save_tiny",
]

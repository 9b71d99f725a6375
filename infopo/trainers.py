"""TRL trainers with infopo's shared features; every infopo method's trainer derives from one of these.

They keep TRL's constructors unchanged and add mixins: :class:`~infopo.kappa.trainer.KappaTrainerMixin` (the
``kappa_*`` fields of infopo's configs, off by default), for GRPO :class:`~infopo.gainrl.trainer.GainRLTrainerMixin`
(the ``gainrl_*`` fields, off by default), :class:`~infopo.checkpoints.InfopoCheckpointMixin` (checkpoints marked
complete, resume from the last complete one) and :class:`InfopoCardMixin`, whose ``create_model_card``
(called by TRL at every checkpoint, by ``push_to_hub`` and by the command line at the end of a run) writes the card
of :func:`infopo.model_card.build_model_card`: the recipe, method sections and the final metrics.
"""

from __future__ import annotations

import os

import torch
import trl

from infopo.checkpoints import InfopoCheckpointMixin
from infopo.errors import InfopoConfigError
from infopo.gainrl.trainer import GainRLTrainerMixin
from infopo.kappa.trainer import KappaTrainerMixin
from infopo.model_card import build_model_card, final_metrics
from infopo.recipe import non_default_fields


class InfopoCardMixin:
    """Model-card behaviour shared by infopo trainers.

    Attributes a caller may set before saving (the command line does):
        recipe: the run's configuration as plain values; defaults to the training arguments that differ from
            their defaults.
        base_model_name: the model name as the user gave it (``tiny:qwen2``, ``Qwen/Qwen2.5-0.5B``); defaults to
            the model config's ``_name_or_path``.
        dataset_name: the training data's name.
    """

    infopo_method: str = "base"
    recipe: dict | None = None
    base_model_name: str | None = None
    dataset_name: str | None = None

    def _card_sections(self) -> list[tuple[str, str]]:
        """Extra (title, markdown) sections for the card; method mixins extend this list."""
        return []

    def create_model_card(self, model_name: str | None = None, dataset_name: str | None = None, tags=None, **kwargs):
        if not self.is_world_process_zero():
            return
        base_model = self.base_model_name or getattr(self.model.config, "_name_or_path", None)
        recipe = self.recipe if self.recipe is not None else {"model_name_or_path": base_model, **non_default_fields(self.args)}
        card = build_model_card(
            method=self.infopo_method,
            trainer_name=type(self).__name__,
            base_model=base_model,
            dataset_name=dataset_name or self.dataset_name,
            recipe=recipe,
            metrics=final_metrics(self.state.log_history),
            model_name=model_name,
            hub_model_id=self.hub_model_id,
            paper=self._paper or None,
            sections=self._card_sections(),
        )
        os.makedirs(self.args.output_dir, exist_ok=True)
        card.save(os.path.join(self.args.output_dir, "README.md"))


class InfopoSFTTrainer(KappaTrainerMixin, InfopoCardMixin, InfopoCheckpointMixin, trl.SFTTrainer):
    """TRL's ``SFTTrainer`` with KappaTune (``InfopoSFTConfig``'s ``kappa_*`` fields) and infopo's model card."""

    infopo_method = "sft"
    _tag_names = ["trl", "sft", "infopo"]


class InfopoDPOTrainer(KappaTrainerMixin, InfopoCardMixin, InfopoCheckpointMixin, trl.DPOTrainer):
    """TRL's ``DPOTrainer`` with KappaTune (``InfopoDPOConfig``'s ``kappa_*`` fields) and infopo's model card."""

    infopo_method = "dpo"
    _tag_names = ["trl", "dpo", "infopo"]


class InfopoGRPOTrainer(GainRLTrainerMixin, KappaTrainerMixin, InfopoCardMixin, InfopoCheckpointMixin, trl.GRPOTrainer):
    """TRL's ``GRPOTrainer`` with KappaTune (``kappa_*`` fields), GAIN-RL data scheduling (``gainrl_*`` fields) and
    infopo's model card."""

    infopo_method = "grpo"
    _tag_names = ["trl", "grpo", "infopo"]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        """TRL's rewards (None becomes NaN and is skipped by its nansum), refusing infinite ones, which would turn
        every advantage of their group into NaN."""
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        infinite = torch.isinf(rewards).any(dim=0)
        if infinite.any():
            names = [self.reward_func_names[i] for i in infinite.nonzero().flatten().tolist()]
            raise InfopoConfigError(f"reward function(s) {', '.join(names)} returned an infinite reward; return a "
                                    "finite value, or None to leave a completion out of that function's reward")
        return rewards

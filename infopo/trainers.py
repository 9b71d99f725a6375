"""TRL trainers with infopo's shared features; every infopo method's trainer derives from one of these.

They keep TRL's constructors unchanged and add mixins: :class:`~infopo.kappa.trainer.KappaTrainerMixin` (the
``kappa_*`` fields of infopo's configs, off by default), for GRPO :class:`~infopo.gainrl.trainer.GainRLTrainerMixin`
(the ``gainrl_*`` fields, off by default), :class:`~infopo.did.monitor.DIDEntropyMixin` (the ``did_entropy_*``
fields, off by default; for GRPO :class:`~infopo.did.monitor.DIDRolloutMixin`, which adds the rollout log-margin
ordering), :class:`~infopo.checkpoints.InfopoCheckpointMixin` (checkpoints marked
complete, resume from the last complete one) and :class:`~infopo.card_mixin.InfopoCardMixin`, whose
``create_model_card`` (called by TRL at every checkpoint, by ``push_to_hub`` and by the command line at the end of a
run) writes the card of :func:`infopo.model_card.build_model_card`: the recipe, method sections and the final metrics.
"""

from __future__ import annotations

import functools
import inspect
import warnings

import torch
import trl
from datasets import Dataset

from infopo.card_mixin import InfopoCardMixin, reward_function_name
from infopo.checkpoints import InfopoCheckpointMixin, last_complete_checkpoint
from infopo.configs import InfopoDPOConfig, InfopoGRPOConfig, InfopoSFTConfig, RedactedPickle, adopt_config
from infopo.data.validation import degenerate_counts, is_stream, rows_to_check
from infopo.did.monitor import DIDEntropyMixin, DIDRolloutMixin
from infopo.dynamic_sampling.trainer import DynamicSamplingMixin
from infopo.errors import InfopoConfigError, InfopoRunError
from infopo.gainrl.trainer import GainRLTrainerMixin
from infopo.kappa.trainer import KappaTrainerMixin
from infopo.models import resolve_model
from infopo.prompt_length import PromptLengthMixin
from infopo.recipe import SECRET_FIELDS
from infopo.trl_utils import trl_constructor_arguments
from infopo.vllm_sync import VLLMCPUSyncMixin


def trainer_arguments(cls, args: tuple, kwargs: dict) -> dict:
    """An infopo trainer's constructor arguments as TRL's keywords, checked and completed before TRL builds anything:

    - ``model`` given as an infopo name (``tiny:*``, ``smollm2:*``) is resolved to its folder, as on the command line;
    - ``args``: TRL's own config becomes ``cls.config_class`` with infopo's fields at their defaults, None becomes
      ``cls.config_class(output_dir="<model>-<method>")`` (:func:`~infopo.configs.adopt_config`);
    - a Hub token must not reach ``training_args.bin``: infopo's config classes drop it when pickled; another class
      holding one is refused;
    - ``push_to_hub`` with the Hub offline is refused (the upload would fail after the trainer is built).
    """
    arguments = trl_constructor_arguments(cls, args, kwargs)
    model = arguments.get("model")
    if isinstance(model, str):
        arguments["model"] = resolve_model(model)
    path = model if isinstance(model, str) else getattr(getattr(model, "config", None), "_name_or_path", "model")
    config = adopt_config(
        arguments.get("args"), cls.config_class, f"{str(path).rstrip('/').split('/')[-1]}-{cls._name}"
    )
    if any(getattr(config, field, None) for field in SECRET_FIELDS) and not isinstance(config, RedactedPickle):
        raise InfopoConfigError(
            f"{type(config).__name__} would write hub_token into training_args.bin of every saved "
            f"folder: pass {cls.config_class.__name__} (or TRL's own config class), or log in with "
            "`hf auth login` instead of setting hub_token"
        )
    if getattr(config, "push_to_hub", False):
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise InfopoConfigError(
                "push_to_hub is on but the Hub is offline (HF_HUB_OFFLINE=1): set push_to_hub: "
                "false (the model is saved in output_dir) or unset HF_HUB_OFFLINE"
            )
    arguments["args"] = config
    return arguments


class TrainerArgumentsMixin:
    """First in every infopo trainer's bases: :func:`trainer_arguments` before TRL's constructor."""

    config_class: type

    def __init__(self, *args, **kwargs):
        super().__init__(**trainer_arguments(type(self), args, kwargs))


class DegenerateDataMixin:
    """Warns once, with counts, about training rows that teach nothing: pairs whose chosen equals rejected, empty
    completions or prompts (:func:`infopo.data.validation.degenerate_counts`), and rows TRL drops because their prompt
    alone fills ``max_length`` (SFT and DPO drop fully truncated rows). Valid data, so a warning, not an error."""

    def __init__(self, *args, **kwargs):
        dataset = kwargs.get("train_dataset")
        counts = degenerate_counts(dataset)
        super().__init__(*args, **kwargs)
        if isinstance(dataset, Dataset) and isinstance(self.train_dataset, Dataset):
            counts["rows_truncated_away"] = len(dataset) - len(self.train_dataset)
            if len(dataset) and not len(self.train_dataset):
                raise InfopoConfigError(
                    f"train_dataset: all {len(dataset)} rows were dropped because the prompt alone fills max_length "
                    f"({getattr(self.args, 'max_length', None)}): nothing is left to train on; raise max_length or "
                    "shorten the prompts (a chat template's default system prompt counts)"
                )
        messages = {
            "identical_pairs": "have chosen identical to rejected (no preference, zero gradient)",
            "empty_completions": "have an empty completion",
            "empty_prompts": "have an empty prompt",
            "rows_truncated_away": f"were dropped: the prompt alone fills max_length "
            f"({getattr(self.args, 'max_length', None)}), nothing is left to train on",
        }
        found = [f"{count} {messages[kind]}" for kind, count in counts.items() if count > 0]
        if found:
            head = len(rows_to_check(dataset))
            rows = f"first {head} rows of a stream" if is_stream(dataset) else f"{len(dataset)} rows"
            warnings.warn(f"train_dataset ({rows}): " + "; ".join(found), DegenerateDataWarning, stacklevel=2)


class DegenerateDataWarning(UserWarning):
    """Training rows that teach nothing (see :class:`DegenerateDataMixin`)."""


class InfopoSFTTrainer(
    TrainerArgumentsMixin,
    KappaTrainerMixin,
    DIDEntropyMixin,
    InfopoCardMixin,
    DegenerateDataMixin,
    InfopoCheckpointMixin,
    trl.SFTTrainer,
):
    """TRL's ``SFTTrainer`` with KappaTune (``InfopoSFTConfig``'s ``kappa_*`` fields), the DID entropy
    (``did_entropy_*``) and infopo's model card."""

    infopo_method = "sft"
    config_class = InfopoSFTConfig
    _tag_names = ["trl", "sft", "infopo"]


class InfopoDPOTrainer(
    TrainerArgumentsMixin,
    KappaTrainerMixin,
    DIDEntropyMixin,
    InfopoCardMixin,
    DegenerateDataMixin,
    InfopoCheckpointMixin,
    trl.DPOTrainer,
):
    """TRL's ``DPOTrainer`` with KappaTune (``InfopoDPOConfig``'s ``kappa_*`` fields), the DID entropy
    (``did_entropy_*``) and infopo's model card."""

    infopo_method = "dpo"
    config_class = InfopoDPOConfig
    _tag_names = ["trl", "dpo", "infopo"]


class InfopoGRPOTrainer(
    DynamicSamplingMixin,
    VLLMCPUSyncMixin,
    TrainerArgumentsMixin,
    GainRLTrainerMixin,
    PromptLengthMixin,
    KappaTrainerMixin,
    DIDRolloutMixin,
    InfopoCardMixin,
    DegenerateDataMixin,
    InfopoCheckpointMixin,
    trl.GRPOTrainer,
):
    """TRL's ``GRPOTrainer`` with dynamic sampling (``dynamic_sampling*`` fields) and the ``rollouts_generated``
    count, ``max_prompt_length`` (:mod:`infopo.prompt_length`), KappaTune (``kappa_*`` fields), GAIN-RL data
    scheduling (``gainrl_*`` fields), the DID entropy and the rollout log-margin ordering (``did_entropy_*``) and
    infopo's model card."""

    infopo_method = "grpo"
    config_class = InfopoGRPOConfig
    _tag_names = ["trl", "grpo", "infopo"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reward_funcs = [
            self._guarded(function, name)
            for function, name in zip(self.reward_funcs, self.reward_func_names, strict=True)
        ]

    def _guarded(self, function, name: str):
        """``function`` raising becomes an :class:`~infopo.errors.InfopoRunError` that names it, the step and the
        newest complete checkpoint (reward models, which are modules, are left as they are)."""
        if isinstance(function, torch.nn.Module):
            return function

        def failure(error: Exception) -> InfopoRunError:
            checkpoint = last_complete_checkpoint(self.args.output_dir)
            resume = (
                f"resume with resume_from_checkpoint: {checkpoint}"
                if checkpoint is not None
                else f"no complete checkpoint in {self.args.output_dir} to resume from"
            )
            return InfopoRunError(
                f"reward function {name!r} raised {type(error).__name__}: {error} at step "
                f"{self.state.global_step}; {resume}"
            )

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def guarded_async(*args, **kwargs):
                try:
                    return await function(*args, **kwargs)
                except Exception as error:
                    raise failure(error) from error

            return guarded_async

        @functools.wraps(function)
        def guarded(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Exception as error:
                raise failure(error) from error

        return guarded

    def _recipe_extras(self) -> tuple[dict, list[str]]:
        extras, notes = super()._recipe_extras()
        names = [reward_function_name(function) for function in self._user_reward_funcs()]
        extras["reward_funcs"] = [name for name in names if name]
        for function, name in zip(self._user_reward_funcs(), names, strict=True):
            if name is None:
                function = inspect.unwrap(function)
                qualified = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"
                notes.append(
                    f"The recipe needs your reward function `{qualified}`, which cannot be imported by name "
                    "(a lambda, a closure, a method or a script's own function): put it in a module and add "
                    "its dotted path to reward_funcs."
                )
        return extras, notes

    def _user_reward_funcs(self) -> list:
        """The reward functions the user passed (not those TRL adds for an environment's ``get_reward``)."""
        return [function for function in self.reward_funcs if not getattr(function, "__name__", "") == "get_reward"]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        """TRL's rewards (None becomes NaN and is skipped by its nansum), refusing infinite ones, which would turn
        every advantage of their group into NaN."""
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        infinite = torch.isinf(rewards).any(dim=0)
        if infinite.any():
            names = [self.reward_func_names[i] for i in infinite.nonzero().flatten().tolist()]
            raise InfopoConfigError(
                f"reward function(s) {', '.join(names)} returned an infinite reward; return a "
                "finite value, or None to leave a completion out of that function's reward"
            )
        return rewards

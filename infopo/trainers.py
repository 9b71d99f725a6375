"""TRL trainers with infopo's shared features; every infopo method's trainer derives from one of these.

They keep TRL's constructors unchanged and add mixins: :class:`~infopo.kappa.trainer.KappaTrainerMixin` (the
``kappa_*`` fields of infopo's configs, off by default), for GRPO :class:`~infopo.gainrl.trainer.GainRLTrainerMixin`
(the ``gainrl_*`` fields, off by default), :class:`~infopo.checkpoints.InfopoCheckpointMixin` (checkpoints marked
complete, resume from the last complete one) and :class:`InfopoCardMixin`, whose ``create_model_card``
(called by TRL at every checkpoint, by ``push_to_hub`` and by the command line at the end of a run) writes the card
of :func:`infopo.model_card.build_model_card`: the recipe, method sections and the final metrics.
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings

import torch
import trl
from datasets import Dataset

from infopo.checkpoints import InfopoCheckpointMixin, last_complete_checkpoint
from infopo.configs import InfopoDPOConfig, InfopoGRPOConfig, InfopoSFTConfig, RedactedPickle, adopt_config
from infopo.data.synthetic import synthetic_recipe
from infopo.data.validation import degenerate_counts
from infopo.errors import InfopoConfigError, InfopoRunError
from infopo.gainrl.trainer import GainRLTrainerMixin
from infopo.kappa.trainer import KappaTrainerMixin
from infopo.model_card import build_model_card, final_metrics, pipeline_quick_start
from infopo.models import MODEL_PREFIXES, model_name_of, resolve_model
from infopo.recipe import SECRET_FIELDS, minimal_recipe
from infopo.trl_utils import trl_constructor_arguments


def example_prompt(dataset):
    """A prompt of the training data for the card's quick start: the first row's ``prompt``, or its ``messages`` up to
    the first assistant turn; None for plain text."""
    if dataset is None or not hasattr(dataset, "column_names") or not len(dataset):
        return None
    row = dataset[0]
    if "prompt" in row:
        return row["prompt"]
    if "messages" in row:
        messages = list(row["messages"])
        first = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), len(messages))
        return messages[:first] or None
    return None


def reward_function_name(function) -> str | None:
    """The name a recipe's ``reward_funcs`` uses for ``function``: its registry name, its dotted import path, or None
    when it cannot be imported by name (a lambda, a closure, a bound method)."""
    from infopo.rewards import REWARD_FUNCTIONS

    function = inspect.unwrap(function)
    for name, registered in REWARD_FUNCTIONS.items():
        if function is registered:
            return name
    qualified = getattr(function, "__qualname__", "")
    module = getattr(function, "__module__", None)
    if not module or not qualified or "<" in qualified or "." in qualified or module == "__main__":
        return None
    return f"{module}.{qualified}"


class InfopoCardMixin:
    """Model-card behaviour shared by infopo trainers.

    Attributes a caller may set before saving (the command line does):
        recipe: the run's configuration as plain values; by default the fewest fields that rebuild the training
            arguments (:func:`infopo.recipe.minimal_recipe`), with the model's and a synthetic data set's names.
        base_model_name: the model name as the user gave it (``tiny:qwen2``, ``Qwen/Qwen2.5-0.5B``); by default the
            path the trainer loaded, a cache folder shown by its name.
        dataset_name: the training data's name; by default a synthetic data set's name, else a description.
    """

    infopo_method: str = "base"
    recipe: dict | None = None
    base_model_name: str | None = None
    dataset_name: str | None = None

    def __init__(self, *args, **kwargs):
        model = kwargs["model"] if "model" in kwargs else args[0]
        path = model if isinstance(model, str) else getattr(getattr(model, "config", None), "_name_or_path", None)
        self.base_model_name = model_name_of(path)
        dataset = kwargs.get("train_dataset")
        self._dataset_recipe = synthetic_recipe(dataset)
        self.dataset_name = self._dataset_recipe.get("dataset_name") or describe_dataset(dataset)
        self._example_prompt = example_prompt(dataset)
        self._args_recipe: dict | None = None
        super().__init__(*args, **kwargs)

    # ---- what methods add -----------------------------------------------------------------------------------

    def _card_sections(self) -> list[tuple[str, str]]:
        """Extra (title, markdown) sections for the card; method mixins extend this list."""
        return []

    def _card_papers(self) -> list[dict]:
        """The papers of the methods used: every ``_paper`` along the class hierarchy (the trainer's own first, then
        the ones it builds on: DID on DPO, IGPO on GRPO); method mixins add theirs."""
        papers = []
        for cls in type(self).__mro__:
            paper = cls.__dict__.get("_paper")
            if paper and paper.get("id") and paper["id"] not in {p["id"] for p in papers}:
                papers.append(paper)
        return papers

    def _card_tags(self) -> list[str]:
        return [tag for tag in self._tag_names if tag not in ("trl", "infopo")]

    def _recipe_extras(self) -> tuple[dict, list[str]]:
        """Recipe fields the training arguments do not hold (GRPO's reward functions), and notes on what the recipe
        cannot express."""
        return {}, []

    def _quick_start(self, model_id: str) -> str:
        return pipeline_quick_start(model_id, self._example_prompt or "Hello!")

    # ---- the card -------------------------------------------------------------------------------------------

    def _default_recipe(self) -> tuple[dict, list[str]]:
        extras, notes = self._recipe_extras()
        if self._args_recipe is None:  # the config as the user set it (it is never changed: computed once)
            self._args_recipe = minimal_recipe(self.args)
        recipe = {
            "model_name_or_path": self.base_model_name,
            **self._dataset_recipe,
            **extras,
            **self._args_recipe,
            **self._peft_recipe(),
        }
        if not self._dataset_recipe:
            notes.append(
                f"The training data ({self.dataset_name}) was built in Python: add its dataset_name "
                "(a file, a Hub data set or synthetic:<task>) to rerun the recipe."
            )
        return {key: value for key, value in recipe.items() if value is not None}, notes

    def _peft_recipe(self) -> dict:
        """The recipe fields (``trl.ModelConfig``'s) of the LoRA adapters a ``peft_config`` given in Python put on the
        model: ``use_peft`` and the ``lora_*`` values (for ``kappa_mode: lora`` r, alpha and dropout only: the
        targets come from the kappa selection)."""
        config = (getattr(self.accelerator.unwrap_model(self.model), "peft_config", None) or {}).get("default")
        if config is None or not hasattr(config, "lora_alpha"):
            return {}
        fields = {"lora_r": config.r, "lora_alpha": config.lora_alpha, "lora_dropout": config.lora_dropout}
        if getattr(self.args, "kappa_enabled", False) and self.args.kappa_mode == "lora":
            return fields
        targets = config.target_modules
        fields = {
            "use_peft": True,
            **fields,
            "lora_target_modules": sorted(targets) if isinstance(targets, (set, list, tuple)) else targets,
        }
        fields.update({name: True for name in ("use_rslora", "use_dora") if getattr(config, name, False)})
        return {key: value for key, value in fields.items() if value is not None}

    def create_model_card(
        self,
        model_name: str | None = None,
        dataset_name: str | None = None,
        tags=None,
        license: str | None = None,
        **kwargs,
    ):
        """Write ``README.md`` into ``output_dir`` (main process). ``tags`` are merged with infopo's and the method's;
        ``license`` defaults to the base model's when infopo knows it (its tiny kit and SmolLM2: apache-2.0)."""
        if not self.is_world_process_zero():
            return
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        recipe, notes = (self.recipe, []) if self.recipe is not None else self._default_recipe()
        sections = self._card_sections()
        if notes:
            sections.append(("Not in the recipe", "\n".join(f"- {note}" for note in notes)))
        known_license = "apache-2.0" if (self.base_model_name or "").startswith(MODEL_PREFIXES) else None
        card = build_model_card(
            command=self.infopo_method,
            trainer_name=type(self).__name__,
            base_model=self.base_model_name,
            dataset_name=dataset_name or self.dataset_name,
            recipe=recipe,
            metrics=final_metrics(self.state.log_history),
            quick_start=self._quick_start(self.hub_model_id or "path/to/this/folder"),
            papers=self._card_papers(),
            sections=sections,
            tags=[*self._card_tags(), *tags],
            license=license or known_license,
            model_name=model_name,
            hub_model_id=self.hub_model_id,
        )
        os.makedirs(self.args.output_dir, exist_ok=True)
        card.save(os.path.join(self.args.output_dir, "README.md"))


def describe_dataset(dataset) -> str | None:
    """A data set's Hub name when it has one, else what it is: rows and columns."""
    if dataset is None:
        return None
    name = getattr(getattr(dataset, "info", None), "dataset_name", None)
    if name:
        return name
    if hasattr(dataset, "column_names") and hasattr(dataset, "__len__"):
        return f"an in-memory data set of {len(dataset)} rows ({', '.join(dataset.column_names)})"
    return type(dataset).__name__


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
            total = len(dataset)
            warnings.warn(f"train_dataset ({total} rows): " + "; ".join(found), DegenerateDataWarning, stacklevel=2)


class DegenerateDataWarning(UserWarning):
    """Training rows that teach nothing (see :class:`DegenerateDataMixin`)."""


class InfopoSFTTrainer(
    TrainerArgumentsMixin,
    KappaTrainerMixin,
    InfopoCardMixin,
    DegenerateDataMixin,
    InfopoCheckpointMixin,
    trl.SFTTrainer,
):
    """TRL's ``SFTTrainer`` with KappaTune (``InfopoSFTConfig``'s ``kappa_*`` fields) and infopo's model card."""

    infopo_method = "sft"
    config_class = InfopoSFTConfig
    _tag_names = ["trl", "sft", "infopo"]


class InfopoDPOTrainer(
    TrainerArgumentsMixin,
    KappaTrainerMixin,
    InfopoCardMixin,
    DegenerateDataMixin,
    InfopoCheckpointMixin,
    trl.DPOTrainer,
):
    """TRL's ``DPOTrainer`` with KappaTune (``InfopoDPOConfig``'s ``kappa_*`` fields) and infopo's model card."""

    infopo_method = "dpo"
    config_class = InfopoDPOConfig
    _tag_names = ["trl", "dpo", "infopo"]


class InfopoGRPOTrainer(
    TrainerArgumentsMixin,
    GainRLTrainerMixin,
    KappaTrainerMixin,
    InfopoCardMixin,
    DegenerateDataMixin,
    InfopoCheckpointMixin,
    trl.GRPOTrainer,
):
    """TRL's ``GRPOTrainer`` with KappaTune (``kappa_*`` fields), GAIN-RL data scheduling (``gainrl_*`` fields) and
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

"""Model cards of infopo trainers: :class:`InfopoCardMixin`, in the bases of every trainer of :mod:`infopo.trainers`.

Its ``create_model_card`` (called by TRL at every checkpoint, by ``push_to_hub`` and by the command line at the end of
a run) writes the card of :func:`infopo.model_card.build_model_card`: the recipe (the fewest fields that rebuild the
run, :func:`infopo.recipe.minimal_recipe`), method sections, papers and tags that method mixins add through the
``_card_*`` hooks, and the final metrics. :func:`example_prompt`, :func:`describe_dataset` and
:func:`reward_function_name` describe the run's data and reward functions for it.
"""

from __future__ import annotations

import inspect
import os

from infopo.data.synthetic import synthetic_recipe
from infopo.data.validation import is_stream, rows_to_check
from infopo.model_card import build_model_card, final_metrics, pipeline_quick_start
from infopo.models import MODEL_PREFIXES, model_name_of
from infopo.recipe import minimal_recipe


def example_prompt(dataset):
    """A prompt of the training data for the card's quick start: the first row's ``prompt``, or its ``messages`` up to
    the first assistant turn; None for plain text."""
    if dataset is None or not hasattr(dataset, "column_names"):
        return None
    dataset = rows_to_check(dataset)  # a stream's first rows, read once for every start-up check
    if not len(dataset):
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
    if is_stream(dataset):
        return f"a stream ({', '.join(rows_to_check(dataset).column_names)})"
    return type(dataset).__name__

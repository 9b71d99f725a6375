"""The training commands' shared run: parse, check everything, train, save, write the card, push, summarise.

Every check that can fail (config, model path, data set, split, columns, reward functions) runs before the trainer
is built, so a bad recipe fails in seconds with an error that names what is wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from trl import ModelConfig, ScriptArguments, get_peft_config, get_quantization_config

from infopo.checkpoints import last_complete_checkpoint
from infopo.cli.parsing import parse_recipe
from infopo.cli.summary import print_summary, process_seconds
from infopo.data import load_named_dataset, require_split
from infopo.distributed import end_process_group
from infopo.errors import InfopoConfigError, InfopoStopped
from infopo.models import is_named_model, resolve_model


@dataclass
class InfopoScriptArguments(ScriptArguments):
    """TRL's script arguments plus the knobs of infopo's synthetic data sets (``dataset_name: synthetic:<task>``)."""

    synthetic_rows: int = field(default=256, metadata={"help": "Rows of the train split of a synthetic data set."})
    synthetic_seed: int = field(default=0, metadata={"help": "Seed of a synthetic data set (test split: seed + 1)."})
    conversational: bool = field(
        default=False, metadata={"help": "Make a synthetic data set in the conversational (messages) format."}
    )


@dataclass(frozen=True)
class TrainingCommand:
    """What differs between training commands; :func:`run_training` does the rest.

    ``check_dataset(dataset, name, script_args, training_args)`` raises when a split lacks what the trainer needs
    (columns, and in every row the types the format requires: :mod:`infopo.data.validation`);
    ``prepare_dataset(dataset, model_path, training_args)`` may transform a checked split (SFT tokenizes agent
    trajectories); ``trainer_kwargs(script_args)`` gives the trainer's extra constructor arguments (GRPO's
    ``reward_funcs``); ``after_training(trainer)`` runs on the main process after the model is saved (IGPO's curves);
    ``test_split_purpose(training_args)`` says why the test split is loaded (evaluation is on), or None when it is
    not.
    """

    name: str
    script_class: type
    config_class: type
    trainer_class: type
    check_dataset: Callable[[object, str, object, object], None]
    trainer_kwargs: Callable[[object], dict] = lambda script_args: {}
    prepare_dataset: Callable[[object, str, object], object] = lambda dataset, model_path, training_args: dataset
    after_training: Callable[[object], None] | None = None
    test_split_purpose: Callable[[object], str | None] = lambda training_args: evaluation_purpose(training_args)

    @property
    def dataclass_types(self) -> tuple[type, ...]:
        return (self.script_class, self.config_class, ModelConfig)


def evaluation_purpose(training_args) -> str | None:
    """Why the test split is needed for ``eval_strategy``, or None when evaluation is off."""
    if training_args.eval_strategy == "no":
        return None
    return f"evaluation, eval_strategy: {training_args.eval_strategy.value}; or set eval_strategy: no"


def prepare_model(model_args: ModelConfig, training_args) -> str:
    """Resolve the model name to a loadable path (building a ``tiny:`` model) and set TRL's ``model_init_kwargs``."""
    name = model_args.model_name_or_path
    if not name:
        raise InfopoConfigError("model_name_or_path is required (e.g. tiny:qwen2 or Qwen/Qwen2.5-0.5B-Instruct)")
    if is_named_model(name) or Path(name).expanduser().exists():
        path = resolve_model(name) if is_named_model(name) else str(Path(name).expanduser())
    elif name.startswith(("/", "./", "../", "~")):
        raise InfopoConfigError(f"model folder not found: {name}")
    else:
        path = name
    init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    training_args.model_init_kwargs = {**init_kwargs, **(training_args.model_init_kwargs or {})}
    return path


def peft_config(model_args: ModelConfig, training_args):
    """TRL's LoRA config from the ``lora_*`` fields when ``use_peft`` is on, and also for ``kappa_mode: lora``,
    whose adapters take r, alpha and dropout from the same fields (their targets come from the kappa selection)."""
    kappa_lora = getattr(training_args, "kappa_enabled", False) and training_args.kappa_mode == "lora"
    return get_peft_config(dataclasses.replace(model_args, use_peft=model_args.use_peft or kappa_lora))


def load_splits(command: TrainingCommand, script_args, training_args):
    """The train split (and the test split when evaluation is on), with the command's columns checked."""
    name = script_args.dataset_name
    if not name:
        raise InfopoConfigError("dataset_name is required (e.g. synthetic:arithmetic_preference or a file path)")
    if script_args.dataset_streaming:
        raise InfopoConfigError("dataset_streaming: true is not supported; columns are checked on a loaded data set")
    if script_args.conversational and not name.startswith("synthetic:"):
        raise InfopoConfigError(
            f"--conversational true makes a synthetic data set conversational; {name!r} has its own format (a "
            "prompt as text or as a list of messages is taken as it is): leave --conversational out"
        )
    datasets = load_named_dataset(
        name,
        script_args.dataset_config,
        synthetic_rows=script_args.synthetic_rows,
        synthetic_seed=script_args.synthetic_seed,
        conversational=script_args.conversational,
    )
    splits = [require_split(datasets, script_args.dataset_train_split, name)]
    if (purpose := command.test_split_purpose(training_args)) is not None:
        splits.append(require_split(datasets, script_args.dataset_test_split, name, purpose))
    for split in splits:
        command.check_dataset(split, name, script_args, training_args)
    return splits[0], splits[1] if len(splits) > 1 else None


def run_training(command: TrainingCommand, argv: list[str]):
    """Run one training command end to end; returns the trainer."""
    (script_args, training_args, model_args), recipe = parse_recipe(
        command.dataclass_types, argv, f"infopo {command.name}"
    )
    model_path = prepare_model(model_args, training_args)
    train_dataset, eval_dataset = load_splits(command, script_args, training_args)
    train_dataset = command.prepare_dataset(train_dataset, model_path, training_args)
    if eval_dataset is not None:
        eval_dataset = command.prepare_dataset(eval_dataset, model_path, training_args)
    trainer = command.trainer_class(
        model=model_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        peft_config=peft_config(model_args, training_args),
        quantization_config=get_quantization_config(model_args),
        **command.trainer_kwargs(script_args),
    )
    if script_args.ignore_bias_buffers:  # TRL's DDP work-around for boolean buffers, as in `trl dpo`
        trainer.model._ddp_params_and_buffers_to_ignore = [
            name for name, buffer in trainer.model.named_buffers() if buffer.dtype == torch.bool
        ]
    trainer.recipe = recipe
    trainer.base_model_name = model_args.model_name_or_path
    trainer.dataset_name = script_args.dataset_name
    resume = training_args.resume_from_checkpoint
    if isinstance(resume, str) and resume.lower() in ("true", "last"):
        resume = True  # the last complete checkpoint in output_dir (infopo.checkpoints)
    trainer.train(resume_from_checkpoint=resume)
    if trainer.stopped_by is not None:  # preempted: the step's checkpoint is complete; no final save, card or push
        checkpoint = last_complete_checkpoint(training_args.output_dir)
        raise InfopoStopped(
            f"stopped by {trainer.stopped_by} at step {trainer.state.global_step}; {checkpoint} is "
            "complete: rerun with --resume_from_checkpoint true to continue"
        )
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.dataset_name)  # saves, writes the card, uploads the folder
    else:
        trainer.save_model(training_args.output_dir)
        trainer.create_model_card()
    if trainer.is_world_process_zero():
        if command.after_training is not None:
            command.after_training(trainer)
        print_summary(trainer, command.name, process_seconds())
    if trainer.accelerator.num_processes > 1:
        state = trainer.accelerator.state
        print(f"infopo {command.name}: rank {state.process_index}/{state.num_processes} finished", flush=True)
    end_process_group(synchronize=True)  # every rank is done before any tears the group down
    trainer.end()
    return trainer

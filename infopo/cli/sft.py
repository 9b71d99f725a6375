"""``infopo sft``: TRL's SFT through infopo's recipes, checks, KappaTune fields and model card."""

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.configs import InfopoSFTConfig
from infopo.errors import InfopoConfigError
from infopo.trainers import InfopoSFTTrainer

SFT_FORMATS = (("text",), ("messages",), ("prompt", "completion"), ("prompt", "turns", "observations"))
"""The data set formats: TRL's (language modelling, conversational, prompt-completion) and multi-turn agent
trajectories, which are tokenized as IGPO's rollouts are and trained on the model's turns only."""


def _check_sft_columns(dataset, name: str, _) -> None:
    if not any(all(column in dataset.column_names for column in form) for form in SFT_FORMATS):
        accepted = " or ".join("+".join(form) for form in SFT_FORMATS)
        raise InfopoConfigError(
            f"dataset {name!r} has none of the SFT formats ({accepted}); its columns: {', '.join(dataset.column_names)}"
        )


def _tokenize_trajectories(dataset, model_path: str, training_args):
    """Trajectory rows become ``input_ids``/``assistant_masks`` (see :mod:`infopo.igpo.warm_start`)."""
    if "turns" not in dataset.column_names or "completion" in dataset.column_names:
        return dataset
    from transformers import AutoTokenizer

    from infopo.igpo.warm_start import tokenize_trajectories

    tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=training_args.trust_remote_code)
    return tokenize_trajectories(tokenizer, dataset)


SFT = TrainingCommand(
    name="sft",
    script_class=InfopoScriptArguments,
    config_class=InfopoSFTConfig,
    trainer_class=InfopoSFTTrainer,
    check_dataset=_check_sft_columns,
    prepare_dataset=_tokenize_trajectories,
)

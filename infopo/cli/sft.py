"""``infopo sft``: TRL's SFT through infopo's recipes, checks, KappaTune fields and model card."""

from infopo.cli.train import InfopoScriptArguments, TrainingCommand
from infopo.configs import InfopoSFTConfig
from infopo.data.validation import check_rows, check_same_kind, is_messages, is_text, is_text_list, is_text_or_messages
from infopo.errors import InfopoConfigError
from infopo.trainers import InfopoSFTTrainer

SFT_FORMATS = {
    ("prompt", "turns", "observations"): {
        "prompt": is_text_or_messages,
        "turns": is_text_list,
        "observations": is_text_list,
    },
    ("prompt", "completion"): {"prompt": is_text_or_messages, "completion": is_text_or_messages},
    ("messages",): {"messages": is_messages},
    ("text",): {"text": is_text},
}
"""The data set formats, the first whose columns are all there applies: multi-turn agent trajectories (tokenized as
IGPO's rollouts are, trained on the model's turns only) and TRL's (prompt-completion, conversational, language
modelling), with the check of each column."""


def _check_sft_columns(dataset, name: str, script_args, training_args) -> None:
    form = next((form for form in SFT_FORMATS if all(column in dataset.column_names for column in form)), None)
    if form is None:
        accepted = " or ".join("+".join(form) for form in SFT_FORMATS)
        raise InfopoConfigError(
            f"dataset {name!r} has none of the SFT formats ({accepted}); its columns: {', '.join(dataset.column_names)}"
        )
    check_rows(dataset, SFT_FORMATS[form], name)
    if form == ("prompt", "completion"):
        check_same_kind(dataset, form, name)


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

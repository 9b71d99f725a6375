"""``max_prompt_length`` for the GRPO-family trainers (GRPO, IGPO): TRL 1.16's ``GRPOConfig`` has none, so a
12,000-token prompt goes whole into generation (on a GPU: an out-of-memory error or garbage, hours in).

Before training, every prompt of the training set (of a stream: its first rows) is tokenized as TRL's generation
tokenizes it (``_tokenize_prompts``: the chat template with the generation prompt for conversational data) and the
prompts longer than ``max_prompt_length`` are counted, in one line. Then, by ``overlong_prompts``:

- ``error`` (default): stop before training, with the count, the longest and the rows' indices;
- ``drop``: leave those rows out of the training set (verl's ``filter_overlong_prompts``);
- ``truncate_left``: keep them, and generate from their last ``max_prompt_length`` tokens (verl's
  ``truncation: left``); a stream's later rows are cut the same way at generation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from infopo.data.validation import is_stream, rows_to_check
from infopo.errors import InfopoConfigError

OVERLONG_POLICIES = ("error", "drop", "truncate_left")
BATCH = 256


@dataclass
class PromptLengthArguments:
    """The prompt-length fields of the GRPO and IGPO configs."""

    max_prompt_length: int | None = field(
        default=None,
        metadata={
            "help": "Longest prompt in tokens, as generation sees it (chat template and generation prompt "
            "included); None: no limit (TRL's behaviour). Prompts over it are counted before training and handled "
            "as overlong_prompts says."
        },
    )
    overlong_prompts: str = field(
        default="error",
        metadata={
            "help": "Prompts longer than max_prompt_length: 'error' (stop before training, with the count), 'drop' "
            "(leave those rows out, verl's filter_overlong_prompts) or 'truncate_left' (generate from their last "
            "max_prompt_length tokens)."
        },
    )

    def check_prompt_length(self) -> None:
        if self.overlong_prompts not in OVERLONG_POLICIES:
            raise ValueError(
                f"overlong_prompts must be one of {', '.join(OVERLONG_POLICIES)}, got {self.overlong_prompts!r}"
            )
        if self.max_prompt_length is not None and self.max_prompt_length < 1:
            raise ValueError(f"max_prompt_length must be at least 1, got {self.max_prompt_length}")


class OverlongPromptWarning(UserWarning):
    """Prompts longer than ``max_prompt_length`` were dropped or will be cut (see :mod:`infopo.prompt_length`)."""


class PromptLengthMixin:
    """Counts the training prompts over ``max_prompt_length`` after TRL's constructor (which loads the tokenizer) and
    applies ``overlong_prompts``; cuts prompts from the left at generation under ``truncate_left``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = getattr(self.args, "max_prompt_length", None)
        if limit is None or self.train_dataset is None:
            return
        lengths = self.prompt_lengths(self.train_dataset)
        over = [index for index, length in enumerate(lengths) if length > limit]
        if not over:
            return
        policy, stream = self.args.overlong_prompts, is_stream(self.train_dataset)
        scope = f"of the first {len(lengths)} rows of the stream" if stream else f"of {len(lengths)}"
        summary = (
            f"train_dataset: {len(over)} prompts {scope} are longer than max_prompt_length {limit} (longest "
            f"{max(lengths)} tokens; rows {', '.join(map(str, over[:5]))}{', ...' if len(over) > 5 else ''})"
        )
        if policy == "error":
            raise InfopoConfigError(
                f"{summary}: raise --max_prompt_length, or set --overlong_prompts drop (leave them out) or "
                "truncate_left (keep their last tokens)"
            )
        if policy == "drop" and stream:
            raise InfopoConfigError(f"{summary}: overlong_prompts 'drop' needs a map-style data set; use truncate_left")
        if policy == "drop":
            kept = sorted(set(range(len(lengths))) - set(over))
            if not kept:
                raise InfopoConfigError(f"{summary}: every row would be dropped")
            self.train_dataset = self.train_dataset.select(kept)
        action = "dropped" if policy == "drop" else "cut to their last tokens at generation"
        warnings.warn(f"{summary}: {action}", OverlongPromptWarning, stacklevel=2)

    def prompt_lengths(self, dataset) -> list[int]:
        """Token counts of the ``prompt`` column as TRL's generation tokenizes it (a stream: its first rows)."""
        prompts = list(rows_to_check(dataset)["prompt"])
        lengths = []
        for start in range(0, len(prompts), BATCH):
            lengths += [len(ids) for ids in self._generation_prompt_ids(prompts[start : start + BATCH])]
        return lengths

    def _generation_prompt_ids(self, prompts: list) -> list:
        if getattr(self, "environment_factories", None) is None:
            return super()._tokenize_prompts(prompts)[0]
        # TRL's multi-environment tool loop renders each prompt with its environment's tools, chosen per batch:
        # counted here without them (a lower bound).
        rendered = self.processing_class.apply_chat_template(
            conversation=prompts, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return rendered["input_ids"]

    def _tokenize_prompts(self, prompts: list):
        prompt_ids, images, fields = super()._tokenize_prompts(prompts)
        limit = getattr(self.args, "max_prompt_length", None)
        if limit is not None and getattr(self.args, "overlong_prompts", None) == "truncate_left":
            prompt_ids = [list(ids)[-limit:] for ids in prompt_ids]
        return prompt_ids, images, fields

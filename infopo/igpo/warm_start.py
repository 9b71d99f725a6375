"""Supervised warm start for IGPO on whole demonstrations, tokenized the way IGPOTrainer's rollouts are.

A rollout's token sequence is the prompt's tokens, then each turn's tokens and each observation's tokens, each
tokenized on its own. :func:`tokenize_trajectories` builds SFT rows the same way, with ``assistant_masks`` set on
the model's turns only, so TRL's ``SFTTrainer`` trains on every turn of a demonstration in one row and never on the
environment's text (TRL applies ``assistant_masks`` to pre-tokenized data).
"""

from __future__ import annotations

from datasets import Dataset

from infopo.errors import InfopoConfigError
from infopo.scoring import encode_prompt


def tokenize_trajectories(tokenizer, trajectories: Dataset) -> Dataset:
    """Rows ``input_ids``/``assistant_masks`` from rows ``prompt``/``turns``/``observations`` (one fewer observation
    than turns), e.g. :func:`infopo.data.lookup.lookup_trajectories`."""
    missing = {"prompt", "turns", "observations"} - set(trajectories.column_names)
    if missing:
        raise InfopoConfigError(f"trajectories need column(s) {', '.join(sorted(missing))}")

    def encode(row, index):
        if len(row["observations"]) != len(row["turns"]) - 1:
            raise InfopoConfigError(
                f"row {index}: a trajectory with {len(row['turns'])} turns needs "
                f"{len(row['turns']) - 1} observations, got {len(row['observations'])}"
            )
        ids = encode_prompt(tokenizer, row["prompt"])
        mask = [0] * len(ids)
        for turn, observation in zip(row["turns"], row["observations"] + [""], strict=True):
            for text, trained in ((turn, 1), (observation, 0)):
                piece = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
                ids += piece
                mask += [trained] * len(piece)
        return {"input_ids": ids, "assistant_masks": mask}

    return trajectories.map(encode, with_indices=True, remove_columns=trajectories.column_names)

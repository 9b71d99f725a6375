"""Columns inside columns: ``answer_column: reward_model.ground_truth.target`` (where verl's Search-R1 parquet keeps
the gold answers) reads ``row["reward_model"]["ground_truth"]["target"]``. :func:`with_nested_column` adds that value
as a column of that dotted name, so every reader of ``row[answer_column]`` finds it; :func:`answer_like_columns`
names the columns (nested ones included) that look like answers, for the missing-column error."""

from __future__ import annotations

from collections.abc import Mapping

from infopo.data.validation import rows_to_check
from infopo.errors import InfopoConfigError

ANSWER_WORDS = ("answer", "target", "ground_truth", "label", "solution")


def nested_value(row: dict, path: str):
    """``row[a][b][c]`` for ``path`` ``"a.b.c"``; KeyError naming the first missing part."""
    value = row
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(part)
        value = value[part]
    return list(value) if hasattr(value, "tolist") or isinstance(value, tuple) else value


def with_nested_column(dataset, path: str, name: str = "dataset"):
    """``dataset`` with a column ``path`` holding :func:`nested_value` of every row; unchanged when ``path`` is a
    column already or has no dot. An error names the missing part and the columns when the first row lacks it."""
    columns = rows_to_check(dataset).column_names
    if "." not in path or path in columns:
        return dataset
    head = rows_to_check(dataset)
    try:
        nested_value(head[0], path) if len(head) else None
    except KeyError as missing:
        raise InfopoConfigError(
            f"{name}: answer_column {path!r}: no {missing} in the first row; its columns: {', '.join(columns)}"
        ) from None
    return dataset.map(lambda row: {path: nested_value(row, path)})


def answer_like_columns(dataset) -> list[str]:
    """Columns and nested fields of the first row whose name contains an answer-like word (``golden_answers``,
    ``reward_model.ground_truth.target``)."""
    head = rows_to_check(dataset)
    if not len(head):
        return []
    found = []

    def visit(value, prefix: str) -> None:
        for key, inner in value.items():
            path = f"{prefix}{key}"
            if isinstance(inner, Mapping):
                visit(inner, f"{path}.")
            elif any(word in path.lower() for word in ANSWER_WORDS):
                found.append(path)

    visit(head[0], "")
    return found

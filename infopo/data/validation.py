"""Data that a command cannot train on, found before any model is built: one line naming the file, the row, the
column and what was there.

Two kinds of problem:

- files that do not load (:func:`explain_load_failure`): a JSON Lines file with a cut-off or malformed line, bytes
  that are not UTF-8, a column whose values change type between rows (Arrow refuses to load it), a CSV with broken
  quoting, a parquet file that is not one. The error names the file and, where it can be known, the line.
- rows of a loaded data set (:func:`check_rows`): each column a command reads must hold what its format requires in
  every row (text, a list of ``{role, content}`` messages, a non-empty answer, a value for a reward function).

Degenerate but valid data (pairs whose chosen equals rejected, empty completions, rows truncated away entirely) is
not an error: the trainers warn about it once, with a count (:func:`degenerate_counts`).

A stream (``datasets.IterableDataset``, as TRL accepts for training and evaluation) is checked on its first
:data:`STREAM_HEAD_ROWS` rows, read once and shared by every start-up check and the model card (:func:`rows_to_check`).
"""

from __future__ import annotations

import csv
import itertools
import json
import numbers
import weakref
from collections.abc import Callable
from pathlib import Path

from infopo.errors import InfopoConfigError

STREAM_HEAD_ROWS = 100
"""Rows of a stream that start-up checks and the card read (once per stream; a stream may be endless)."""

_stream_heads: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_stream(dataset) -> bool:
    from datasets import IterableDataset

    return isinstance(dataset, IterableDataset)


def rows_to_check(dataset):
    """What start-up checks read of ``dataset``: a map-style data set whole; of a stream, a ``Dataset`` of its first
    :data:`STREAM_HEAD_ROWS` rows, read on the first call and shared by every later one (the stream is read once
    here, whatever the number of checks)."""
    if not is_stream(dataset):
        return dataset
    if dataset not in _stream_heads:
        from datasets import Dataset

        _stream_heads[dataset] = Dataset.from_list(list(itertools.islice(dataset, STREAM_HEAD_ROWS)))
    return _stream_heads[dataset]


Check = Callable[[object], "str | None"]
"""A column check: None when the value is fine, else what was found (``"None"``, ``"a number (3)"``, ...)."""


def describe(value) -> str:
    """What a value is, briefly: its kind and, for short ones, the value itself."""
    if value is None:
        return "None (null or missing)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, numbers.Number):
        return f"a number ({value})"
    if isinstance(value, str):
        if not value.strip():
            return "an empty string" if not value else "a blank string"
        return f"a string ({value[:40]!r}{'...' if len(value) > 40 else ''})"
    if isinstance(value, dict):
        return f"a mapping with keys {', '.join(map(str, value)) or '(none)'}"
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(item).__name__ for item in value})
        return f"a list of {len(value)} ({', '.join(kinds) or 'nothing'})"
    return f"a {type(value).__name__}"


def is_text(value) -> str | None:
    return None if isinstance(value, str) else describe(value)


def is_messages(value) -> str | None:
    """A non-empty list of ``{"role": str, "content": str or a list of content parts}``."""
    if not isinstance(value, (list, tuple)) or not value:
        return describe(value)
    for position, message in enumerate(value):
        if not isinstance(message, dict):
            return f"message {position}: {describe(message)}"
        if not isinstance(message.get("role"), str):
            return f"message {position} without a role (role: {describe(message.get('role'))})"
        content = message.get("content")
        if not isinstance(content, str) and not (isinstance(content, (list, tuple)) and content):
            if not message.get("tool_calls"):  # an assistant turn that only calls tools may have no content
                return f"message {position} ({message['role']}) without content (content: {describe(content)})"
    return None


def is_text_or_messages(value) -> str | None:
    return None if isinstance(value, str) or is_messages(value) is None else describe(value)


def is_prompt(value) -> str | None:
    """What GRPO and IGPO generate from: non-blank text (an empty one has no token to start from) or messages."""
    if isinstance(value, str):
        return None if value.strip() else describe(value)
    return is_messages(value)


def is_answer(value) -> str | None:
    """A non-blank string, or a non-empty list of non-blank strings (acceptable answers)."""
    if isinstance(value, str) and value.strip():
        return None
    if isinstance(value, (list, tuple)) and value and all(isinstance(a, str) and a.strip() for a in value):
        return None
    return describe(value)


def is_present(value) -> str | None:
    return "None (null or missing)" if value is None else None


def is_text_list(value) -> str | None:
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return None
    return describe(value)


EXPECTED = {
    is_text: "a string",
    is_messages: "a list of messages with role and content",
    is_text_or_messages: "a string or a list of messages with role and content",
    is_prompt: "a prompt to generate from (non-blank text, or a list of messages with role and content)",
    is_answer: "a non-empty answer (a string, or a list of strings)",
    is_present: "a value",
    is_text_list: "a list of strings",
}


def jsonl_lines(path: Path) -> list[int]:
    """The line number (1-based) of each row of a JSON Lines file: its non-blank lines."""
    with path.open("rb") as handle:
        return [number for number, line in enumerate(handle, start=1) if line.strip()]


def where(name: str, index: int, source: Path | None = None) -> str:
    """``name`` row ``index`` (line L for a JSON Lines file)."""
    line = ""
    if source is not None and source.suffix == ".jsonl" and source.is_file():
        lines = jsonl_lines(source)
        line = f" (line {lines[index]})" if index < len(lines) else ""
    return f"{name}: row {index}{line}"


def source_file(name: str) -> Path | None:
    path = Path(name).expanduser()
    return path if path.is_file() else None


def check_rows(dataset, checks: dict[str, Check], name: str) -> None:
    """Raise naming the first row whose column fails its check (the file's line for JSON Lines)."""
    for column, check in checks.items():
        for index, value in enumerate(dataset[column]):
            found = check(value)
            if found is not None:
                raise InfopoConfigError(
                    f"{where(name, index, source_file(name))}, column {column!r}: expected "
                    f"{EXPECTED.get(check, 'a valid value')}, found {found}"
                )


def check_same_kind(dataset, columns: tuple[str, ...], name: str) -> None:
    """Text and messages do not mix within a row (TRL tokenizes a row one way or the other)."""
    present = [column for column in columns if column in dataset.column_names]
    for index, row in enumerate(zip(*(dataset[column] for column in present), strict=True)):
        kinds = {isinstance(value, str) for value in row}
        if len(kinds) > 1:
            shown = ", ".join(
                f"{column} is {'text' if isinstance(value, str) else 'messages'}"
                for column, value in zip(present, row, strict=True)
            )
            raise InfopoConfigError(
                f"{where(name, index, source_file(name))}: {shown}; a row is all text or all messages"
            )


# ---- files that do not load ---------------------------------------------------------------------------------


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, numbers.Number):
        return "number"
    return {str: "string", list: "list", dict: "mapping"}.get(type(value), type(value).__name__)


def utf8_problem(path: Path) -> str | None:
    """The first line of a text file that is not UTF-8: Arrow loads such bytes and fails only when the row is read."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return f"line {number} is not UTF-8 (byte {error.start}: {raw[error.start : error.start + 1]!r})"
    return None


def _jsonl_problem(path: Path) -> str | None:
    """The first line of a JSON Lines file that is not UTF-8 or not a JSON object, or the first row whose value
    changes type from the rows before it (nulls aside)."""
    seen: dict[str, tuple[str, int]] = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except json.JSONDecodeError as error:
                reason = error.msg.removesuffix(" at").rstrip(":")
                return f"line {number} is not valid JSON ({reason}, column {error.colno}; cut off?)"
            if not isinstance(row, dict):
                return f"line {number} is {describe(row)}, not a JSON object"
            for key, value in row.items():
                kind = _json_type(value)
                if kind == "null":
                    continue
                if key in seen and seen[key][0] != kind:
                    return (
                        f"line {number}, column {key!r}: {describe(value)} where line {seen[key][1]} has a "
                        f"{seen[key][0]}"
                    )
                seen.setdefault(key, (kind, number))
    return None


def _csv_problem(path: Path) -> str | None:
    """The first row of a CSV file with another number of fields than the header, or a quote left open."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, strict=True)
            header = next(reader, [])
            for row in reader:
                if len(row) != len(header):
                    return f"line {reader.line_num} has {len(row)} fields, the header {len(header)}"
    except csv.Error as error:
        return f"line {reader.line_num}: {error}"
    return None


TEXT_FILES = (".jsonl", ".json", ".csv")


def explain_load_failure(path: Path, error: Exception) -> InfopoConfigError:
    """One line on why the local file ``path`` did not load: what the file's own reading finds, else the reader's
    message (its innermost cause)."""
    problem = utf8_problem(path) if path.suffix in TEXT_FILES else None
    if problem is None and path.suffix == ".jsonl":
        problem = _jsonl_problem(path)
    elif problem is None and path.suffix == ".json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as parse:
            problem = f"line {parse.lineno}: {parse.msg} (cut off?)"
    elif problem is None and path.suffix == ".csv":
        problem = _csv_problem(path)
    if problem is None:
        cause = error
        while cause.__cause__ is not None or cause.__context__ is not None:
            cause = cause.__cause__ or cause.__context__
        problem = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}".rstrip(": ")
        if path.suffix == ".parquet":
            problem = f"not a readable parquet file ({problem})"
    return InfopoConfigError(f"dataset file {path} cannot be read: {problem}")


# ---- degenerate data --------------------------------------------------------------------------------------------


def _is_empty(value) -> bool:
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return not value or all(
            isinstance(m, dict) and not str(m.get("content") or "").strip() and not m.get("tool_calls") for m in value
        )
    return value is None


def degenerate_counts(dataset) -> dict[str, int]:
    """Rows that train on nothing, by kind: ``identical_pairs`` (chosen equals rejected), ``empty_completions``
    (an empty completion, chosen or rejected), ``empty_prompts``; of a stream, in its first rows
    (:func:`rows_to_check`)."""
    if dataset is None or not hasattr(dataset, "column_names"):
        return {}
    dataset = rows_to_check(dataset)
    columns, counts = dataset.column_names, {}
    if "chosen" in columns and "rejected" in columns:
        chosen, rejected = dataset["chosen"], dataset["rejected"]
        counts["identical_pairs"] = sum(c == r for c, r in zip(chosen, rejected, strict=True))
        counts["empty_completions"] = sum(_is_empty(c) or _is_empty(r) for c, r in zip(chosen, rejected, strict=True))
    elif "completion" in columns:
        counts["empty_completions"] = sum(_is_empty(value) for value in dataset["completion"])
    if "prompt" in columns:
        counts["empty_prompts"] = sum(_is_empty(value) for value in dataset["prompt"])
    return {kind: count for kind, count in counts.items() if count}

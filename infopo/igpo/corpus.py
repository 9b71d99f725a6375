"""Corpora for IGPO's search, read one document at a time: JSON lines, parquet, ``datasets`` folders and names,
``synthetic:<task>``, in-memory data sets and lists. Never the whole corpus as one string; errors name the file, line
or field."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from infopo.errors import InfopoConfigError

INDEX_META = "infopo_index.json"
"""The file that marks a folder as a search index (:func:`infopo.igpo.retrieval.build_index`)."""


def iter_documents(source, text_field: str = "text") -> Iterator[str]:
    """The documents of ``source`` one at a time, never the whole corpus as one string.

    ``source``: a JSON-lines file (one object per line, ``text_field`` holding its text), a ``.parquet`` file, a folder
    written by ``datasets``' ``save_to_disk``, ``synthetic:<task>``, a data set name (its ``train`` split, streamed), a
    ``datasets.Dataset`` or an iterable of strings. Empty documents are skipped. Errors name the file, line or field.
    """
    from datasets import Dataset

    if isinstance(source, Dataset):
        yield from _dataset_texts(source, text_field, "the corpus data set")
        return
    if not isinstance(source, (str, os.PathLike)):
        yield from (doc for doc in source if isinstance(doc, str) and doc.strip())
        return
    text = str(source)
    path = Path(text)
    if text.startswith("synthetic:"):
        from infopo.data import load_named_dataset

        yield from _dataset_texts(load_named_dataset(text)["train"], text_field, text)
    elif path.is_file() and path.suffix == ".parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        text_field = text_field_of(parquet.schema_arrow.names, text_field, f"corpus {path}")
        for batch in parquet.iter_batches(columns=[text_field], batch_size=8192):
            yield from (doc for doc in batch.column(0).to_pylist() if isinstance(doc, str) and doc.strip())
    elif path.is_file():
        yield from _jsonl_texts(path, text_field)
    elif path.is_dir():
        from datasets import load_from_disk

        if (path / INDEX_META).is_file():
            raise InfopoConfigError(f"{path} is an infopo search index, not a corpus: pass it as the corpus to search")
        try:
            dataset = load_from_disk(str(path))
        except FileNotFoundError as error:
            raise InfopoConfigError(
                f"corpus folder {path} is neither a search index nor a data set saved with "
                f"datasets' save_to_disk: {error}"
            ) from None
        if hasattr(dataset, "keys"):
            dataset = dataset["train"]
        yield from _dataset_texts(dataset, text_field, str(path))
    elif text.count("/") == 1 and not text.startswith((".", "/", "~")) and not Path(text).parent.exists():
        from datasets import load_dataset

        try:
            dataset = load_dataset(text, split="train", streaming=True)
        except Exception as error:  # offline, unknown name, no train split: one line naming it
            raise InfopoConfigError(
                f"corpus {text}: no such file or folder here, and no data set of that name could "
                f"be loaded ({type(error).__name__}: {str(error)[:200]})"
            ) from None
        yield from _dataset_texts(dataset, text_field, text)
    else:
        raise InfopoConfigError(
            f"corpus not found: {text} (a JSON-lines or parquet file, a data set folder or name, "
            "synthetic:<task>, or a folder from `infopo search index`)"
        )


def _jsonl_texts(path: Path, text_field: str) -> Iterator[str]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise InfopoConfigError(f"corpus {path} line {number} is not JSON: {error}") from None
            if not isinstance(row, dict):
                raise InfopoConfigError(f"corpus {path} line {number} is a {type(row).__name__}, not an object")
            field = text_field_of(row, text_field, f"corpus {path} line {number}", "field")
            if isinstance(row[field], str) and row[field].strip():
                yield row[field]


def text_field_of(fields, text_field: str, name: str, kind: str = "column") -> str:
    """``text_field`` when ``fields`` has it; the default ``text`` falls back to ``contents`` (Search-R1's
    wiki-18.jsonl), as ``corpus_text_field`` does everywhere; else an error naming the fields there are."""
    if text_field in fields:
        return text_field
    if text_field == "text" and "contents" in fields:
        return "contents"
    raise InfopoConfigError(f"{name} has no {text_field!r} {kind}; it has: {', '.join(fields)}")


def _dataset_texts(dataset, text_field: str, name: str) -> Iterator[str]:
    columns = dataset.column_names  # None for some streamed data sets: then checked on the first row
    if columns is not None:
        text_field = text_field_of(columns, text_field, f"corpus {name}")
    for row in dataset:
        field = text_field_of(row, text_field, f"corpus {name}")
        if isinstance(row[field], str) and row[field].strip():
            yield row[field]

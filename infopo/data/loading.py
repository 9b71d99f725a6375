"""Load a training data set by name and check its columns before training.

A name is one of:
- ``synthetic:<task>``: a generator from :data:`infopo.data.synthetic.SYNTHETIC_TASKS` (``train`` and ``test`` splits);
- a local file (``.json``, ``.jsonl``, ``.csv``, ``.parquet``) or a folder saved with ``save_to_disk``;
- anything else: a Hub data set, through ``datasets.load_dataset`` (cached copies work offline).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from infopo.data.synthetic import SYNTHETIC_PREFIX, SYNTHETIC_TASKS
from infopo.data.validation import TEXT_FILES, explain_load_failure, utf8_problem
from infopo.errors import InfopoConfigError

FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).suffix in FILE_BUILDERS


def load_named_dataset(
    name: str,
    config: str | None = None,
    *,
    synthetic_rows: int = 256,
    synthetic_seed: int = 0,
    conversational: bool = False,
) -> DatasetDict:
    """The data set called ``name`` as a ``DatasetDict`` (see the module docstring for the accepted names)."""
    if name.startswith(SYNTHETIC_PREFIX):
        task = name[len(SYNTHETIC_PREFIX) :]
        if task not in SYNTHETIC_TASKS:
            raise InfopoConfigError(
                f"dataset_name {name!r}: unknown synthetic task {task!r}; known: {', '.join(sorted(SYNTHETIC_TASKS))}"
            )
        make = SYNTHETIC_TASKS[task]
        test_rows = max(synthetic_rows // 8, 8)
        return DatasetDict(
            train=make(synthetic_rows, synthetic_seed, conversational),
            test=make(test_rows, synthetic_seed + 1, conversational),
        )
    path = Path(name).expanduser()
    if path.exists():
        if path.is_dir():
            if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
                loaded = load_from_disk(str(path))
                return loaded if isinstance(loaded, DatasetDict) else DatasetDict(train=loaded)
            return load_dataset(str(path), name=config)
        if path.suffix not in FILE_BUILDERS:
            raise InfopoConfigError(
                f"dataset file {name}: unsupported extension {path.suffix!r}; use one of {', '.join(FILE_BUILDERS)}"
            )
        if path.suffix in TEXT_FILES and (problem := utf8_problem(path)):
            raise InfopoConfigError(f"dataset file {path} cannot be read: {problem}")
        with _quiet_datasets():  # the reader's own error log and progress bar would bury the one-line error
            try:
                return load_dataset(FILE_BUILDERS[path.suffix], data_files=str(path))
            except Exception as error:  # the readers' errors are many and deep: explain the file instead
                raise explain_load_failure(path, error) from error
    if _looks_like_path(name):
        raise InfopoConfigError(f"dataset file not found: {name}")
    return load_dataset(name, name=config)


@contextlib.contextmanager
def _quiet_datasets():
    verbosity, bars = datasets.logging.get_verbosity(), datasets.utils.logging.is_progress_bar_enabled()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    datasets.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if bars:
            datasets.utils.logging.enable_progress_bar()


def require_split(datasets: DatasetDict, split: str, name: str, purpose: str = "training") -> Dataset:
    """``datasets[split]``, or an error naming the split, what it was for, and the splits there are."""
    if split not in datasets:
        layout = (
            f"; a folder with {split!r}-named files (train.parquet and test.parquet, or train.jsonl and "
            "test.jsonl) gives both splits"
            if Path(name).suffix in FILE_BUILDERS
            else ""
        )
        raise InfopoConfigError(
            f"dataset {name!r} has no split {split!r} (needed for {purpose}); its splits: {', '.join(datasets)}"
            + layout
        )
    return datasets[split]


def require_columns(dataset: Dataset, columns, name: str, purpose: str) -> None:
    """Raise naming every column of ``columns`` that ``dataset`` lacks, and the columns it has."""
    missing = [column for column in columns if column not in dataset.column_names]
    if missing:
        raise InfopoConfigError(
            f"dataset {name!r} is missing column(s) {', '.join(map(repr, missing))} needed by {purpose}; "
            f"its columns: {', '.join(dataset.column_names)}"
        )

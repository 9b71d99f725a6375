"""Retrieval for IGPO's search environments: one small protocol, a BM25 index built in memory or loaded
memory-mapped from a folder, and an HTTP client for retrieval servers on Search-R1's protocol.

A retriever answers a batch: ``retrieve(queries, k) -> one list of k documents (best first) per query``. One turn's
searches of all live rollouts of a process go out as one call (:func:`infopo.igpo.environment.step_episodes`).

- :class:`BM25Retriever`: the ``bm25s`` library. :func:`build_index` streams a corpus (JSON lines, parquet, a
  ``datasets`` folder or name, ``synthetic:<task>``: :func:`infopo.igpo.corpus.iter_documents`) into a folder
  (``infopo search index``); :meth:`BM25Retriever.load`
  maps that folder's arrays and documents into memory read-only, so the page cache is shared by every process of a
  node and none rebuilds anything. A loaded index retrieves with bm25s's numba backend when numba is installed (the
  ``search`` extra), else numpy.
- :class:`HttpRetriever`: ``POST {"queries": [...], "topk": k, "return_scores": true}`` to a URL, reading
  ``{"result": [[{"document": {"contents": ...}, "score": s}, ...], ...]}`` (Search-R1's
  ``search_r1/search/retrieval_server.py``; also its ``return_scores: false`` shape, a list of documents).
- :func:`open_retriever` picks one for an index folder, a corpus file or data set, a list of documents or an
  ``http(s)://`` URL.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from infopo.errors import InfopoConfigError
from infopo.igpo.corpus import INDEX_META, iter_documents

logger = logging.getLogger(__name__)

INDEX_FORMAT = 1
DOCUMENTS, OFFSETS = "documents.jsonl", "documents.offsets.npy"
IN_MEMORY_WARNING = 100_000
"""Documents above which an in-memory build warns: each process builds its own index (measured on this 2-core
machine: about 11 s and 0.9 GB per 100,000 passages of 100 words; ``scripts/bench/igpo_search.py``)."""
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
"""bm25s's default word pattern (lower-cased words of two or more characters), for documents and queries alike."""


class RetrievalError(RuntimeError):
    """A retrieval call failed (server down, timeout, HTTP error, malformed answer): the searches of that call become
    error observations."""


@runtime_checkable
class Retriever(Protocol):
    """Anything with ``retrieve(queries, k) -> list[list[str]]``: the top-``k`` documents per query, best first."""

    def retrieve(self, queries: list[str], k: int) -> list[list[str]]: ...


# ---- documents on disk ----------------------------------------------------------------------------------------------


class StoredDocuments(Sequence):
    """The documents of an index folder, read on demand from a memory-mapped JSON-lines file (one JSON string per
    line) through an int64 array of line offsets, itself memory-mapped: two page-cache mappings shared by every
    process of a node, nothing per process that grows with the corpus."""

    def __init__(self, folder: Path):
        self.offsets = np.load(folder / OFFSETS, mmap_mode="r")
        with open(folder / DOCUMENTS, "rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if self.offsets[-1] else b""

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> str:
        return json.loads(self._map[int(self.offsets[index]) : int(self.offsets[index + 1])])


class _TokenIds(Sequence):
    """Every document's token ids as lists, from one flat int32 array and offsets (what bm25s's builder reads)."""

    def __init__(self, flat: np.ndarray, offsets: np.ndarray):
        self.flat, self.offsets = flat, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> list[int]:
        return self.flat[self.offsets[index] : self.offsets[index + 1]].tolist()


def _bm25(ids: _TokenIds, vocabulary: dict[str, int]):
    import bm25s
    from bm25s.tokenization import Tokenized

    model = bm25s.BM25(backend="numpy")
    model.index(Tokenized(ids=ids, vocab=vocabulary), show_progress=False)
    return model


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _prefault(arrays: dict) -> None:
    """Touch every page of the memory-mapped index arrays once, in order (the kernel reads ahead), so that the first
    batched call does not take its page faults one posting list at a time (scripts/bench/igpo_search_load.py)."""
    for array in arrays.values():
        if isinstance(array, np.memmap) and array.size:
            int(np.asarray(array).reshape(-1).view(np.uint8)[:: mmap.PAGESIZE].sum())


def _numba_threads() -> int:
    """The CPUs this process may use, at most numba's thread pool (``NUMBA_NUM_THREADS``: numba refuses more)."""
    import numba

    return max(1, min(len(os.sched_getaffinity(0)), numba.config.NUMBA_NUM_THREADS))


def _cache_numba_compilation() -> None:
    """Let numba keep bm25s's compiled retrieval functions on disk (numba's own cache: next to bm25s's sources when
    writable, else the user's cache folder, or ``NUMBA_CACHE_DIR``), so only the first process of a machine compiles
    them (measured here: 6.0 s compiling, 0.23 s from the cache). bm25s compiles without a cache; its functions are
    found as the numba dispatchers of its two numba modules. Idempotent."""
    import bm25s.numba.retrieve_utils
    import bm25s.numba.selection
    from numba.core.registry import CPUDispatcher

    for module in (bm25s.numba.retrieve_utils, bm25s.numba.selection):
        for function in vars(module).values():
            if isinstance(function, CPUDispatcher) and not getattr(function, "_infopo_cached", False):
                function.enable_caching()
                function._infopo_cached = True


def _tokenize_stream(documents: Iterable[str], on_document=None, chunk: int = 10_000):
    """(flat token ids, offsets, vocabulary) of a stream of documents, tokenized ``chunk`` at a time."""
    from bm25s.tokenization import Tokenizer

    tokenizer = Tokenizer(lower=True, splitter=TOKEN_PATTERN, stopwords=None)
    pieces, lengths, batch = [], [], []

    def flush():
        ids = tokenizer.tokenize(batch, update_vocab=True, return_as="ids", show_progress=False)
        lengths.extend(len(doc) for doc in ids)
        pieces.append(np.fromiter((token for doc in ids for token in doc), dtype=np.int32))
        batch.clear()

    for document in documents:
        batch.append(document)
        if on_document is not None:
            on_document(document)
        if len(batch) == chunk:
            flush()
    if batch:
        flush()
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    return flat, offsets, tokenizer.get_vocab_dict()


def build_index(source, output_dir, text_field: str = "text", progress: bool = True) -> Path:
    """Stream ``source`` (see :func:`iter_documents`) into a search index folder: bm25s's arrays and vocabulary, the
    documents (``documents.jsonl`` + ``documents.offsets.npy``) and ``infopo_index.json``. Written to a temporary
    folder first and renamed, so an interrupted build leaves nothing that looks complete; a build that stops on an
    error removes that folder."""
    output = Path(output_dir)
    if (output / INDEX_META).exists():
        raise InfopoConfigError(f"{output} already holds a search index: remove it or choose another --output_dir")
    staging = output.with_name(output.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    try:
        _build_into(staging, source, text_field, progress)
    except Exception:  # bad input or a failing reader: nothing half-built is left behind
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if output.exists():
        output.rmdir()  # an empty folder the user made: replaced by the complete index
    staging.rename(output)
    return output


def _build_into(staging: Path, source, text_field: str, progress: bool) -> None:
    bar = _progress(progress)
    offsets_on_disk = [0]
    with open(staging / DOCUMENTS, "wb") as documents_file:

        def store(document: str) -> None:
            line = (json.dumps(document, ensure_ascii=False) + "\n").encode("utf-8")
            documents_file.write(line)
            offsets_on_disk.append(offsets_on_disk[-1] + len(line))
            if bar is not None and len(offsets_on_disk) % 10_000 == 1:
                bar[0].update(bar[1], completed=len(offsets_on_disk) - 1)

        flat, token_offsets, vocabulary = _tokenize_stream(iter_documents(source, text_field), store)
    if bar is not None:
        bar[0].stop()
    if len(token_offsets) == 1:
        raise InfopoConfigError(f"the corpus {source} has no documents (field {text_field!r})")
    np.save(staging / OFFSETS, np.asarray(offsets_on_disk, dtype=np.int64))
    _bm25(_TokenIds(flat, token_offsets), vocabulary).save(staging, show_progress=False)
    meta = {
        "format": INDEX_FORMAT,
        "documents": len(token_offsets) - 1,
        "source": str(source),
        "text_field": text_field,
        "tokens": int(flat.size),
        "token_pattern": TOKEN_PATTERN,
    }
    (staging / INDEX_META).write_text(json.dumps(meta, indent=1))


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import Progress

    progress = Progress(transient=False)
    progress.start()
    return progress, progress.add_task("documents indexed", total=None)


def is_index_folder(path) -> bool:
    return isinstance(path, (str, os.PathLike)) and (Path(path) / INDEX_META).is_file()


# ---- retrievers ---------------------------------------------------------------------------------------------------


class BM25Retriever:
    """BM25 (bm25s) over a set of documents: :meth:`from_documents` builds it in memory (numpy backend: small corpora,
    where numba's compilation, about 7 s per process, would cost more than it saves), :meth:`load` maps an index
    folder (numba backend when installed, compiled at load). ``retrieve`` scores the whole batch in one bm25s call, on
    every CPU this process may use (numba backend; one call at a time, so several threads may call it, as the server
    does)."""

    def __init__(self, model, documents: Sequence[str]):
        import bm25s.tokenization

        self.model, self.documents = model, documents
        self._tokenizer = bm25s.tokenization.Tokenizer(lower=True, splitter=TOKEN_PATTERN, stopwords=None)
        self.threads = _numba_threads() if model.backend == "numba" else 0
        self._lock = threading.Lock()

    @classmethod
    def from_documents(cls, documents: Iterable[str]) -> BM25Retriever:
        kept: list[str] = []
        flat, offsets, vocabulary = _tokenize_stream(documents, kept.append)
        if not kept:
            raise InfopoConfigError("the search corpus is empty")
        return cls(_bm25(_TokenIds(flat, offsets), vocabulary), kept)

    @classmethod
    def load(cls, folder, prefault: bool = True) -> BM25Retriever:
        import bm25s

        folder = Path(folder)
        meta = json.loads((folder / INDEX_META).read_text())
        if meta.get("format") != INDEX_FORMAT:
            raise InfopoConfigError(
                f"{folder} is a search index of format {meta.get('format')}, this infopo reads "
                f"format {INDEX_FORMAT}: rebuild it with `infopo search index`"
            )
        backend = "numba" if _numba_available() else "numpy"
        if backend == "numba":
            _cache_numba_compilation()
        model = bm25s.BM25.load(folder, mmap=True, load_corpus=False, show_progress=False, backend=backend)
        if prefault:
            _prefault(model.scores)
        retriever = cls(model, StoredDocuments(folder))
        retriever.retrieve(["warm up"], 1)  # numba compiles (or reads its cache) on the first call: now, not mid-turn
        return retriever

    def retrieve(self, queries: list[str], k: int) -> list[list[str]]:
        return [[document for _, document, _ in row] for row in self.retrieve_scored(queries, k)]

    def retrieve_scored(self, queries: list[str], k: int) -> list[list[tuple[int, str, float]]]:
        """(document number, text, BM25 score) of the top-``k`` documents of each query, best first. A query with no
        indexable word (``""``, ``"   "``, ``"!!!"``, a one-letter word) matches nothing and gets an empty list, as does
        every query when ``k`` < 1; the other queries of the batch are scored as usual (bm25s itself refuses a batch
        whose queries are all empty)."""
        results: list[list[tuple[int, str, float]]] = [[] for _ in queries]
        k = min(k, len(self.documents))
        words = [self._tokenizer.splitter(query.lower()) for query in queries]
        scored = [index for index, query_words in enumerate(words) if query_words]
        if k < 1 or not scored:
            return results
        with self._lock:  # numba's parallel region is entered by one thread at a time
            indices, scores = self.model.retrieve(
                [words[index] for index in scored], k=k, show_progress=False, n_threads=self.threads
            )
        for index, row, row_scores in zip(scored, np.asarray(indices), np.asarray(scores), strict=True):
            results[index] = [
                (int(i), self.documents[int(i)], float(score)) for i, score in zip(row, row_scores, strict=True)
            ]
        return results


class HttpRetriever:
    """A retrieval server on Search-R1's protocol (see the module docstring). ``text_field`` names the document's
    text (Search-R1's corpora: ``contents``; ``text`` is tried next). Every failure raises :class:`RetrievalError`
    with the URL and what went wrong; nothing waits longer than ``timeout_s``."""

    def __init__(self, url: str, text_field: str = "contents", timeout_s: float = 30.0):
        import requests

        self.url, self.text_field, self.timeout_s = url, text_field, timeout_s
        self._session = requests.Session()

    def retrieve(self, queries: list[str], k: int) -> list[list[str]]:
        if not queries:
            return []
        import requests

        try:
            response = self._session.post(
                self.url, json={"queries": queries, "topk": k, "return_scores": True}, timeout=self.timeout_s
            )
            response.raise_for_status()
            results = response.json()["result"]
        except requests.Timeout:
            raise RetrievalError(f"{self.url} did not answer within {self.timeout_s} s") from None
        except requests.ConnectionError as error:
            raise RetrievalError(f"cannot reach {self.url}: {type(error).__name__}") from None
        except requests.HTTPError as error:
            raise RetrievalError(f"{self.url} answered HTTP {error.response.status_code}") from None
        except (ValueError, KeyError, TypeError) as error:
            raise RetrievalError(f"{self.url} answered malformed JSON ({type(error).__name__}: {error})") from None
        if not isinstance(results, list) or len(results) != len(queries):
            raise RetrievalError(
                f"{self.url} answered {len(results) if isinstance(results, list) else 'no'} result "
                f"lists for {len(queries)} queries"
            )
        return [[self._text(item) for item in row] for row in results]

    def _text(self, item) -> str:
        document = item.get("document", item) if isinstance(item, dict) else item
        if isinstance(document, str):
            return document
        if isinstance(document, dict):
            for field in (self.text_field, "contents", "text"):
                if isinstance(document.get(field), str):
                    return document[field]
        raise RetrievalError(f"{self.url} answered a document without a {self.text_field!r} text: {str(item)[:80]}")


def open_retriever(source, text_field: str = "text", timeout_s: float = 30.0, check: bool = True) -> Retriever:
    """A retriever for ``source``: an ``http(s)://`` URL (checked with one query unless ``check=False``: a server that
    does not answer is an :class:`~infopo.errors.InfopoConfigError` naming the URL), an index folder from
    :func:`build_index` (memory-mapped), or a corpus for :func:`iter_documents` (built in memory, with a warning above
    ``IN_MEMORY_WARNING`` documents: every process builds its own)."""
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        retriever = HttpRetriever(source, "contents" if text_field == "text" else text_field, timeout_s)
        if check:
            try:
                retriever.retrieve(["infopo start-up check"], 1)
            except RetrievalError as error:
                raise InfopoConfigError(f"retriever_url: {error}") from None
        return retriever
    if isinstance(source, str) and "://" in source:
        raise InfopoConfigError(f"retriever URL {source!r}: only http:// and https:// are supported")
    if is_index_folder(source):
        return BM25Retriever.load(source)
    retriever = BM25Retriever.from_documents(iter_documents(source, text_field))
    if len(retriever.documents) > IN_MEMORY_WARNING:
        logger.warning(
            "built a BM25 index of %d documents in memory, in every process: prebuild it once with "
            "`infopo search index --corpus %s --output_dir DIR` and pass DIR as the corpus",
            len(retriever.documents),
            source,
        )
    return retriever

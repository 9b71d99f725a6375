"""Environments for multi-turn rollouts: IGPO's tag protocol, BM25 search over a corpus or over each question's own
documents, and the same search as a TRL tool environment.

Tag protocol (:class:`TagEnvironment`): ``reset(**row)`` starts an episode for one data set row; ``step(text)`` takes
the model's turn and returns a :class:`Step` with the observation to append (None when the episode ended).

:class:`SearchEnvironment`: the model searches with ``<search>query</search>`` and gets the top-k documents back
as `` <information> doc . doc .</information>``; ``<answer>...</answer>`` ends the episode. An observation and each
of its documents start with a space: for BPE tokenizers that is a token boundary, so the observation's tokens are
the same whether it is tokenized alone (as the trainer does) or inside running text (as in demonstrations). Retrieval is BM25 (the ``bm25s``
library). A search that raises or exceeds the time limit yields an error observation and the rollout goes on; the
environment counts it (a hung search is abandoned to its thread; the next one gets a fresh worker). An observation
longer than ``max_observation_chars`` is cut there (counted in ``truncations``).
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset

from infopo.errors import InfopoConfigError


@dataclass(frozen=True)
class Step:
    """The environment's answer to one model turn."""

    observation: str | None
    done: bool
    answered: bool = False
    format_error: bool = False
    tool_error: bool = False
    truncated: bool = False


class TagEnvironment:
    """An episode of IGPO's tag protocol: the model's turns are text, the environment answers each with an observation.

    ``IGPOTrainer`` makes one instance per rollout (from ``environment_factory``, pooled and reused across batches, as
    TRL does), calls ``reset(**row)`` with the rollout's data set row before its first turn, then ``step(text)`` after
    every turn: the text the model wrote, cut after the first of ``stop_strings``. ``step`` returns a :class:`Step`:
    the observation to append (its tokens stay out of the loss), or ``done``. The final answer is read from the last
    turn inside ``answer_tags``. Subclasses keep per-episode state on the instance (see
    :class:`ContextSearchEnvironment`).
    """

    stop_strings: tuple[str, ...] = ()
    answer_tags: tuple[str, str] = ("<answer>", "</answer>")

    def reset(self, **row) -> str | None:
        """Start an episode for one data set row (its columns as keyword arguments). A string returned is appended to
        the last message of the row's prompt (to the prompt itself for plain text), as in TRL's environments."""

    def step(self, text: str) -> Step:
        raise NotImplementedError


def load_corpus(corpus, text_column: str = "text") -> list[str]:
    """Documents from a JSON-lines file, a ``datasets.Dataset`` or a list of strings; errors name the problem."""
    if isinstance(corpus, (str, Path)):
        path = Path(corpus)
        if not path.is_file():
            raise InfopoConfigError(f"corpus file not found: {path}")
        try:
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise InfopoConfigError(f"corpus {path} is not JSON lines: {error}") from error
        if rows and text_column not in rows[0]:
            raise InfopoConfigError(f"corpus {path} has no {text_column!r} field; its fields: {', '.join(rows[0])}")
        documents = [row[text_column] for row in rows]
    elif isinstance(corpus, Dataset):
        if text_column not in corpus.column_names:
            raise InfopoConfigError(f"corpus has no column {text_column!r}; its columns: {', '.join(corpus.column_names)}")
        documents = list(corpus[text_column])
    else:
        documents = list(corpus)
    documents = [doc for doc in documents if isinstance(doc, str) and doc.strip()]
    if not documents:
        raise InfopoConfigError("the search corpus is empty")
    return documents


class BM25Index:
    """BM25 retrieval (the ``bm25s`` library) over a list of documents; built once, shared by every episode."""

    def __init__(self, documents: list[str]):
        import bm25s  # a dependency of infopo; imported here so that importing infopo stays light

        self.documents = documents
        self._bm25s = bm25s
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(documents, stopwords=None, show_progress=False), show_progress=False)

    def search(self, query: str, k: int) -> list[str]:
        """The top-``k`` documents for ``query``, best first."""
        tokens = self._bm25s.tokenize([query], stopwords=None, show_progress=False)
        indices, _ = self.retriever.retrieve(tokens, k=min(k, len(self.documents)), show_progress=False)
        return [self.documents[i] for i in indices[0].tolist()]


class SearchEnvironment(TagEnvironment):
    """Search by tags: ``<search>query</search>`` gets the top-k documents of a BM25 index, ``<answer>`` ends.

    ``corpus`` is what :func:`load_corpus` reads, or a :class:`BM25Index` to share: :meth:`factory` builds the index
    once and returns the ``environment_factory`` that makes one light episode object per rollout over it.
    """

    def __init__(
        self,
        corpus,
        *,
        top_k: int = 3,
        text_column: str = "text",
        search_tags: tuple[str, str] = ("<search>", "</search>"),
        information_tags: tuple[str, str] = ("<information>", "</information>"),
        answer_tags: tuple[str, str] = ("<answer>", "</answer>"),
        time_limit_s: float = 5.0,
        max_observation_chars: int = 4000,
    ):
        self.index = corpus if isinstance(corpus, BM25Index) else BM25Index(load_corpus(corpus, text_column))
        self.top_k = top_k
        self.search_tags, self.information_tags, self.answer_tags = search_tags, information_tags, answer_tags
        self.stop_strings = (search_tags[1], answer_tags[1])
        self.time_limit_s, self.max_observation_chars = time_limit_s, max_observation_chars
        self._pool = ThreadPoolExecutor(max_workers=1)
        self.searches = 0
        self.tool_errors = 0
        self.truncations = 0

    @classmethod
    def factory(cls, corpus, *, text_column: str = "text", **settings):
        """An ``environment_factory``: every call returns a new episode over one shared index of ``corpus``."""
        index = BM25Index(load_corpus(corpus, text_column))
        return lambda: cls(index, **settings)

    def search(self, query: str) -> list[str]:
        """The top-k documents for ``query`` (best first)."""
        return self.index.search(query, self.top_k)

    def _tagged(self, tags: tuple[str, str], text: str) -> str | None:
        found = re.findall(re.escape(tags[0]) + r"(.*?)" + re.escape(tags[1]), text, flags=re.S)
        return found[-1].strip() if found else None

    def step(self, text: str) -> Step:
        if self._tagged(self.answer_tags, text) is not None:
            return Step(None, done=True, answered=True)
        query = self._tagged(self.search_tags, text)
        if query is None:
            return Step(None, done=True, format_error=True)
        self.searches += 1
        open_tag, close_tag = self.information_tags
        try:
            documents = self._pool.submit(self.search, query).result(timeout=self.time_limit_s)
        except FutureTimeout:
            self.tool_errors += 1
            # the hung call keeps its worker thread: later searches get a fresh one instead of queueing behind it
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = ThreadPoolExecutor(max_workers=1)
            return Step(f" {open_tag} error: search timed out after {self.time_limit_s} s{close_tag}", False, tool_error=True)
        except Exception as error:  # a failing tool is an observation, not a crash
            self.tool_errors += 1
            return Step(f" {open_tag} error: {type(error).__name__}: {error}{close_tag}", False, tool_error=True)
        body = "".join(f" {doc} ." for doc in documents)
        truncated = len(body) > self.max_observation_chars
        if truncated:
            self.truncations += 1
            body = body[: self.max_observation_chars] + " ..."
        return Step(f" {open_tag}{body}{close_tag}", done=False, truncated=truncated)


class ContextSearchEnvironment(SearchEnvironment):
    """A stateful episode: each question brings its own documents (its row's ``documents`` column, as in HotpotQA's
    distractor setting), and ``reset`` indexes them, so the right answer depends on the episode's state. Sharing one
    instance across rollouts would search another question's documents."""

    def __init__(self, *, documents_column: str = "documents", **settings):
        self.documents_column, self.settings = documents_column, settings
        super().__init__(["(no episode yet)"], **settings)

    def reset(self, **row) -> None:
        if self.documents_column not in row:
            raise InfopoConfigError(f"ContextSearchEnvironment needs a {self.documents_column!r} column; the row has "
                                    f"{', '.join(row)}")
        self.index = BM25Index(load_corpus(list(row[self.documents_column])))


class ContextSearchTools:
    """The same per-question search as a TRL ``environment_factory`` environment: ``reset(**row)`` indexes the row's
    ``documents``, and the public method :meth:`search` becomes the model's tool (TRL's multi-turn tool loop)."""

    def __init__(self, top_k: int = 3):
        self.top_k = top_k
        self.index: BM25Index | None = None

    def reset(self, **row) -> None:
        self.index = BM25Index(load_corpus(list(row["documents"])))

    def search(self, query: str) -> str:
        """Search this question's documents.

        Args:
            query: Words to look for, e.g. a name and a relation.

        Returns:
            The best matching documents, one per line.
        """
        return "\n".join(self.index.search(query, self.top_k))

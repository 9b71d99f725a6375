"""Environments for multi-turn rollouts: IGPO's tag protocol, BM25 search over a corpus or over each question's own
documents, and the same search as a TRL tool environment.

Tag protocol (:class:`TagEnvironment`): ``reset(**row)`` starts an episode for one data set row; ``step(text)`` takes
the model's turn and returns a :class:`Step` with the observation to append (None when the episode ended).

:class:`SearchEnvironment`: the model searches with ``<search>query</search>`` and gets the top-k documents back
as `` <information> doc . doc .</information>``; ``<answer>...</answer>`` ends the episode. An observation and each
of its documents start with a space: for BPE tokenizers that is a token boundary, so the observation's tokens are
the same whether it is tokenized alone (as the trainer does) or inside running text (as in demonstrations).
Retrieval is any :class:`~infopo.igpo.retrieval.Retriever`: BM25 (the ``bm25s`` library) in memory or memory-mapped
from an index folder, or a retrieval server over HTTP; one turn's searches of all rollouts go out as one batched call
(:func:`step_episodes`). A search that raises or exceeds the time limit yields an error observation and the rollout
goes on; the environment counts it (a hung search is abandoned to its thread; the next one gets a fresh worker). An
observation longer than ``max_observation_chars`` is cut there (counted in ``truncations``).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from infopo.errors import InfopoConfigError
from infopo.igpo.retrieval import BM25Retriever, RetrievalError, Retriever, iter_documents, open_retriever


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
    """The documents of ``corpus`` (what :func:`~infopo.igpo.retrieval.iter_documents` reads) as a list; errors name
    the problem."""
    documents = list(iter_documents(corpus, text_column))
    if not documents:
        raise InfopoConfigError("the search corpus is empty")
    return documents


def _retriever_of(corpus, text_column: str, timeout_s: float = 30.0) -> Retriever:
    if isinstance(corpus, Retriever):
        return corpus
    if isinstance(corpus, (list, tuple)):
        return BM25Retriever.from_documents(load_corpus(corpus))
    return open_retriever(corpus, text_column, timeout_s=timeout_s)


logger = logging.getLogger(__name__)

DOCUMENT_TEMPLATE = " {document} ."
"""A retrieved document in an observation: ``{document}`` (the whole text), ``{title}`` (its first line), ``{body}``
(the lines after the first), ``{index}`` (1 for the best). Search-R1's: ``"Doc {index}(Title: {title}) {body}\\n"``."""
OBSERVATION_TEMPLATE = " {open}{documents}{close}"
"""A search's observation: ``{documents}`` (the rendered documents, joined), ``{open}``/``{close}`` (the information
tags). Search-R1's: ``"\\n\\n{open}{documents}{close}\\n\\n"`` with the documents stripped."""
SEARCH_FAILED = "no results: the search is unavailable"
"""What the policy reads after a failed search (a server down, a timeout, an error): the same words whatever the
cause, so that no address or status code enters its context; the cause is logged (logger ``infopo.igpo.environment``)
and counted (``igpo/tool_error_frac``)."""
INVALID_ACTION = (
    "\nMy previous action is invalid. If I want to search, I should put the query between <search> and </search>. "
    "If I want to give the final answer, I should put the answer between <answer> and </answer>. Let me try again.\n"
)
"""Search-R1's observation for a turn with neither a search nor an answer (``invalid_action_retry``;
search_r1/llm_agent/generation.py, ``execute_predictions``)."""


def render_documents(documents: list[str], template: str = DOCUMENT_TEMPLATE) -> str:
    """The documents of one search, each through ``template`` (:data:`DOCUMENT_TEMPLATE`), joined."""
    rendered = []
    for index, document in enumerate(documents, start=1):
        title, _, body = document.partition("\n")
        rendered.append(template.format(index=index, document=document, title=title, body=body))
    return "".join(rendered)


def check_templates(document_template: str, observation_template: str) -> None:
    """Both templates format with their placeholders (and no others); an error names the template."""
    for name, template, values in (
        ("document_template", document_template, {"index": 1, "document": "", "title": "", "body": ""}),
        ("observation_template", observation_template, {"open": "", "documents": "", "close": ""}),
    ):
        try:
            template.format(**values)
        except (KeyError, IndexError, ValueError) as error:
            raise InfopoConfigError(
                f"{name} {template!r} does not format ({type(error).__name__}: {error}); its placeholders: "
                + ", ".join("{" + key + "}" for key in values)
            ) from None


class SearchEnvironment(TagEnvironment):
    """Search by tags: ``<search>query</search>`` gets the top-k documents of a retriever, ``<answer>`` ends.

    ``corpus``: a :class:`~infopo.igpo.retrieval.Retriever` to share, or anything
    :func:`~infopo.igpo.retrieval.open_retriever` opens (an index folder, a corpus file or data set, a list of
    documents, an ``http(s)://`` URL). :meth:`factory` opens it once and returns the ``environment_factory`` that
    makes one light episode object per rollout over it; :func:`step_episodes` sends one turn's searches of all
    episodes sharing a retriever as one batched call.
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
        document_template: str = DOCUMENT_TEMPLATE,
        observation_template: str = OBSERVATION_TEMPLATE,
        strip_documents: bool = False,
        invalid_action_retry: bool = False,
    ):
        check_templates(document_template, observation_template)
        self.document_template, self.observation_template = document_template, observation_template
        self.strip_documents, self.invalid_action_retry = strip_documents, invalid_action_retry
        self.retriever = _retriever_of(corpus, text_column)
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
        """An ``environment_factory``: every call returns a new episode over one shared retriever of ``corpus``."""
        retriever = _retriever_of(corpus, text_column, settings.get("time_limit_s", 5.0))
        return lambda: cls(retriever, **settings)

    def search(self, query: str) -> list[str]:
        """The top-k documents for ``query`` (best first)."""
        return self.search_batch([query])[0]

    def search_batch(self, queries: list[str]) -> list[list[str]]:
        """The top-k documents of each query, in one retriever call."""
        return self.retriever.retrieve(queries, self.top_k)

    def _tagged(self, tags: tuple[str, str], text: str) -> str | None:
        found = re.findall(re.escape(tags[0]) + r"(.*?)" + re.escape(tags[1]), text, flags=re.S)
        return found[-1].strip() if found else None

    def parse(self, text: str) -> Step | str:
        """The turn's end (answered, or a format error) as a :class:`Step`, or the query it searches."""
        if self._tagged(self.answer_tags, text) is not None:
            return Step(None, done=True, answered=True)
        query = self._tagged(self.search_tags, text)
        if query is not None:
            return query
        if self.invalid_action_retry:  # Search-R1: say so, and let the model try again (counted as a format error)
            return Step(INVALID_ACTION, done=False, format_error=True)
        return Step(None, done=True, format_error=True)

    def timed(self, function, argument):
        """``function(argument)`` on the worker thread, within ``time_limit_s``; an error message if it raised or
        ran out of time (a hung call keeps its thread: later calls get a fresh worker instead of queueing)."""
        try:
            return self._pool.submit(function, argument).result(timeout=self.time_limit_s)
        except FutureTimeout:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = ThreadPoolExecutor(max_workers=1)
            return RetrievalError(f"search timed out after {self.time_limit_s} s")
        except Exception as error:  # a failing tool is an observation, not a crash
            return error

    def observe(self, result) -> Step:
        """The observation of one search's result: its documents, or the error it raised (counted)."""
        self.searches += 1
        open_tag, close_tag = self.information_tags
        if isinstance(result, BaseException):  # the cause goes to the log; the policy sees a fixed, neutral text
            self.tool_errors += 1
            message = str(result) if isinstance(result, RetrievalError) else f"{type(result).__name__}: {result}"
            logger.warning("search failed: %s", message)
            observation = self.observation_template.format(open=open_tag, documents=SEARCH_FAILED, close=close_tag)
            return Step(observation, False, tool_error=True)
        body = render_documents(result, self.document_template)
        body = body.strip() if self.strip_documents else body
        truncated = len(body) > self.max_observation_chars
        if truncated:
            self.truncations += 1
            body = body[: self.max_observation_chars] + " ..."
        observation = self.observation_template.format(open=open_tag, documents=body, close=close_tag)
        return Step(observation, done=False, truncated=truncated)

    def step(self, text: str) -> Step:
        parsed = self.parse(text)
        return parsed if isinstance(parsed, Step) else self.observe(self.timed(self.search, parsed))


def _batches_searches(episode) -> bool:
    """Whether ``episode`` can join a batched search: a SearchEnvironment whose step and search are the library's."""
    return (
        isinstance(episode, SearchEnvironment)
        and type(episode).step is SearchEnvironment.step
        and type(episode).search is SearchEnvironment.search
        and "search" not in vars(episode)
    )


def step_episodes(episodes: list[TagEnvironment], texts: list[str]) -> list[Step]:
    """``episode.step(text)`` for every live rollout of a turn, except that the searches of all
    :class:`SearchEnvironment` episodes sharing one retriever go out as one batched ``retrieve`` call (within one
    ``time_limit_s``; a failed call is an error observation for each of its searches). Any other environment (a
    user's ``TagEnvironment``, a subclass with its own ``step`` or ``search``) steps alone, as before."""
    steps: list[Step | None] = [None] * len(episodes)
    batches: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for position, (episode, text) in enumerate(zip(episodes, texts, strict=True)):
        if not _batches_searches(episode):
            steps[position] = episode.step(text)
            continue
        parsed = episode.parse(text)
        if isinstance(parsed, Step):
            steps[position] = parsed
        else:
            batches[id(episode.retriever)].append((position, parsed))
    for group in batches.values():
        first = episodes[group[0][0]]
        results = first.timed(first.search_batch, [query for _, query in group])
        if isinstance(results, BaseException) or len(results) != len(group):
            results = [
                results
                if isinstance(results, BaseException)
                else RetrievalError(f"the retriever answered {len(results)} lists for {len(group)} queries")
            ] * len(group)
        for (position, _), result in zip(group, results, strict=True):
            steps[position] = episodes[position].observe(result)
    return steps


class ContextSearchEnvironment(SearchEnvironment):
    """A stateful episode: each question brings its own documents (its row's ``documents`` column, as in HotpotQA's
    distractor setting), and ``reset`` indexes them, so the right answer depends on the episode's state. Sharing one
    instance across rollouts would search another question's documents."""

    def __init__(self, *, documents_column: str = "documents", **settings):
        self.documents_column, self.settings = documents_column, settings
        super().__init__(["(no episode yet)"], **settings)

    def reset(self, **row) -> None:
        if self.documents_column not in row:
            raise InfopoConfigError(
                f"ContextSearchEnvironment needs a {self.documents_column!r} column; the row has {', '.join(row)}"
            )
        self.retriever = BM25Retriever.from_documents(load_corpus(list(row[self.documents_column])))


class ContextSearchTools:
    """The same per-question search as a TRL ``environment_factory`` environment: ``reset(**row)`` indexes the row's
    ``documents``, and the public method :meth:`search` becomes the model's tool (TRL's multi-turn tool loop)."""

    def __init__(self, top_k: int = 3):
        self.top_k = top_k
        self.retriever: BM25Retriever | None = None

    def reset(self, **row) -> None:
        self.retriever = BM25Retriever.from_documents(load_corpus(list(row["documents"])))

    def search(self, query: str) -> str:
        """Search this question's documents.

        Args:
            query: Words to look for, e.g. a name and a relation.

        Returns:
            The best matching documents, one per line.
        """
        return "\n".join(self.retriever.retrieve([query], self.top_k)[0])

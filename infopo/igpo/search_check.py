"""``infopo search check``: before any training, can the corpus answer the questions?

A search agent can only learn to find what retrieval can surface. An independent study of search-agent training
(arXiv 2605.27881) found that Wikipedia-2018 lacks the evidence for about 37% of the usual training questions, and that
fixing the corpus moved exact match by 2-6 points, more than the gaps between the methods compared. This measures, per
question, whether any acceptable answer appears in the top-k documents retrieved for the question itself, and, where the
data names them, for the queries of its hops (a 2-hop question's answer is rarely in the documents of the question
text; it is in those of the second hop's query). Reported: the share per hop count, and the questions no retrieval
answers.

An answer "appears" when its words, lower-cased and without punctuation, occur in a document as a contiguous run
(``"New York"`` in ``"... in new york, ..."``, not in ``"york new"``).
"""

from __future__ import annotations

import re
from collections import defaultdict

COVERAGE_WARNING = 0.8
"""Share of answerable questions below which the check warns. Below it more than one question in five cannot be
answered by any search of the named queries: outcome rewards on those are noise whatever the policy does, and the
study above found the corpus deciding more than the method at a coverage of 0.63."""
BATCH = 256
"""Queries per retrieval call."""


def words(text: str) -> list[str]:
    """Lower-case words of ``text``, punctuation dropped."""
    return re.sub(r"[^\w\s]", " ", str(text).lower()).split()


def contains_answer(documents: list[str], aliases: list[str]) -> bool:
    """Whether some alias occurs as a contiguous run of words in some document."""
    targets = [tuple(words(alias)) for alias in aliases]
    targets = [target for target in targets if target]
    for document in documents:
        tokens = words(document)
        for target in targets:
            size = len(target)
            if any(tuple(tokens[start : start + size]) == target for start in range(len(tokens) - size + 1)):
                return True
    return False


def question_text(prompt) -> str:
    """The question of a row's prompt: the text itself, or the last user message of a conversation."""
    if isinstance(prompt, str):
        return prompt
    user = [message["content"] for message in prompt if message.get("role") == "user"]
    if not user:
        raise ValueError("a conversational prompt without a user message")
    return str(user[-1])


def _retrieve(retriever, queries: list[str], k: int) -> list[list[str]]:
    results = []
    for start in range(0, len(queries), BATCH):
        results += retriever.retrieve(queries[start : start + BATCH], k)
    return results


def check_coverage(
    questions: list[str],
    answers: list[list[str]],
    retriever,
    k: int = 3,
    hops: list[int] | None = None,
    hop_queries: list[list[str]] | None = None,
) -> dict:
    """Per question: ``by_question`` (an answer in the top-k of the question), ``by_hops`` (in the union of the
    top-k of its hop queries; None without them) and ``answerable`` (either). Per hop count (1 without ``hops``):
    (answerable, questions). ``share``: answerable questions over all."""
    if len(answers) != len(questions):
        raise ValueError(f"{len(questions)} questions and {len(answers)} answers")
    found = _retrieve(retriever, questions, k)
    by_question = [contains_answer(documents, aliases) for documents, aliases in zip(found, answers, strict=True)]
    by_hops: list[bool | None] = [None] * len(questions)
    if hop_queries is not None:
        flat = [query for queries in hop_queries for query in queries]
        results, position = _retrieve(retriever, flat, k) if flat else [], 0
        for index, queries in enumerate(hop_queries):
            documents = [document for result in results[position : position + len(queries)] for document in result]
            position += len(queries)
            by_hops[index] = contains_answer(documents, answers[index])
    answerable = [a or bool(b) for a, b in zip(by_question, by_hops, strict=True)]
    per_hops = defaultdict(lambda: [0, 0])
    for index, ok in enumerate(answerable):
        counts = per_hops[hops[index] if hops is not None else 1]
        counts[0] += int(ok)
        counts[1] += 1
    return {
        "questions": len(questions),
        "k": k,
        "by_question": by_question,
        "by_hops": by_hops,
        "answerable": answerable,
        "per_hops": {hop: tuple(counts) for hop, counts in sorted(per_hops.items())},
        "share": sum(answerable) / max(1, len(questions)),
    }


def report_lines(result: dict, questions: list[str], answers: list[list[str]], listed: int = 10) -> list[str]:
    """The check's printed report: the share, per hop count, and the first ``listed`` unanswerable questions."""
    hop_part = ", ".join(
        f"{hop}-hop {ok}/{count} ({ok / count:.3f})" for hop, (ok, count) in result["per_hops"].items()
    )
    how = "the question or its hop queries" if any(b is not None for b in result["by_hops"]) else "the question"
    lines = [
        f"answerable: {sum(result['answerable'])} of {result['questions']} questions ({result['share']:.3f}) have an "
        f"answer in the top-{result['k']} documents retrieved for {how}; {hop_part}"
    ]
    missing = [index for index, ok in enumerate(result["answerable"]) if not ok]
    if missing:
        lines.append(f"unanswerable ({len(missing)}; the first {min(listed, len(missing))}):")
        lines += [f"  row {index}: {questions[index]!r} -> {answers[index]}" for index in missing[:listed]]
    return lines

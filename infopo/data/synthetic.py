"""Deterministic synthetic data sets in TRL's standard formats.

Every generator takes ``num_rows`` and ``seed`` and returns a ``datasets.Dataset``; the same arguments give the same
rows on every machine (Python's ``random.Random``, no global state). ``conversational=True`` gives the
conversational format (lists of ``{"role", "content"}`` messages) instead of plain strings.

Tasks:
- ``arithmetic_preference``: prompt/chosen/rejected, chosen states the right result of ``a op b``, rejected a wrong
  one (off by 1 to 9), both in the same sentence, so the pair differs in the answer only.
- ``arithmetic_prompts``: prompt-only with a verifiable ``answer`` column, for GRPO with
  :func:`infopo.rewards.answer_match`.
- ``arithmetic_sft``: prompt/completion, the completion states the right result.
- ``reversal_sft``: prompt/completion, "reverse: red cat blue" -> "blue cat red." (a second skill, to measure
  forgetting of the first).
- ``lookup_questions`` / ``lookup_held_out_questions`` / ``lookup_trajectories`` / ``lookup_corpus``: the multi-hop
  lookup world of :mod:`infopo.data.lookup` (questions with an ``answer`` column, about all or the held-out
  countries; search demonstrations about the train countries; the documents a search environment retrieves from);
  ``lookup_hasty_trajectories``: demonstrations that often skip the second search (the IGPO demo's warm start);
  ``lookup_context_questions``: questions that carry their own ``documents`` (per-episode search).
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable

from datasets import Dataset

SYNTHETIC_PREFIX = "synthetic:"


def synthetic_task(make: Callable[..., Dataset]) -> Callable[..., Dataset]:
    """A task function whose data set remembers how it was made: ``info.dataset_name`` is ``synthetic:<task>`` and
    ``info.description`` the JSON of its arguments, so a model card can write the recipe fields (``dataset_name``,
    ``synthetic_rows``, ``synthetic_seed``, ``conversational``) that make it again (:func:`synthetic_recipe`)."""

    @functools.wraps(make)
    def tagged(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
        dataset = make(num_rows, seed, conversational)
        dataset.info.dataset_name = SYNTHETIC_PREFIX + make.__name__.removesuffix("_task")
        dataset.info.description = json.dumps(
            {"synthetic_rows": num_rows, "synthetic_seed": seed, "conversational": conversational}
        )
        return dataset

    return tagged


def synthetic_recipe(dataset) -> dict:
    """The recipe fields that rebuild a data set made by a :func:`synthetic_task` (its train split), or {} when it was
    not made so or has since changed its number of rows (a selection of it)."""
    info = getattr(dataset, "info", None)
    name = getattr(info, "dataset_name", None) or ""
    if not name.startswith(SYNTHETIC_PREFIX):
        return {}
    try:
        arguments = json.loads(info.description or "{}")
    except json.JSONDecodeError:
        return {}
    if arguments.get("synthetic_rows") != len(dataset):
        return {}
    return {"dataset_name": name, **arguments}


OPERATIONS = {"plus": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b}


def _problem(rng: random.Random) -> tuple[str, int]:
    """One arithmetic question and its result; operands are small so results stay short."""
    op = rng.choice(sorted(OPERATIONS))
    a, b = rng.randint(0, 20), rng.randint(0, 20)
    if op == "minus" and b > a:
        a, b = b, a
    if op == "times":
        a, b = a % 10, b % 10
    return f"what is {a} {op} {b}?", OPERATIONS[op](a, b)


def _as_prompt(text: str, conversational: bool):
    return [{"role": "user", "content": text}] if conversational else text


def _as_completion(text: str, conversational: bool):
    return [{"role": "assistant", "content": text}] if conversational else " " + text


def _generate(num_rows: int, seed: int, make_row: Callable[[random.Random], dict]) -> Dataset:
    """``num_rows`` rows from ``make_row``, drawing from one ``random.Random(seed)``."""
    rng = random.Random(seed)
    return Dataset.from_list([make_row(rng) for _ in range(num_rows)])


@synthetic_task
def arithmetic_preference(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """Preference pairs ``prompt``/``chosen``/``rejected``: the right result is chosen, a wrong one rejected."""

    def row(rng):
        question, result = _problem(rng)
        wrong = result + rng.choice([-1, 1]) * rng.randint(1, 9)
        return {
            "prompt": _as_prompt(question, conversational),
            "chosen": _as_completion(f"the answer is {result}.", conversational),
            "rejected": _as_completion(f"the answer is {wrong}.", conversational),
        }

    return _generate(num_rows, seed, row)


@synthetic_task
def arithmetic_prompts(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """Prompt-only rows ``prompt``/``answer``; ``answer`` is the result as a string."""

    def row(rng):
        question, result = _problem(rng)
        return {"prompt": _as_prompt(question, conversational), "answer": str(result)}

    return _generate(num_rows, seed, row)


@synthetic_task
def arithmetic_sft(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """Prompt/completion rows: the completion states the right result."""

    def row(rng):
        question, result = _problem(rng)
        return {
            "prompt": _as_prompt(question, conversational),
            "completion": _as_completion(f"the answer is {result}.", conversational),
        }

    return _generate(num_rows, seed, row)


REVERSAL_WORDS = ("red", "green", "blue", "yellow", "black", "white", "cat", "dog", "bird", "fish", "tree", "house")


@synthetic_task
def reversal_sft(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """Prompt/completion rows: three to five words, and the same words in reverse order."""

    def row(rng):
        words = [rng.choice(REVERSAL_WORDS) for _ in range(rng.randint(3, 5))]
        return {
            "prompt": _as_prompt("reverse: " + " ".join(words), conversational),
            "completion": _as_completion(" ".join(reversed(words)) + ".", conversational),
        }

    return _generate(num_rows, seed, row)


@synthetic_task
def lookup_questions_task(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """The lookup world's questions (see :mod:`infopo.data.lookup`); the corpus is ``synthetic:lookup_corpus``."""
    from infopo.data.lookup import lookup_questions

    return lookup_questions(num_rows, seed, conversational)


@synthetic_task
def lookup_held_out_questions_task(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """Questions about the lookup world's held-out countries (80% 2-hop): names a warm start on
    ``lookup_trajectories`` never saw, so answering them means copying from retrieved text."""
    from infopo.data.lookup import lookup_questions

    return lookup_questions(num_rows, seed, conversational, two_hop_share=0.8, split="held_out")


@synthetic_task
def lookup_trajectories_task(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """Whole search demonstrations (prompt/turns/observations) about the train countries, 80% 2-hop; ``infopo sft``
    trains on them as rollouts are tokenized, the model's turns only."""
    from infopo.data.lookup import lookup_trajectories

    return lookup_trajectories(num_rows, seed, conversational, two_hop_share=0.8, split="train")


@synthetic_task
def lookup_hasty_trajectories_task(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """``lookup_trajectories`` from a hasty demonstrator: 70% of its 2-hop demonstrations stop after the first search
    and answer the name it found (the IGPO demo's warm start: IGPO has to learn the second search)."""
    from infopo.data.lookup import lookup_trajectories

    return lookup_trajectories(num_rows, seed, conversational, two_hop_share=0.8, split="train", hasty_share=0.7)


@synthetic_task
def lookup_context_questions_task(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """Questions that each carry their own documents (a fresh small world per row; see
    :func:`infopo.data.lookup.lookup_context_questions`), for per-episode search environments."""
    from infopo.data.lookup import lookup_context_questions

    return lookup_context_questions(num_rows, seed, conversational)


@synthetic_task
def lookup_corpus_task(num_rows: int = 256, seed: int = 0, conversational: bool = False) -> Dataset:
    """The lookup world's documents (one per fact); the arguments do not change the world."""
    from infopo.data.lookup import lookup_corpus

    return lookup_corpus()


SYNTHETIC_TASKS: dict[str, Callable[..., Dataset]] = {
    "arithmetic_preference": arithmetic_preference,
    "arithmetic_prompts": arithmetic_prompts,
    "arithmetic_sft": arithmetic_sft,
    "reversal_sft": reversal_sft,
    "lookup_questions": lookup_questions_task,
    "lookup_held_out_questions": lookup_held_out_questions_task,
    "lookup_trajectories": lookup_trajectories_task,
    "lookup_hasty_trajectories": lookup_hasty_trajectories_task,
    "lookup_context_questions": lookup_context_questions_task,
    "lookup_corpus": lookup_corpus_task,
}
"""Tasks by name; a recipe loads one with ``dataset_name: synthetic:<name>``."""

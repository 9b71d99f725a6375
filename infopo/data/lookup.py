"""A multi-hop lookup world for search agents (IGPO): entities, facts written as documents, 1- and 2-hop questions.

Names are made of consonant-vowel syllables (:data:`infopo.vocab.SYLLABLES`), so names the model never saw still
tokenize into familiar pieces.
One document per fact ("matiza capital gozeri"). 1-hop questions need one search; 2-hop questions need two (find
the capital, then its mayor; or find the country of a capital, then its leader). Everything is deterministic: the
world from ``world_seed``, the questions drawn from it by ``seed``, so a train and a test split (seeds s and s + 1)
share one corpus.
"""

from __future__ import annotations

import random
from functools import lru_cache

from datasets import Dataset

from infopo.vocab import SYLLABLES


def _make_world(rng: random.Random, num_countries: int) -> dict:
    """Countries with a capital, a leader and a river; each capital has a mayor. Names are unique."""
    used: set[str] = set()

    def name() -> str:
        while True:
            candidate = "".join(rng.choice(SYLLABLES) for _ in range(3))
            if candidate not in used:
                used.add(candidate)
                return candidate

    countries = {}
    for _ in range(num_countries):
        country = name()
        countries[country] = {"capital": name(), "leader": name(), "river": name(), "mayor": name()}
    return countries


@lru_cache(maxsize=8)
def lookup_world(num_countries: int = 400, world_seed: int = 0) -> dict:
    """The world of ``world_seed``: countries with a capital, a leader and a river; each capital has a mayor."""
    return _make_world(random.Random(world_seed), num_countries)


DISTRACTOR_WORDS = ("former", "rival", "sister")
"""Qualifiers of distractor documents: ``"matiza former capital bokuna"`` matches a search for the capital of matiza
almost as well as the fact does, and names another place."""


def removed_countries(world: dict, coverage: float = 1.0, coverage_seed: int = 0) -> set[str]:
    """The countries whose documents a corpus of ``coverage`` leaves out: round((1 - coverage) * n) of each split's
    n countries (``train`` and ``held_out``), drawn with ``coverage_seed``. Every question about one of them (and
    every question through its capital) has no evidence left in the corpus, so about ``coverage`` of the questions
    of any split stays answerable.

    Drawn per split and from a generator of its own: one draw over all countries with ``random.Random(0)`` repeated
    the split's own shuffle (``SPLIT_SEED`` 0) and removed every held-out country at coverage 0.63."""
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must lie in (0, 1], got {coverage}")
    rng = random.Random(f"coverage-{coverage_seed}")
    removed = set()
    for split in ("train", "held_out"):
        names = split_countries(world, split)
        removed.update(rng.sample(sorted(names), round((1 - coverage) * len(names))))
    return removed


def _documents(world: dict, coverage: float = 1.0, coverage_seed: int = 0, distractors: int = 0) -> list[str]:
    removed = removed_countries(world, coverage, coverage_seed)
    used = {name for country, facts in world.items() for name in (country, *facts.values())}
    rng = random.Random(f"distractors-{coverage_seed}")

    def fake_name() -> str:
        while True:
            candidate = "".join(rng.choice(SYLLABLES) for _ in range(3))
            if candidate not in used:
                used.add(candidate)
                return candidate

    documents = []
    for country, facts in world.items():
        if country in removed:
            continue
        for subject, relation, value in (
            (country, "capital", facts["capital"]),
            (country, "leader", facts["leader"]),
            (country, "river", facts["river"]),
            (facts["capital"], "mayor", facts["mayor"]),
        ):
            documents.append(f"{subject} {relation} {value}")
            documents += [
                f"{subject} {DISTRACTOR_WORDS[index % len(DISTRACTOR_WORDS)]} {relation} {fake_name()}"
                for index in range(distractors)
            ]
    return documents


def lookup_corpus(
    num_countries: int = 400,
    world_seed: int = 0,
    *,
    coverage: float = 1.0,
    coverage_seed: int = 0,
    distractors: int = 0,
) -> Dataset:
    """One document per fact, in a ``text`` column. ``coverage`` < 1 leaves out every document of a share of the
    countries (:func:`removed_countries`; the questions stay as they are), ``distractors`` adds that many documents
    per fact that match its search and name another, invented place or person (:data:`DISTRACTOR_WORDS`). The
    defaults give the demo's corpus."""
    world = lookup_world(num_countries, world_seed)
    return Dataset.from_dict({"text": _documents(world, coverage, coverage_seed, distractors)})


SEARCH_PROTOCOL = (
    "You answer questions by searching a knowledge base of one-line facts. Write one search per turn as "
    "<search> query </search>; the facts found come back as <information> ... </information>. Search again when a "
    "question needs another fact. When you know the answer, write only the name, as <answer> name </answer>."
)
"""The system prompt of the conversational lookup questions: the tag protocol of
:class:`~infopo.igpo.environment.SearchEnvironment`, for an instruct model that has never seen it."""

SEARCH_EXAMPLE = (
    "who is the mayor of the capital of kodi?",
    "<search> kodi capital</search> <information> kodi capital basu . kodi river fato .</information> "
    "<search> basu mayor</search> <information> basu mayor ralo .</information> <answer> ralo</answer>",
)
"""One worked exchange (question, the assistant's whole search trajectory) shown before the question. Its names are
not in the world (they have two syllables; the world's have three)."""


def as_prompt(question: str, conversational: bool):
    """A question as a plain-text prompt, or as messages: the protocol as the system prompt, the worked example as an
    earlier user/assistant exchange, then the question.

    The example goes in as an exchange because a small instruct model copies the format of its own earlier turns far
    more readily than it follows instructions: SmolLM2-135M-Instruct began 0 of 16 answers with a tag when the
    protocol and the example were in the system or user message, and 14 of 16 (greedy; 9 of 16 sampled at
    temperature 1) with the example as an earlier assistant turn.
    """
    if not conversational:
        return question
    example_question, example_trajectory = SEARCH_EXAMPLE
    return [
        {"role": "system", "content": SEARCH_PROTOCOL},
        {"role": "user", "content": example_question},
        {"role": "assistant", "content": example_trajectory},
        {"role": "user", "content": question},
    ]


SPLITS = ("all", "train", "held_out")
TRAIN_SHARE = 0.7
SPLIT_SEED = 0


def split_countries(world: dict, split: str = "all") -> list[str]:
    """The countries of a split: ``train`` (70% of them, drawn with ``SPLIT_SEED``), ``held_out`` (the rest) or
    ``all`` (sorted by name).

    Warm-start demonstrations use ``train``; RL and evaluation use ``held_out``, so the policy must copy answers out
    of retrieved text rather than recall them. The split is random, not alphabetical: with the first 70% by name,
    every held-out country began with a syllable no train country began with (s, t, v, z), so a model that had
    learned to copy names still mis-copied held-out countries into its queries (1-hop held-out success 0.59-0.60
    after the demo's warm start, against 0.94-1.00 with the random split, same seeds; docs/index.md#the-warm-start).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    names = sorted(world)
    if split == "all":
        return names
    random.Random(SPLIT_SEED).shuffle(names)
    cut = int(len(names) * TRAIN_SHARE)
    return names[:cut] if split == "train" else names[cut:]


def _question(
    rng: random.Random, world: dict, two_hop_share: float, countries: list[str], three_hop_share: float = 0.0
) -> tuple[str, str, int, list[str]]:
    """A question, its answer, its hop count and the search query of each hop. No draw for 3-hop questions unless
    ``three_hop_share`` is set: the questions of a seed stay those it always drew."""
    country = rng.choice(countries)
    facts = world[country]
    if three_hop_share and rng.random() < three_hop_share:
        question = f"who is the mayor of the capital of the country whose river is {facts['river']}?"
        return (
            question,
            facts["mayor"],
            3,
            [f"{facts['river']} river", f"{country} capital", f"{facts['capital']} mayor"],
        )
    if rng.random() < two_hop_share:
        if rng.random() < 0.5:
            queries = [f"{country} capital", f"{facts['capital']} mayor"]
            return f"who is the mayor of the capital of {country}?", facts["mayor"], 2, queries
        queries = [f"capital {facts['capital']}", f"{country} leader"]
        return f"who is the leader of the country whose capital is {facts['capital']}?", facts["leader"], 2, queries
    relation = rng.choice(("capital", "leader", "river"))
    return f"what is the {relation} of {country}?", facts[relation], 1, [f"{country} {relation}"]


def lookup_questions(
    num_rows: int = 256,
    seed: int = 0,
    conversational: bool = False,
    *,
    two_hop_share: float = 0.5,
    three_hop_share: float = 0.0,
    num_countries: int = 400,
    world_seed: int = 0,
    split: str = "all",
    hop_queries: bool = False,
) -> Dataset:
    """Rows ``prompt``/``answer``/``hops`` about the countries of ``split`` in the world of ``world_seed``.
    ``three_hop_share`` of them ask through three hops (a river's country, its capital, the capital's mayor), then
    ``two_hop_share`` of the rest through two. ``hop_queries``: a column with each hop's search query (what
    ``infopo search check`` retrieves for)."""
    rng = random.Random(seed)
    world = lookup_world(num_countries, world_seed)
    countries = split_countries(world, split)
    rows = []
    for _ in range(num_rows):
        question, answer, hops, queries = _question(rng, world, two_hop_share, countries, three_hop_share)
        row = {"prompt": as_prompt(question, conversational), "answer": answer, "hops": hops}
        if hop_queries:
            row["hop_queries"] = queries
        rows.append(row)
    return Dataset.from_list(rows)


def lookup_context_questions(
    num_rows: int = 256,
    seed: int = 0,
    conversational: bool = False,
    *,
    two_hop_share: float = 0.8,
    countries_per_question: int = 3,
) -> Dataset:
    """Questions that bring their own documents: each row is a fresh small world of ``countries_per_question``
    countries (new names for every row), its facts shuffled into a ``documents`` column, and a question about it with
    its ``answer``. No shared corpus holds the answer: a search must look in the row's own documents
    (:class:`~infopo.igpo.environment.ContextSearchEnvironment`, or ``ContextSearchTools`` in TRL's tool loop)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(num_rows):
        world = _make_world(rng, countries_per_question)
        question, answer, hops, _ = _question(rng, world, two_hop_share, list(world))
        documents = _documents(world)
        rng.shuffle(documents)
        rows.append(
            {"prompt": as_prompt(question, conversational), "answer": answer, "hops": hops, "documents": documents}
        )
    return Dataset.from_list(rows)


def _observation(rng: random.Random, fact: str, documents: list[str], top_k: int = 3) -> str:
    """What a search returns: the relevant document and distractors, as SearchEnvironment formats it."""
    shown = [fact] + rng.sample([d for d in documents if d != fact], top_k - 1)
    return " <information>" + "".join(f" {doc} ." for doc in shown) + "</information>"


def _trajectory(
    rng: random.Random,
    world: dict,
    documents: list[str],
    countries: list[str],
    two_hop_share: float,
    conversational: bool,
    hasty_share: float = 0.0,
) -> dict:
    """One demonstration: the question, the model's turns and the observations between them. With probability
    ``hasty_share`` a 2-hop demonstration stops after its first search and answers the name that search found (the
    capital, or the country), which is wrong."""
    country = rng.choice(countries)
    facts = world[country]
    kind = rng.random()
    if kind < 1 - two_hop_share:
        relation = rng.choice(("capital", "leader", "river"))
        question = f"what is the {relation} of {country}?"
        hops = [(f"{country} {relation}", f"{country} {relation} {facts[relation]}")]
        answer, found = facts[relation], None
    elif kind < 1 - two_hop_share / 2:
        question = f"who is the mayor of the capital of {country}?"
        hops = [
            (f"{country} capital", f"{country} capital {facts['capital']}"),
            (f"{facts['capital']} mayor", f"{facts['capital']} mayor {facts['mayor']}"),
        ]
        answer, found = facts["mayor"], facts["capital"]
    else:
        question = f"who is the leader of the country whose capital is {facts['capital']}?"
        hops = [
            (f"capital {facts['capital']}", f"{country} capital {facts['capital']}"),
            (f"{country} leader", f"{country} leader {facts['leader']}"),
        ]
        answer, found = facts["leader"], country
    given = answer
    if len(hops) == 2 and hasty_share and rng.random() < hasty_share:  # no draw without it: the same data as before
        hops, given = hops[:1], found
    turns = [f" <search> {query}</search>" for query, _ in hops] + [f" <answer> {given}</answer>"]
    observations = [_observation(rng, fact, documents) for _, fact in hops]
    return {
        "prompt": as_prompt(question, conversational),
        "turns": turns,
        "observations": observations,
        "answer": answer,
    }


def lookup_trajectories(
    num_rows: int = 512,
    seed: int = 0,
    conversational: bool = False,
    *,
    two_hop_share: float = 0.5,
    num_countries: int = 400,
    world_seed: int = 0,
    split: str = "all",
    hasty_share: float = 0.0,
) -> Dataset:
    """Whole demonstrations: ``prompt`` (the question), ``turns`` (the model's texts), ``observations`` (the
    environment's texts, one fewer than turns) and ``answer`` (the question's right answer).

    A 1-hop question takes ``<search> country relation</search>`` then ``<answer> value</answer>``; a 2-hop one
    (both kinds of :func:`lookup_questions`, ``two_hop_share`` of the questions) searches twice. Observations look
    like :class:`~infopo.igpo.environment.SearchEnvironment`'s (the fact and two distractors). Every name follows a
    space (``<search> name ...``, ``<answer> name``), so it is the same tokens wherever it appears: a byte-level BPE
    gives a word with and without a leading space different ids, and copying a name the model never saw is then a
    plain copy. :func:`infopo.igpo.warm_start.tokenize_trajectories` turns them into SFT rows that train on the
    model's turns only. ``conversational``: the prompt is the protocol, a worked example and the question
    (:func:`as_prompt`).

    ``hasty_share``: the share of 2-hop demonstrations whose demonstrator stops after the first search and answers
    the intermediate name it found (a hasty agent: the IGPO demo's warm start, where RL has to learn the second
    search; ``answer`` stays the right one). 0 (the default) draws exactly the demonstrations it always drew.
    """
    rng = random.Random(seed)
    world = lookup_world(num_countries, world_seed)
    documents = list(lookup_corpus(num_countries, world_seed)["text"])
    countries = split_countries(world, split)
    return Dataset.from_list(
        [
            _trajectory(rng, world, documents, countries, two_hop_share, conversational, hasty_share)
            for _ in range(num_rows)
        ]
    )


def lookup_demonstrations(
    num_rows: int = 512,
    seed: int = 0,
    *,
    two_hop_share: float = 0.5,
    num_countries: int = 400,
    world_seed: int = 0,
    split: str = "all",
) -> Dataset:
    """Prompt/completion rows, one per turn of :func:`lookup_trajectories`' demonstrations: the history so far and the
    next turn (text in, text out; for a whole-trajectory warm start see ``tokenize_trajectories``)."""
    trajectories = lookup_trajectories(
        num_rows, seed, two_hop_share=two_hop_share, num_countries=num_countries, world_seed=world_seed, split=split
    )
    rows = []
    for demo in trajectories:
        history = demo["prompt"]
        for turn, observation in zip(demo["turns"], demo["observations"] + [""], strict=True):
            rows.append({"prompt": history, "completion": turn})
            history += turn + observation
            if len(rows) == num_rows:
                return Dataset.from_list(rows)
    return Dataset.from_list(rows)

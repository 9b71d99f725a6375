"""``infopo search check``: the share of a data set's questions whose answer retrieval surfaces, on the lookup world
at full coverage and with the evidence of 37% of its countries removed (a corpus folder built by ``infopo search
index``), per hop count, with the hop queries where the data names them."""

import json
import random

import pytest

from infopo.cli import main
from infopo.data.lookup import lookup_corpus, lookup_questions, lookup_world, removed_countries, split_countries
from infopo.igpo.retrieval import BM25Retriever
from infopo.igpo.search_check import check_coverage, contains_answer, question_text


def test_an_answer_appears_as_a_run_of_words():
    assert contains_answer(["the mayor is New York, of course"], ["new york"])
    assert not contains_answer(["york new"], ["New York"]) and not contains_answer(["newyork"], ["new york"])
    assert contains_answer(["a", "b zotepa c"], ["x", "Zotepa!"]) and not contains_answer(["zotepa"], ["", "  "])
    conversation = [{"role": "system", "content": "protocol"}, {"role": "user", "content": "what is x?"}]
    assert question_text(conversation) == "what is x?" and question_text("what is y?") == "what is y?"


def test_hop_queries_find_what_the_question_alone_does_not():
    world = lookup_world()
    retriever = BM25Retriever.from_documents(lookup_corpus()["text"])
    country, facts = next(iter(world.items()))
    question = f"who is the mayor of the capital of {country}?"
    result = check_coverage(
        [question, question], [[facts["mayor"]]] * 2, retriever, 3, [2, 2],
        [[f"{country} capital", f"{facts['capital']} mayor"], [f"{country} river"]],
    )  # fmt: skip
    assert result["by_question"] == [False, False] and result["by_hops"] == [True, False]
    assert result["per_hops"] == {2: (1, 2)} and result["share"] == 0.5


def _files(tmp_path, coverage: float) -> tuple[str, list[str]]:
    """A corpus file without the documents of (1 - coverage) of the countries, and the countries removed."""
    world = lookup_world()
    removed = set(random.Random(7).sample(sorted(world), round((1 - coverage) * len(world))))
    capitals = {world[country]["capital"] for country in removed}
    corpus = tmp_path / f"corpus-{coverage}.jsonl"
    with corpus.open("w") as handle:
        for text in lookup_corpus()["text"]:
            if text.split()[0] not in removed and text.split()[0] not in capitals:
                handle.write(json.dumps({"contents": text}) + "\n")
    return str(corpus), sorted(removed)


@pytest.mark.parametrize("coverage", [1.0, 0.63])
def test_the_check_reports_the_corpus_coverage(tmp_path, capsys, coverage):
    corpus, removed = _files(tmp_path, coverage)
    index = tmp_path / "index"
    assert main(["search", "index", "--corpus", corpus, "--text_field", "contents", "--output_dir", str(index)]) == 0
    questions = lookup_questions(300, seed=3, two_hop_share=0.0)
    data = tmp_path / "questions.jsonl"
    questions.to_json(str(data))
    capsys.readouterr()
    assert main(["search", "check", "--dataset", str(data), "--index", str(index), "--list", "3"]) == 0
    out = capsys.readouterr().out
    about_removed = sum(any(f" {country}?" in prompt for country in removed) for prompt in questions["prompt"])
    answerable = int(out.split("answerable: ")[1].split(" of ")[0])
    assert answerable == 300 - about_removed  # exactly the questions whose evidence is kept
    share = answerable / 300
    if coverage == 1.0:
        assert share == 1.0 and "warning" not in out and "unanswerable" not in out
    else:
        assert 0.55 < share < 0.71 and "1-hop" in out
        assert "unanswerable (" in out and out.count("  row ") == 3
        assert "warning: only" in out and "below 0.8" in out


def test_two_hop_questions_need_their_hop_queries_and_bad_input_is_named(tmp_path, capsys):
    data = tmp_path / "two_hop.jsonl"
    lookup_questions(40, seed=4, two_hop_share=1.0).to_json(str(data))
    corpus = tmp_path / "corpus.jsonl"
    lookup_corpus().to_json(str(corpus))
    assert main(["search", "check", "--dataset", str(data), "--corpus", str(corpus), "--min_coverage", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "2-hop" in out and "warning: only" in out  # the question text alone rarely finds a second hop's answer
    argv = ["search", "check", "--dataset", str(data), "--corpus", str(corpus), "--question_column", "question"]
    assert main(argv) == 2
    assert "no column 'question'; it has prompt, answer, hops" in capsys.readouterr().err


def test_the_lookup_world_has_coverage_distractors_and_three_hops_and_keeps_its_defaults():
    world = lookup_world()
    full = lookup_corpus()["text"]
    assert full == lookup_corpus(coverage=1.0, distractors=0)["text"] and len(full) == 4 * len(world)
    partial = lookup_corpus(coverage=0.63, coverage_seed=2)["text"]
    kept = {text.split()[0] for text in partial if text.split()[1] != "mayor"}
    assert len(kept) == 400 - round(0.37 * 280) - round(0.37 * 120) and len(partial) == 4 * len(kept)
    for split in ("train", "held_out"):  # each split keeps its share, whatever the split's own draw
        countries = split_countries(world, split)
        assert sum(country in kept for country in countries) == len(countries) - round(0.37 * len(countries))
    assert removed_countries(world, 0.63, 0) != removed_countries(world, 0.63, 2)
    noisy = lookup_corpus(distractors=2)["text"]
    assert len(noisy) == 3 * len(full) and set(full) <= set(noisy)
    names = {name for country, facts in world.items() for name in (country, *facts.values())}
    fakes = [text.split()[-1] for text in noisy if text not in set(full)]
    assert {text.split()[1] for text in noisy if text not in set(full)} == {"former", "rival"}
    assert not names & set(fakes) and len(set(fakes)) == len(fakes)  # invented names, never an answer
    plain = lookup_questions(60, seed=3)
    assert lookup_questions(60, seed=3, hop_queries=True).remove_columns("hop_queries").to_list() == plain.to_list()
    mixed = lookup_questions(200, seed=3, two_hop_share=0.5, three_hop_share=0.3, hop_queries=True)
    pairs = zip(mixed["hop_queries"], mixed["hops"], strict=True)
    assert set(mixed["hops"]) == {1, 2, 3} and all(len(queries) == hops for queries, hops in pairs)
    three = [row for row in mixed if row["hops"] == 3]
    assert 0.2 < len(three) / 200 < 0.4 and all("whose river is" in row["prompt"] for row in three)


def test_every_named_hop_query_retrieves_its_questions_answer(tmp_path):
    """With the hop queries every question of every hop count is answerable at full coverage, and the 3-hop ones
    are not from their own text."""
    retriever = BM25Retriever.from_documents(lookup_corpus(distractors=1)["text"])
    data = lookup_questions(120, seed=5, two_hop_share=0.5, three_hop_share=0.3, hop_queries=True)
    result = check_coverage(
        list(data["prompt"]), [[answer] for answer in data["answer"]], retriever, 3, list(data["hops"]),
        list(data["hop_queries"]),
    )  # fmt: skip
    assert result["share"] == 1.0 and set(result["per_hops"]) == {1, 2, 3}
    assert not any(ok for ok, hops in zip(result["by_question"], data["hops"], strict=True) if hops == 3)

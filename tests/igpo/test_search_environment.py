import json
import time

import pytest

from infopo.data import load_named_dataset
from infopo.data.lookup import lookup_corpus, lookup_questions, lookup_world
from infopo.errors import InfopoConfigError
from infopo.igpo.environment import SEARCH_FAILED, SearchEnvironment, load_corpus


@pytest.fixture(scope="module")
def environment():
    return SearchEnvironment(lookup_corpus(), top_k=3)


def test_world_is_deterministic_and_questions_are_answerable_from_the_corpus():
    assert lookup_world(20, 3) == lookup_world(20, 3) and lookup_world(20, 3) != lookup_world(20, 4)
    documents = set(lookup_corpus()["text"])
    world = lookup_world()
    for row in lookup_questions(40, seed=1):
        country = next(c for c, facts in world.items() if row["answer"] in facts.values())
        facts = world[country]
        if row["hops"] == 1:
            assert any(doc.startswith(f"{country} ") and doc.endswith(f" {row['answer']}") for doc in documents)
        elif "mayor" in row["prompt"]:
            assert f"{country} capital {facts['capital']}" in documents
            assert f"{facts['capital']} mayor {row['answer']}" in documents
        else:
            assert (
                f"{country} capital {facts['capital']}" in documents
                and f"{country} leader {row['answer']}" in documents
            )
    splits = load_named_dataset("synthetic:lookup_questions", synthetic_rows=16)
    assert splits["train"]["prompt"] != splits["test"]["prompt"]  # two draws of questions about one world


def test_search_returns_the_fact_and_answer_ends_the_episode(environment):
    country, facts = next(iter(lookup_world().items()))
    step = environment.step(f"I should look it up. <search>{country} capital</search>")
    assert (
        not step.done and step.observation.startswith(" <information> ") and step.observation.endswith("</information>")
    )
    assert f"{country} capital {facts['capital']}" in step.observation
    assert step.observation.count(" .") == 3  # top-3 documents
    finished = environment.step(f"<answer>{facts['capital']}</answer>")
    assert finished.done and finished.answered and finished.observation is None


def test_text_with_neither_search_nor_answer_is_a_format_error(environment):
    step = environment.step("I do not know.")
    assert step.done and step.format_error and not step.answered


def test_failing_and_slow_tools_become_neutral_observations_and_logged_causes(environment, monkeypatch, caplog):
    errors = environment.tool_errors

    def broken(query):
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(environment, "search", broken)
    step = environment.step("<search>x</search>")
    assert not step.done and step.tool_error and step.observation == f" <information>{SEARCH_FAILED}</information>"
    assert "search failed: RuntimeError: index unavailable" in caplog.text

    monkeypatch.setattr(environment, "search", lambda query: time.sleep(0.5) or ["late"])
    monkeypatch.setattr(environment, "time_limit_s", 0.05)
    step = environment.step("<search>x</search>")
    assert step.tool_error and SEARCH_FAILED in step.observation and "timed out after 0.05 s" in caplog.text
    assert environment.tool_errors == errors + 2


def test_a_hung_search_does_not_block_later_ones_and_huge_output_is_cut(monkeypatch):
    environment = SearchEnvironment(["short fact", "yy " * 3000], top_k=2, time_limit_s=0.2, max_observation_chars=300)
    release = __import__("threading").Event()
    calls = []

    def hangs_once(query):
        calls.append(query)
        if len(calls) == 1:
            release.wait(10)  # hangs far past the time limit
        return ["short fact"]

    monkeypatch.setattr(environment, "search", hangs_once)
    assert environment.step("<search>first</search>").tool_error
    monkeypatch.setattr(environment, "time_limit_s", 5.0)  # ample for a fresh worker, far short of the hang's 10 s
    step = environment.step("<search>second</search>")
    assert not release.is_set() and calls == ["first", "second"]  # the first search still hangs
    assert not step.tool_error and "short fact" in step.observation  # a fresh worker, not queued behind the hang
    release.set()
    monkeypatch.undo()
    huge = environment.step("<search>yy</search>")
    assert huge.truncated and len(huge.observation) < 350 and huge.observation.endswith(" ...</information>")
    assert environment.truncations == 1


def test_corpus_errors_are_named(tmp_path):
    with pytest.raises(InfopoConfigError, match="corpus not found: .*missing.jsonl"):
        load_corpus(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine"}) + "\nnot json\n")
    with pytest.raises(InfopoConfigError, match="bad.jsonl line 2 is not JSON"):
        load_corpus(bad)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(InfopoConfigError, match="line 1 has no 'text' field; it has: body"):
        load_corpus(wrong)
    with pytest.raises(InfopoConfigError, match="corpus is empty"):
        SearchEnvironment(["", "  "])
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps({"text": t}) for t in ["a b", "c d"]) + "\n")
    assert load_corpus(good) == ["a b", "c d"]


def test_entity_splits_are_disjoint_and_respected():
    from infopo.data.lookup import lookup_demonstrations, split_countries

    world = lookup_world()
    train, held_out = set(split_countries(world, "train")), set(split_countries(world, "held_out"))
    assert not train & held_out and len(train) == 280 and len(held_out) == 120
    for row in lookup_questions(30, seed=2, split="held_out"):
        assert any(country in row["prompt"] or world[country]["capital"] in row["prompt"] for country in held_out)
    demos = " ".join(lookup_demonstrations(60, seed=2, split="train")["prompt"])
    assert not any(f"of {country}?" in demos for country in held_out)
    with pytest.raises(ValueError, match="split must be one of"):
        split_countries(world, "dev")

"""Search-R1's protocol from a recipe (issue 36): ``recipes/igpo_search-r1_tiny.yaml`` makes observations that equal
Search-R1's for the same documents (its ``_passages2string`` and ``execute_predictions``, written again here from
PeterGriffinJin/Search-R1's search_r1/llm_agent/generation.py), answers an invalid action as it does, and trains end
to end on files in its data format (a train/test parquet folder with the answers in
``reward_model.ground_truth.target``, a wiki-18.jsonl corpus with ``contents``)."""

import json

import pytest
import yaml
from conftest import RECIPES
from datasets import Dataset

from infopo.cli import main
from infopo.data.lookup import lookup_corpus, lookup_questions
from infopo.igpo.environment import SearchEnvironment

RECIPE = RECIPES / "igpo_search-r1_tiny.yaml"
SETTINGS = yaml.safe_load(RECIPE.read_text())
INSTRUCTION = (
    "Answer the given question. You must conduct reasoning inside <think> and </think> first every time you get new "
    "information. After reasoning, if you find you lack some knowledge, you can call a search engine by <search> "
    "query </search> and it will return the top searched results between <information> and </information>. You can "
    "search as many times as your want. If you find no further external knowledge needed, you can directly provide "
    "the answer inside <answer> and </answer>, without detailed illustrations. For example, <answer> Beijing "
    "</answer>. Question: "
)


def search_r1_observation(contents: list[str]) -> str:
    """Search-R1's observation of one search: each document as 'Doc i(Title: first line) rest', joined, stripped,
    inside the information tags between blank lines."""
    passages = ""
    for index, content in enumerate(contents):
        title = content.split("\n")[0]
        text = "\n".join(content.split("\n")[1:])
        passages += f"Doc {index + 1}(Title: {title}) {text}\n"
    return f"\n\n<information>{passages.strip()}</information>\n\n"


SEARCH_R1_INVALID = (
    "\nMy previous action is invalid. If I want to search, I should put the query between <search> and </search>. "
    "If I want to give the final answer, I should put the answer between <answer> and </answer>. Let me try again.\n"
)


def wiki_contents() -> list[str]:
    """The lookup world's facts as wiki-18.jsonl's ``contents``: a quoted title line, then the text."""
    return [f'"{text.split()[0]}"\n{text}' for text in lookup_corpus()["text"]]


def recipe_environment(contents: list[str]) -> SearchEnvironment:
    keys = ("document_template", "observation_template", "strip_documents", "invalid_action_retry")
    return SearchEnvironment(contents, top_k=SETTINGS["search_top_k"], **{key: SETTINGS[key] for key in keys})


def test_the_recipes_observations_are_search_r1s():
    contents = wiki_contents()
    environment = recipe_environment(contents)
    query = "capital of " + contents[0].split("\n")[1].split()[0]
    step = environment.step(f"<think> I need the capital. </think> <search> {query} </search>")
    assert step.observation == search_r1_observation(environment.search(query)) and not step.done
    assert step.observation.startswith('\n\n<information>Doc 1(Title: "') and "\nDoc 2(Title: " in step.observation
    invalid = environment.step("<think> the capital is probably bokuna </think>")
    assert invalid.observation == SEARCH_R1_INVALID and not invalid.done and invalid.format_error
    assert environment.step("<answer> bokuna </answer>").done


@pytest.mark.slow
def test_the_search_r1_recipe_trains_on_search_r1_files(tmp_path):
    folder = tmp_path / "nq_search"
    folder.mkdir()
    for split, seed in (("train", 1), ("test", 2)):
        rows = [
            {
                "id": f"{split}_{index}",
                "question": row["prompt"],
                "golden_answers": [row["answer"]],
                "data_source": "nq",
                "prompt": [{"role": "user", "content": INSTRUCTION + row["prompt"] + "?\n"}],
                "ability": "fact-reasoning",
                "reward_model": {"ground_truth": {"target": [row["answer"]]}, "style": "rule"},
                "extra_info": {"split": split, "index": index},
            }
            for index, row in enumerate(lookup_questions(32, seed=seed))
        ]
        Dataset.from_list(rows).to_parquet(str(folder / f"{split}.parquet"))
    corpus = tmp_path / "wiki-18.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "contents": c}) + "\n" for i, c in enumerate(wiki_contents())))
    out = tmp_path / "out"
    code = main(
        [
            "igpo",
            "--config",
            str(RECIPE),
            "--dataset_name",
            str(folder),
            "--corpus",
            str(corpus),
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--output_dir",
            str(out),
        ]
    )
    assert code == 0
    card = (out / "README.md").read_text()
    assert "| igpo/squad_em |" in card and "outcome_metric: squad_em" in card
    assert "answer_column: reward_model.ground_truth.target" in card and "invalid_action_retry: true" in card

import re

import pytest
from datasets import Dataset

from infopo.data import arithmetic_preference, arithmetic_prompts, load_named_dataset, require_columns, require_split
from infopo.data.synthetic import OPERATIONS
from infopo.errors import InfopoConfigError


def _evaluate(question: str) -> int:
    a, op, b = re.fullmatch(r"what is (\d+) (\w+) (\d+)\?", question).groups()
    return OPERATIONS[op](int(a), int(b))


def test_preference_pairs_are_deterministic_and_seed_dependent():
    assert arithmetic_preference(32, seed=5).to_dict() == arithmetic_preference(32, seed=5).to_dict()
    assert arithmetic_preference(32, seed=5)["prompt"] != arithmetic_preference(32, seed=6)["prompt"]


def test_chosen_is_right_and_rejected_is_wrong():
    data = arithmetic_preference(200, seed=0)
    for row in data:
        result = _evaluate(row["prompt"])
        assert row["chosen"] == f" the answer is {result}."
        wrong = int(re.search(r"-?\d+", row["rejected"]).group())
        assert wrong != result and abs(wrong - result) <= 9


def test_conversational_format_holds_messages():
    row = arithmetic_preference(4, seed=0, conversational=True)[0]
    assert row["prompt"][0]["role"] == "user" and row["prompt"][0]["content"].startswith("what is")
    assert row["chosen"][0]["role"] == "assistant" and row["rejected"][0]["role"] == "assistant"


def test_prompt_set_answers_are_correct():
    data = arithmetic_prompts(100, seed=1)
    assert data.column_names == ["prompt", "answer"]
    assert all(int(row["answer"]) == _evaluate(row["prompt"]) for row in data)
    conversational = arithmetic_prompts(3, seed=1, conversational=True)
    assert conversational[0]["prompt"] == [{"role": "user", "content": data[0]["prompt"]}]


def test_synthetic_name_loads_train_and_test_splits():
    data = load_named_dataset("synthetic:arithmetic_preference", synthetic_rows=40, synthetic_seed=2)
    assert len(data["train"]) == 40 and len(data["test"]) == 8
    assert data["train"].to_dict() == arithmetic_preference(40, seed=2).to_dict()


def test_unknown_synthetic_task_names_the_known_ones():
    with pytest.raises(InfopoConfigError, match="unknown synthetic task 'nope'.*arithmetic_preference"):
        load_named_dataset("synthetic:nope")


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_local_files_load(tmp_path, suffix):
    data = arithmetic_preference(6, seed=0)
    path = tmp_path / f"pairs{suffix}"
    {".jsonl": data.to_json, ".json": data.to_json, ".csv": data.to_csv, ".parquet": data.to_parquet}[suffix](str(path))
    loaded = load_named_dataset(str(path))
    assert loaded["train"]["chosen"] == data["chosen"]


def test_saved_dataset_folder_loads(tmp_path):
    arithmetic_prompts(5).save_to_disk(str(tmp_path / "prompts"))
    assert len(load_named_dataset(str(tmp_path / "prompts"))["train"]) == 5


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InfopoConfigError, match="dataset file not found: .*missing.jsonl"):
        load_named_dataset(str(tmp_path / "missing.jsonl"))


def test_missing_split_and_columns_are_named():
    data = load_named_dataset("synthetic:arithmetic_prompts", synthetic_rows=8)
    with pytest.raises(
        InfopoConfigError, match="no split 'validation' \\(needed for training\\); its splits: train, test"
    ):
        require_split(data, "validation", "synthetic:arithmetic_prompts")
    with pytest.raises(
        InfopoConfigError, match="missing column\\(s\\) 'chosen', 'rejected' needed by DPO.*prompt, answer"
    ):
        require_columns(data["train"], ("chosen", "rejected"), "x", "DPO")
    require_columns(Dataset.from_dict({"prompt": ["a"]}), ("prompt",), "x", "GRPO")


def test_sft_tasks_state_the_right_completion():
    from infopo.data import arithmetic_sft, reversal_sft

    for row in arithmetic_sft(50, seed=3):
        assert row["completion"] == f" the answer is {_evaluate(row['prompt'])}."
    for row in reversal_sft(50, seed=3):
        words = row["prompt"].removeprefix("reverse: ").split()
        assert 3 <= len(words) <= 5 and row["completion"] == " " + " ".join(reversed(words)) + "."
    conversational = reversal_sft(2, seed=3, conversational=True)[0]
    assert conversational["completion"][0]["role"] == "assistant"

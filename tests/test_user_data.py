"""Data as users have it (issue 36): answers in nested columns (verl's ``reward_model.ground_truth.target``), the
missing-column error naming the likely columns and the flag, the split error saying why the test split is needed
and how a folder gives one, ``--conversational`` refused on a user's file, reward functions as ``module:function``."""

import pytest
from conftest import RECIPES
from datasets import Dataset

from infopo.cli import main
from infopo.cli.grpo import load_reward_function
from infopo.data.nested import answer_like_columns, nested_value, with_nested_column
from infopo.errors import InfopoConfigError
from infopo.rewards import answer_match

IGPO_TINY = str(RECIPES / "igpo_tiny.yaml")


def verl_rows() -> list[dict]:
    """Rows as verl's Search-R1 parquet holds them: the gold answers twice, once nested."""
    return [
        {
            "prompt": [{"role": "user", "content": f"who is the leader of country{i}?"}],
            "golden_answers": [f"leader{i}", f"the leader{i}"],
            "reward_model": {"ground_truth": {"target": [f"leader{i}", f"the leader{i}"]}, "style": "rule"},
        }
        for i in range(4)
    ]


def test_a_dotted_answer_column_reads_nested_answers():
    data = Dataset.from_list(verl_rows())
    assert nested_value(data[1], "reward_model.ground_truth.target") == ["leader1", "the leader1"]
    nested = with_nested_column(data, "reward_model.ground_truth.target")
    assert nested["reward_model.ground_truth.target"] == data["golden_answers"]
    assert with_nested_column(data, "golden_answers") is data  # a column already: unchanged
    with pytest.raises(InfopoConfigError, match=r"answer_column 'reward_model.truth': no 'truth' in the first row"):
        with_nested_column(data, "reward_model.truth")
    assert answer_like_columns(data) == ["golden_answers", "reward_model.ground_truth.target"]


@pytest.fixture
def verl_parquet(tmp_path):
    path = tmp_path / "train.parquet"
    Dataset.from_list(verl_rows()).to_parquet(str(path))
    return str(path)


def run(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_igpo_says_where_the_answers_may_be_and_why_it_needs_a_test_split(tmp_path, capsys, verl_parquet):
    out = ["--output_dir", str(tmp_path / "never"), "--dataset_name", verl_parquet]
    code, err = run(["igpo", "--config", IGPO_TINY, *out, "--greedy_eval_questions", "0"], capsys)
    assert (
        code == 2
        and (
            f"dataset {verl_parquet!r} has no answer column 'answer' (--answer_column; a dotted path reads nested "
            "columns); its columns: prompt, golden_answers, reward_model; answers may be in: golden_answers, "
            "reward_model.ground_truth.target"
        )
        in err
    )
    code, err = run(["igpo", "--config", IGPO_TINY, *out, "--answer_column", "golden_answers"], capsys)
    assert (
        code == 2
        and (
            "has no split 'test' (needed for the greedy evaluation, greedy_eval_questions: 400; or set "
            "greedy_eval_questions: 0); its splits: train; a folder with 'test'-named files (train.parquet and "
            "test.parquet, or train.jsonl and test.jsonl) gives both splits"
        )
        in err
    )
    code, err = run(["igpo", "--config", IGPO_TINY, *out, "--conversational", "true"], capsys)
    assert code == 2 and "--conversational true makes a synthetic data set conversational" in err
    assert not (tmp_path / "never").exists()


def test_a_folder_of_train_and_test_files_gives_both_splits(tmp_path):
    from infopo.data.loading import load_named_dataset

    folder = tmp_path / "data"
    folder.mkdir()
    rows = Dataset.from_list(verl_rows())
    rows.to_parquet(str(folder / "train.parquet"))
    rows.select(range(2)).to_parquet(str(folder / "test.parquet"))
    splits = load_named_dataset(str(folder))
    assert set(splits) == {"train", "test"} and len(splits["test"]) == 2


def test_reward_functions_load_as_names_dotted_or_module_colon_function(tmp_path, monkeypatch):
    source = "def constant(completions, **kwargs):\n    return [0.5] * len(completions)\n"
    (tmp_path / "user_rewards.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    assert load_reward_function("answer_match") is answer_match
    assert load_reward_function("user_rewards:constant").__name__ == "constant"
    assert load_reward_function("user_rewards.constant").__name__ == "constant"
    with pytest.raises(InfopoConfigError, match="a dotted path or module:function"):
        load_reward_function("user_rewards:absent")

"""Bad data rows and files get one clear line before training (exit 2), degenerate data a warning with counts, and a
reward function that raises a one-line stop naming it; property tests on randomly broken files for every command."""

import json
import re

import pytest
from conftest import RECIPES, run_infopo
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from infopo.cli import main
from infopo.data import load_named_dataset
from infopo.data.validation import check_rows, describe, is_answer, is_messages, is_text_or_messages
from infopo.errors import InfopoConfigError
from infopo.trainers import DegenerateDataWarning

GOOD = {
    "sft": {"prompt": "what is 1 plus 2?", "completion": " the answer is 3."},
    "dpo": {"prompt": "what is 1 plus 2?", "chosen": " the answer is 3.", "rejected": " the answer is 4."},
    "did-dpo": {"prompt": "what is 1 plus 2?", "chosen": " the answer is 3.", "rejected": " the answer is 4."},
    "grpo": {"prompt": "what is 1 plus 2?", "answer": "3"},
    "igpo": {"prompt": "what is the capital of kaba?", "answer": "zolo"},
}
RECIPE = {
    "sft": "sft_tiny.yaml",
    "dpo": "dpo_tiny.yaml",
    "did-dpo": "did-dpo_tiny.yaml",
    "grpo": "grpo_tiny.yaml",
    "igpo": "igpo_tiny.yaml",
}
SHORT = ["--max_steps", "1", "--eval_strategy", "no", "--per_device_train_batch_size", "4", "--logging_steps", "1"]
EXTRA = {
    "igpo": ["--num_generations", "4", "--max_turns", "1", "--max_turn_tokens", "4"],
    "grpo": ["--num_generations", "4"],
    "did-dpo": ["--did_entropy_steps", "0"],
}


def write_jsonl(path, rows, raw_lines=()):
    lines = [json.dumps(row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"".join(raw_lines))
    return path


def run(command, data, out, capsys, *extra):
    code = main(
        [
            command,
            "--config",
            str(RECIPES / RECIPE[command]),
            "--dataset_name",
            str(data),
            "--output_dir",
            str(out),
            *SHORT,
            *EXTRA.get(command, []),
            *extra,
        ]
    )
    return code, capsys.readouterr().err


def one_line_error(command, err) -> str:
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"infopo {command}: error: ")
    return last


# ---- the table ------------------------------------------------------------------------------------------


def test_a_null_chosen_names_file_row_line_and_column(tmp_path, capsys):
    rows = [GOOD["dpo"]] * 8
    rows[5] = {**GOOD["dpo"], "chosen": None}
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    code, err = run("dpo", data, tmp_path / "out", capsys)
    line = one_line_error("dpo", err)
    assert code == 2 and f"{data}: row 5 (line 6), column 'chosen'" in line and "found None" in line
    assert not (tmp_path / "out").exists()


def test_a_null_completion_is_refused(tmp_path, capsys):
    rows = [GOOD["sft"]] * 7 + [{**GOOD["sft"], "completion": None}]
    data = write_jsonl(tmp_path / "sft.jsonl", rows)
    code, err = run("sft", data, tmp_path / "out", capsys)
    assert code == 2 and "row 7 (line 8), column 'completion'" in one_line_error("sft", err)


def test_a_cut_off_jsonl_file_names_its_line(tmp_path, capsys):
    data = write_jsonl(tmp_path / "broken.jsonl", [GOOD["dpo"]] * 3, raw_lines=[b'{"prompt": "a", "chosen": "b", "rej'])
    code, err = run("dpo", data, tmp_path / "out", capsys)
    line = one_line_error("dpo", err)
    assert code == 2 and f"dataset file {data} cannot be read: line 4 is not valid JSON" in line


def test_degenerate_pairs_train_with_one_warning_that_counts_them(tmp_path, capsys):
    data = write_jsonl(tmp_path / "same.jsonl", [{"prompt": "what is 1 plus 2?", "chosen": "", "rejected": ""}] * 8)
    with pytest.warns(
        DegenerateDataWarning,
        match=r"train_dataset \(8 rows\): 8 have chosen identical to rejected.*"
        r"8 have an empty completion",
    ):
        code, _ = run("dpo", data, tmp_path / "out", capsys)
    assert code == 0


def test_prompts_truncated_away_are_counted(tmp_path, capsys):
    rows = [GOOD["sft"]] * 6 + [{**GOOD["sft"], "prompt": "what is 1 plus 2? " * 40}] * 2
    data = write_jsonl(tmp_path / "long.jsonl", rows)
    with pytest.warns(DegenerateDataWarning, match=r"2 were dropped: the prompt alone fills max_length \(64\)"):
        code, _ = run("sft", data, tmp_path / "out", capsys)
    assert code == 0


def test_a_raising_reward_stops_with_one_line_naming_it_the_step_and_the_checkpoint(tmp_path):
    """Run as a user runs it: the reason is the terminal's last line (no progress bar redrawn after it)."""
    (tmp_path / "myrew.py").write_text("def boom(completions, **kwargs):\n    raise KeyError('no such column')\n")
    result = run_infopo(
        [
            "grpo",
            "--config",
            RECIPES / "grpo_tiny.yaml",
            "--reward_funcs",
            "myrew.boom",
            "--output_dir",
            tmp_path / "out",
            "--max_steps",
            "2",
            "--synthetic_rows",
            "8",
        ],
        cwd=tmp_path,
    )
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and "Traceback" in result.stderr  # the cause's traceback, in the log above
    assert re.fullmatch(
        r"infopo grpo: error: reward function 'boom' raised KeyError: 'no such column' at step 0; "
        r"no complete checkpoint in .*out to resume from",
        last,
    )


def test_other_unreadable_files(tmp_path):
    (tmp_path / "quoted.csv").write_text('prompt,completion\n"a,b\nc,d\n')
    (tmp_path / "bad.parquet").write_bytes(b"nope")
    (tmp_path / "bytes.jsonl").write_bytes(b'{"prompt": "a\xff"}\n')
    for name, message in [
        ("quoted.csv", "line 3: unexpected end of data"),
        ("bad.parquet", "not a readable parquet file"),
        ("bytes.jsonl", "line 1 is not UTF-8 (byte 13: b'\\xff')"),
    ]:
        with pytest.raises(InfopoConfigError, match=re.escape(message)):
            load_named_dataset(str(tmp_path / name))


def test_row_checks():
    assert is_messages([{"role": "user", "content": "hi"}]) is None
    assert is_messages([{"role": "user"}]) == "message 0 (user) without content (content: None (null or missing))"
    assert is_messages([{"content": "hi"}]).startswith("message 0 without a role")
    assert is_text_or_messages(3) == "a number (3)" and is_text_or_messages("") is None
    assert is_answer(" ") == "a blank string" and is_answer(["a", ""]).startswith("a list of 2")
    assert describe([1, "a"]) == "a list of 2 (int, str)"
    with pytest.raises(
        InfopoConfigError, match=r"data: row 1, column 'prompt': expected a string or a list of messages"
    ):
        check_rows({"prompt": ["ok", None]}, {"prompt": is_text_or_messages}, "data")


# ---- property tests: randomly broken files, every command --------------------------------------------------------

BROKEN = st.sampled_from(
    [
        None,
        0,
        3.5,
        True,
        [1, 2],
        ["a", "b"],
        {"x": 1},
        "",
        "   ",
        "x" * 3000,
        [{"role": "user"}],
        [{"content": "hi"}],
        "MISSING",
        b"\xff\xfe",
    ]
)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(list(GOOD)), row=st.integers(0, 7), column=st.integers(0, 2), value=BROKEN)
@example(command="grpo", row=4, column=0, value="")  # an empty prompt: GRPO had no token to generate from
def test_randomly_broken_rows_train_or_exit_2_with_one_line(
    tmp_path_factory, tiny_qwen2, capsys, command, row, column, value
):
    folder = tmp_path_factory.mktemp("broken")
    good = GOOD[command]
    key = list(good)[column % len(good)]
    rows, raw = [dict(good) for _ in range(8)], []
    if value == "MISSING":
        del rows[row][key]
    elif isinstance(value, bytes):  # non-UTF-8 bytes in the file itself
        raw = [b'{"' + key.encode() + b'": "' + value + b'"}\n']
    else:
        rows[row][key] = value
    data = write_jsonl(folder / "data.jsonl", rows, raw)
    extra = ["--model_name_or_path", tiny_qwen2] if command != "igpo" else []
    code, err = run(command, data, folder / "out", capsys, *extra)
    assert code in (0, 2), err[-2000:]
    if code == 2:
        assert str(data) in one_line_error(command, err)

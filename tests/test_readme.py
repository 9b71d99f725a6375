"""The README's examples run as written: both Python API examples, and the bad-input session of the command line
(each command's last line of output is the line the README shows)."""

import json
import re
import shlex

import pytest
from conftest import REPO
from huggingface_hub import ModelCard

from infopo.cli import main

pytestmark = pytest.mark.slow

README = (REPO / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(title)
    return README[start : README.index("\n## ", start + len(title))]


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", section("## Python API"), flags=re.S)


def test_python_api_examples_run(tmp_path, monkeypatch, tiny_qwen2):
    dpo, igpo = python_examples()
    monkeypatch.chdir(tmp_path)
    exec(compile(dpo, "README.md", "exec"), {})
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert "## KappaTune selection" in card.text and "| train_loss |" in card.text
    namespace = {}
    exec(compile(igpo, "README.md", "exec"), namespace)
    logged = {key for entry in namespace["trainer"].state.log_history for key in entry}
    assert {"igpo/turns", "igpo/outcome", "igpo/format_error_frac"} <= logged
    assert "- Base model: `tiny:llama-1m`" in (tmp_path / "agent" / "README.md").read_text()  # the name, not a path


def bad_input_session() -> list[tuple[str, str]]:
    """(command, the line it prints) pairs of the README's bad-input block."""
    block = re.search(r"```text\n(.*?)```", section("### Bad input"), flags=re.S).group(1)
    lines = block.strip().splitlines()
    return [(command[2:], expected) for command, expected in zip(lines[::2], lines[1::2], strict=True)]


def write_session_files(folder):
    """The files the README's session describes."""
    pairs = [{"prompt": f"What is {i}+1?", "chosen": str(i + 1), "rejected": str(i + 2)} for i in range(8)]
    lines = [json.dumps(row) + "\n" for row in pairs]
    (folder / "pairs.jsonl").write_text(
        "".join(lines[:5] + [json.dumps({**pairs[5], "chosen": None}) + "\n"] + lines[6:])
    )
    (folder / "broken.jsonl").write_text("".join(lines)[:-20])
    (folder / "nocol.jsonl").write_text(
        "".join(json.dumps({"prompt": r["prompt"], "chosen": r["chosen"]}) + "\n" for r in pairs)
    )
    (folder / "my.yaml").write_text("model_name_or_path: tiny:qwen2\nlerning_rate: 1e-3\n")
    (folder / "myrew.py").write_text("def boom(completions, **kwargs):\n    raise ValueError('boom')\n")
    (folder / "recipes").symlink_to(REPO / "recipes")


@pytest.mark.parametrize("command,expected", bad_input_session(), ids=lambda value: value[:60])
def test_bad_input_session(command, expected, tmp_path, monkeypatch, capsys, tiny_qwen2):
    write_session_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = shlex.split(command)
    assert argv[0] == "infopo"
    code = main(argv[1:])
    assert code == (1 if "raised" in expected else 2)
    assert capsys.readouterr().err.strip().splitlines()[-1] == expected

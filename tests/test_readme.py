"""The README's and the documentation's examples run as written: the README's quick start (also on the docs' getting
started page), the examples of the Python API page, and the bad-input session of the reliability page (each
command's last line of output is the line the page shows)."""

import json
import re
import shlex

import pytest
from conftest import REPO
from huggingface_hub import ModelCard

from infopo.cli import main

pytestmark = pytest.mark.slow

README = (REPO / "README.md").read_text()
DOCS = REPO / "docs"


def section(text: str, title: str) -> str:
    """The section of ``text`` under the heading ``title`` (e.g. ``## Bad input``), up to the next heading of the
    same or a higher level, or the end."""
    start = text.index(title + "\n")
    level = len(title) - len(title.lstrip("#"))
    match = re.compile(rf"\n#{{1,{level}}} ").search(text, start + len(title))
    return text[start : match.start() if match else len(text)]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_quick_start_runs(tmp_path, monkeypatch, tiny_qwen2):
    (quick_start,) = python_blocks(section(README, "## Quick start"))
    assert python_blocks(section((DOCS / "index.md").read_text(), "## Quick start")) == [quick_start]
    monkeypatch.chdir(tmp_path)
    exec(compile(quick_start, "README.md", "exec"), {})
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert "## KappaTune selection" in card.text and "| train_loss |" in card.text


def test_python_api_examples_run(tmp_path, monkeypatch, tiny_qwen2):
    page = (DOCS / "guides" / "python-api.md").read_text()
    dpo, igpo = python_blocks(page.split("## Your own search environment")[0])
    monkeypatch.chdir(tmp_path)
    exec(compile(dpo, "docs/guides/python-api.md", "exec"), {})
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert "## KappaTune selection" in card.text and "| train_loss |" in card.text
    namespace = {}
    exec(compile(igpo, "docs/guides/python-api.md", "exec"), namespace)
    logged = {key for entry in namespace["trainer"].state.log_history for key in entry}
    assert {"igpo/turns", "igpo/outcome", "igpo/format_error_frac"} <= logged
    assert "- Base model: `tiny:llama-1m`" in (tmp_path / "agent" / "README.md").read_text()  # the name, not a path


def bad_input_session() -> list[tuple[str, str]]:
    """(command, the line it prints) pairs of the reliability page's bad-input block."""
    page = (DOCS / "guides" / "reliability.md").read_text()
    block = re.search(r"```text\n(.*?)```", section(page, "## Bad input"), flags=re.S).group(1)
    lines = block.strip().splitlines()
    return [(command[2:], expected) for command, expected in zip(lines[::2], lines[1::2], strict=True)]


def write_session_files(folder):
    """The files the session describes."""
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


def test_the_python_api_pages_environment_example_runs():
    """The override contract's example: ``observe`` overridden, the turn's searches still one retriever call."""
    (example,) = python_blocks(
        section((DOCS / "guides" / "python-api.md").read_text(), "## Your own search environment")
    )
    exec(compile(example, "python-api.md", "exec"), {})

"""The README's Python example runs as written."""

import re

import pytest
from huggingface_hub import ModelCard

from conftest import REPO

pytestmark = pytest.mark.slow


def test_python_api_example_runs(tmp_path, monkeypatch, tiny_qwen2):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert "## KappaTune selection" in card.text and "| train_loss |" in card.text

"""No secret in outputs, no remote code unless asked, no pickles read."""

import os
import re

import pytest
from conftest import RECIPES, REPO, run_infopo

from infopo.cli.grpo import GRPO
from infopo.cli.parsing import parse_recipe

TOKEN = "hf_infopoTestSecret0123456789abcdefXYZ"


@pytest.mark.slow
def test_a_set_hub_token_never_reaches_logs_cards_or_files(tmp_path, monkeypatch, tiny_qwen2):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", TOKEN)
    out = tmp_path / "run"
    result = run_infopo(
        [
            "grpo",
            "--config",
            RECIPES / "grpo_tiny.yaml",
            "--output_dir",
            out,
            "--synthetic_rows",
            "8",
            "--hub_token",
            TOKEN,
            "--save_strategy",
            "steps",
            "--save_steps",
            "1",
            "--max_steps",
            "1",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert TOKEN not in result.stdout and TOKEN not in result.stderr
    files = [path for path in out.rglob("*") if path.is_file()]
    assert any(path.name == "README.md" for path in files) and any("checkpoint-1" in str(path) for path in files)
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path


def test_pickled_configs_drop_the_token_and_copies_keep_it(tmp_path):
    import copy
    import pickle

    from infopo import InfopoDPOConfig

    config = InfopoDPOConfig(output_dir=str(tmp_path), hub_token=TOKEN, use_cpu=True, bf16=False, report_to="none")
    assert TOKEN.encode() not in pickle.dumps(config)
    assert pickle.loads(pickle.dumps(config)).hub_token is None
    assert copy.deepcopy(config).hub_token == TOKEN and config.hub_token == TOKEN


def test_remote_code_is_off_unless_asked():
    (_, training, _), _ = parse_recipe(GRPO.dataclass_types, ["--config", str(RECIPES / "grpo_tiny.yaml")])
    assert training.trust_remote_code is False
    for recipe in RECIPES.glob("*.yaml"):
        assert "trust_remote_code: true" not in recipe.read_text()


def test_no_code_path_unpickles_files():
    """torch.load only with weights_only=True; no pickle module use; YAML only through safe_load."""
    sources = [p for p in (REPO / "infopo").rglob("*.py")] + [p for p in (REPO / "scripts").rglob("*.py")]
    for path in sources:
        text = path.read_text()
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path}: {call}"
        assert not re.search(r"^\s*import pickle|^\s*from pickle|pickle\.load", text, flags=re.M), path
        assert not re.search(r"yaml\.load\(|yaml\.unsafe_load", text), path
    assert os.environ.get("HF_HUB_OFFLINE") == "1"

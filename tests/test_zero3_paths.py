"""GAIN-RL's hidden-state hook and DID's entropy sampling on ZeRO-3 partitioned weights (deepspeed.initialize, gloo):
the hook sees the unpartitioned model's hidden states, and sampling with rank-dependent lengths completes."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import RECIPES, REPO
from transformers import AutoModelForCausalLM, AutoTokenizer

from infopo.gainrl.scoring import hooked_module
from infopo.gainrl.signals import angle_concentration
from infopo.scoring import completion_logps

pytestmark = pytest.mark.slow


def test_gainrl_hook_and_did_sampling_under_zero3(tmp_path, tiny_qwen2):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        str(REPO / "tests" / "helpers" / "zero3_paths.py"),
        str(RECIPES / "accelerate" / "zero3.yaml"),
        tiny_qwen2,
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(rank["zero3"] for rank in ranks)
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    captured = []
    hooked_module(model, -1).register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    ids = tokenizer("what is 3 plus 4? the answer is 7.", return_tensors="pt")
    with torch.no_grad():
        model(**ids)
    expected = angle_concentration(captured[0], ids["attention_mask"]).item()
    assert ranks[0]["angle"] == pytest.approx(expected, abs=1e-5) and ranks[1]["angle"] == pytest.approx(
        expected, abs=1e-5
    )
    assert ranks[0]["width"] != ranks[1]["width"]  # unequal generation lengths, and no hang
    prompt_length = len(tokenizer("what is 3 plus 4?")["input_ids"])
    for rank in ranks:
        sequences, mask = torch.tensor(rank["sequences"]), torch.tensor(rank["mask"])
        want = completion_logps(model, sequences, prompt_length, mask)
        assert rank["logps"] == pytest.approx(want.tolist(), abs=1e-4)

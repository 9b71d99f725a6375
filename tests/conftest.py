"""Offline, isolated test environment: no Hub access, tiny models cached in a per-session folder."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run (a random draw makes a run's outcome depend on luck: a CI flake);
# cases a draw once found are pinned with @example.
settings.register_profile("infopo", derandomize=True, database=None)
settings.load_profile("infopo")

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"


@pytest.fixture(scope="session", autouse=True)
def infopo_cache(tmp_path_factory):
    """Every ``tiny:`` model of the session is built into a fresh cache folder, never the user's."""
    cache = tmp_path_factory.mktemp("infopo-cache")
    os.environ["INFOPO_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_qwen2(infopo_cache):
    from infopo.models import resolve_model

    return resolve_model("tiny:qwen2")


@pytest.fixture(scope="session")
def warm_model(tmp_path_factory, tiny_qwen2):
    """The tiny model after 100 SFT steps on search demonstrations: its sampled rollouts search and often answer with
    the tags (IGPO's tests start from it; tests/igpo/test_warm_start_premise.py checks that under both CPU kernel
    paths)."""
    from helpers.warm_model import train_warm_model

    return train_warm_model(str(tmp_path_factory.mktemp("warm")), tiny_qwen2)


@pytest.fixture(scope="session")
def smollm2(infopo_cache):
    """``smollm2:135m-instruct``, converted once for the session by two processes at once: one converts, the other
    waits on the lock; both must name the same complete folder (checked in tests/test_smollm2.py)."""
    import subprocess

    code = "from infopo.models import resolve_model; print(resolve_model('smollm2:135m-instruct'))"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=900) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    paths = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(paths) == 1, paths
    return paths.pop()


@pytest.fixture(scope="session")
def smollm2_tokenizer(smollm2):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2)


@pytest.fixture(scope="session")
def user_model(tmp_path_factory, smollm2_tokenizer):
    """A user's own small model: a random 2-layer Llama with SmolLM2's tokenizer and chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("user-model")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(smollm2_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        bos_token_id=smollm2_tokenizer.bos_token_id,
        eos_token_id=smollm2_tokenizer.eos_token_id,
        pad_token_id=smollm2_tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    smollm2_tokenizer.save_pretrained(folder)
    return str(folder)


def run_infopo(args, cwd, *, launcher=(sys.executable,), timeout=300):
    """Run ``<launcher> -m infopo <args>`` in a subprocess; ``launcher`` may be torchrun or accelerate launch."""
    import subprocess

    command = [*launcher, "-m", "infopo", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())

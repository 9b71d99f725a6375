import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from infopo import vocab
from infopo.models import resolve_model
from infopo.tiny import build_tiny_model, build_tokenizer, fingerprint, save_tiny


def test_tokenizer_round_trips_text_and_keeps_vocabulary_words_whole():
    tokenizer = build_tokenizer()
    text = "what is 13 plus 4? the answer is 17."
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert "what" in tokens and "Ġplus" in tokens and "Ġanswer" in tokens
    assert tokens.count("1") == 2  # digits are single tokens


def test_tokenizer_special_tokens():
    tokenizer = build_tokenizer()
    assert tokenizer.pad_token == vocab.PAD_TOKEN and tokenizer.eos_token == vocab.EOS_TOKEN
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert len(tokenizer(vocab.BOS_TOKEN, add_special_tokens=False)["input_ids"]) == 1


def test_chat_template_marks_assistant_turns_only():
    tokenizer = build_tokenizer()
    messages = [{"role": "user", "content": "what is 2 plus 3?"}, {"role": "assistant", "content": "5."}]
    out = tokenizer.apply_chat_template(messages, return_assistant_tokens_mask=True, return_dict=True)
    marked = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(marked) == "5.<|im_end|>"
    prompt = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_tokenizer_build_is_deterministic():
    assert build_tokenizer().backend_tokenizer.to_str() == build_tokenizer().backend_tokenizer.to_str()


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = build_tiny_model(seed=3), build_tiny_model(seed=3), build_tiny_model(seed=4)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_build_does_not_disturb_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(seed=0)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("arch,model_type", [("qwen2", "qwen2"), ("llama", "llama")])
def test_saved_folder_loads_with_auto_classes(tmp_path, arch, model_type):
    path = save_tiny(tmp_path / arch, arch=arch, seed=1)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == model_type
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    ids = tokenizer("what is 1 plus 1?", return_tensors="pt")
    logits = model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], len(tokenizer))
    reference = build_tiny_model(arch, seed=1)
    assert torch.equal(model.state_dict()["lm_head.weight"], reference.state_dict()["lm_head.weight"])
    assert (path / "model.safetensors").is_file()


def test_size_overrides_change_config_and_fingerprint():
    model = build_tiny_model("llama", hidden_size=32, num_hidden_layers=1)
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 1
    assert fingerprint("llama") != fingerprint("llama", hidden_size=32)
    assert fingerprint("qwen2", seed=0) != fingerprint("qwen2", seed=1)


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown tiny architecture 'gpt9'"):
        build_tiny_model("gpt9")


def test_presets_resolve_to_their_sizes_and_unknown_names_are_refused(infopo_cache):
    config = json.loads(Path(resolve_model("tiny:llama-1m"), "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("llama", 128, 4)
    with pytest.raises(ValueError, match="unknown tiny model 'tiny:gpt9'; choose one of tiny:qwen2, tiny:llama"):
        resolve_model("tiny:gpt9")


def test_resolve_model_builds_once_and_passes_other_names_through(infopo_cache):
    first = resolve_model("tiny:llama")
    stamp = Path(first, "model.safetensors").stat().st_mtime_ns
    assert resolve_model("tiny:llama") == first
    assert Path(first, "model.safetensors").stat().st_mtime_ns == stamp
    assert json.loads(Path(first, "config.json").read_text())["model_type"] == "llama"
    assert resolve_model("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"


def test_concurrent_resolution_yields_one_complete_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("INFOPO_CACHE", str(tmp_path))
    code = "from infopo.models import resolve_model; print(resolve_model('tiny:qwen2'))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    paths = {p.communicate(timeout=120)[0].strip().splitlines()[-1] for p in procs}
    assert len(paths) == 1
    entries = sorted(p.name for p in (tmp_path / "tiny").iterdir() if not p.name.endswith(".lock"))
    assert entries == [f"qwen2-{fingerprint('qwen2')}"]  # no half-written staging folders left behind


def test_tiny_command_builds_a_folder_or_the_cache(tmp_path, capsys):
    from infopo.cli import main

    assert main(["tiny", "--arch", "llama", "--seed", "2", "--output_dir", str(tmp_path / "t")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(tmp_path / "t")
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "t").config.model_type == "llama"
    assert main(["tiny"]) == 0
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]) == Path(resolve_model("tiny:qwen2"))
    with pytest.raises(SystemExit):
        main(["tiny", "--seed", "3"])  # a seed other than 0 needs its own folder
    assert "--seed needs --output_dir" in capsys.readouterr().err

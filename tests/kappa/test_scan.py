import json
import math

import pytest
import torch
from peft.helpers import KappaTuneSelector
from torch import nn

from infopo.kappa import condition_number, eligible_parameters, scan_condition_numbers
from infopo.kappa.scan import content_hash
from infopo.tiny import build_tiny_model


class TinyMoE(nn.Module):
    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.router = nn.Linear(6, 4, bias=True)
        self.experts_gate_up_proj = nn.Parameter(torch.randn(3, 8, 6, generator=generator))
        self.norm = nn.LayerNorm(6)
        self.embed = nn.Embedding(50000, 6)


def test_eligibility_rules():
    names = [name for name, _ in eligible_parameters(TinyMoE())]
    assert names == ["experts_gate_up_proj", "router.weight"]  # no bias, no norm, embedding above max_dim
    assert "embed.weight" in [name for name, _ in eligible_parameters(TinyMoE(), max_dim=60000)]


def test_moe_weight_gets_the_mean_kappa_of_its_experts():
    model = TinyMoE()
    kappas = scan_condition_numbers(model, progress=False)
    experts = model.experts_gate_up_proj.detach()
    assert kappas["experts_gate_up_proj"] == pytest.approx(sum(condition_number(e) for e in experts) / 3, rel=1e-12)
    assert kappas["router.weight"] == pytest.approx(condition_number(model.router.weight), rel=1e-12)


def test_tied_weights_are_scanned_once():
    model = build_tiny_model("qwen2", seed=0)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    kappas = scan_condition_numbers(model, progress=False)
    assert "model.embed_tokens.weight" in kappas and "lm_head.weight" not in kappas
    assert len(kappas) == 1 + 7 * model.config.num_hidden_layers


def test_scan_agrees_with_peft_selector_and_is_in_model_order():
    model = build_tiny_model("llama", seed=1, num_hidden_layers=3)
    ours = scan_condition_numbers(model, progress=False)
    peft = KappaTuneSelector(model, show_progress=False)
    peft._compute_kappas()
    theirs = {
        ("model.embed_tokens.weight" if module == "lm_head" else module + ".weight"): kappa  # lm_head is tied
        for module, kappa in peft._condition_numbers.items()
    }
    assert set(theirs) == set(ours)
    for name, kappa in theirs.items():
        assert ours[name] == pytest.approx(kappa, rel=2e-7 * kappa + 2e-5)  # within a float32 SVD's error
    assert sorted(ours, key=ours.get) == sorted(theirs, key=theirs.get)
    assert list(ours) == [name for name, _ in eligible_parameters(model)]


def test_cache_skips_unchanged_weights_and_recomputes_changed_ones(tmp_path, monkeypatch):
    model = build_tiny_model("qwen2", seed=2)
    cache = tmp_path / "kappa.json"
    first = scan_condition_numbers(model, cache=cache, progress=False)
    stored = json.loads(cache.read_text())["entries"]
    assert set(stored) == set(first) and all("hash" in e and "shape" in e for e in stored.values())

    computed = []
    import infopo.kappa.scan as scan_module

    original = scan_module._kappas_of_group
    monkeypatch.setattr(scan_module, "_kappas_of_group", lambda ts, eps: computed.extend(ts) or original(ts, eps))
    assert scan_condition_numbers(model, cache=cache, progress=False) == first
    assert computed == []  # every value came from the cache

    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight.mul_(torch.linspace(1, 3, 64).unsqueeze(1))
    second = scan_condition_numbers(model, cache=cache, progress=False)
    assert len(computed) == 1
    changed = "model.layers.0.self_attn.q_proj.weight"
    assert second[changed] != first[changed]
    assert second[changed] == pytest.approx(condition_number(model.model.layers[0].self_attn.q_proj.weight), rel=1e-12)
    assert {k: v for k, v in second.items() if k != changed} == {k: v for k, v in first.items() if k != changed}


def test_content_hash_sees_dtype_and_values():
    weight = torch.ones(3, 3)
    assert content_hash(weight) == content_hash(weight.clone())
    assert content_hash(weight) != content_hash(weight.double())
    assert content_hash(weight) != content_hash(weight + 1e-6)


def test_rank_deficient_tensor_is_inf_in_scan_and_cache(tmp_path):
    model = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.ones(4, 4))
    cache = tmp_path / "c.json"
    assert scan_condition_numbers(model, cache=cache, progress=False) == {"weight": math.inf}
    assert json.loads(cache.read_text())["entries"]["weight"]["kappa"] == "inf"
    assert scan_condition_numbers(model, cache=cache, progress=False) == {"weight": math.inf}


def test_quantized_weights_are_refused_with_a_way_out():
    from infopo.errors import InfopoConfigError

    model = nn.Linear(4, 4)
    model.weight = nn.Parameter(torch.zeros(4, 4, dtype=torch.int8), requires_grad=False)
    with pytest.raises(InfopoConfigError, match="cannot scan quantized weights \\(weight: torch.int8\\).*kappa_unfrozen_yaml"):
        scan_condition_numbers(model, progress=False)

"""The packed probe under an attention kernel that ignores the 4-D mask (as flash attention does), its token budget,
and the trainer's glue: such a model trains (no refusal) and probes the values of an SDPA model, with the authors'
answer copy for their forcing prefix."""

import contextlib
from types import SimpleNamespace

import pytest
import torch
from transformers import AttentionInterface, AutoModelForCausalLM
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from infopo import IGPOConfig, IGPOTrainer
from infopo.data.lookup import lookup_questions
from infopo.errors import InfopoConfigError
from infopo.igpo import probe, probe_attention
from infopo.igpo.probe import packed_answer_logps, packed_size, probe_chunks
from infopo.igpo.probe_attention import mask_honouring_attention, probe_kernel
from infopo.igpo.probe_context import AUTHORS_FORCING_PREFIX, authors_answer_tokens
from infopo.igpo.rewards import probe_values
from infopo.tiny import build_tiny_model

CAUSAL_ONLY = "infopo_test_causal_only"


def _causal_only(module, query, key, value, attention_mask, **kwargs):
    """Flash attention's behaviour on CPU: causal over the whole row, whatever mask it is given."""
    kwargs.pop("is_causal", None)
    return sdpa_attention_forward(module, query, key, value, None, is_causal=True, **kwargs)


AttentionInterface.register(CAUSAL_ONLY, _causal_only)


def _rollouts(seed=0):
    generator = torch.Generator().manual_seed(seed)
    trajectories = [torch.randint(5, 500, (n,), generator=generator).tolist() for n in (40, 25, 60, 33)]
    boundaries = [[6, 18, 30], [9], [5, 20, 33, 41, 55], [4, 30]]
    answers = [[7, 8, 9, 10], [11, 12], [13, 14, 15], [16, 17, 18, 19, 20]]
    skips = [1, 0, 2, 3]
    return trajectories, boundaries, answers, skips


def _max_difference(left, right):
    return max((a - b).abs().max().item() for a, b in zip(left, right, strict=True))


def _model(arch, attention):
    model = build_tiny_model(arch, seed=1).eval()
    model.set_attn_implementation(attention)
    return model


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_a_kernel_that_ignores_the_mask_now_gives_the_sdpa_values(arch, monkeypatch):
    data = _rollouts()
    reference = packed_answer_logps(_model(arch, "sdpa"), *data, chunk_size=2)
    model = _model(arch, CAUSAL_ONLY)
    fixed = packed_answer_logps(model, *data, chunk_size=2)
    assert model.config._attn_implementation == CAUSAL_ONLY  # switched for the probe's forward only
    assert _max_difference(fixed, reference) < 1e-5
    with monkeypatch.context() as patch:  # the probe before: the model's own kernel
        patch.setattr(probe, "mask_honouring_attention", lambda model: contextlib.nullcontext())
        old = packed_answer_logps(model, *data, chunk_size=2)
    assert _max_difference(old, reference) > 1e-2
    assert old[0][0].tolist() != pytest.approx(reference[0][0].tolist(), abs=1e-3)  # copy 0 saw the whole trajectory


def test_the_eager_fallback_gives_the_same_values(monkeypatch):
    data = _rollouts(seed=2)
    reference = packed_answer_logps(_model("llama", "sdpa"), *data)
    monkeypatch.setattr(probe_attention, "probe_kernel", lambda model: "eager")  # additive mask, chosen at forward time
    model = _model("llama", CAUSAL_ONLY)
    assert _max_difference(packed_answer_logps(model, *data), reference) < 1e-5


def test_the_kernel_comes_back_when_the_forward_raises():
    model = _model("qwen2", CAUSAL_ONLY)
    seen = []
    model.get_decoder().register_forward_pre_hook(lambda module, args: seen.append(model.config._attn_implementation))
    with pytest.raises(IndexError):
        packed_answer_logps(model, [[10**6, 1, 2]], [[1]], [[3, 4]], [1])  # a token id past the vocabulary
    assert seen == ["sdpa"] and model.config._attn_implementation == CAUSAL_ONLY


def test_kernels_that_honour_the_mask_are_left_alone_and_soft_capping_falls_back_to_eager():
    for attention in ("sdpa", "eager"):
        model = _model("llama", attention)
        with mask_honouring_attention(model):
            assert model.config._attn_implementation == attention
    model = _model("llama", CAUSAL_ONLY)
    assert probe_kernel(model) == "sdpa"
    capped = SimpleNamespace(_supports_sdpa=True, config=SimpleNamespace(attn_logit_softcapping=50.0))
    assert probe_kernel(capped) == "eager"
    assert probe_kernel(SimpleNamespace(_supports_sdpa=False, config=SimpleNamespace())) == "eager"


def test_chunks_fill_the_token_budget_longest_first():
    sizes = [10, 30, 20, 5, 12, 50]
    chunks = probe_chunks(sizes, token_budget=40)
    assert sorted(index for chunk in chunks for index in chunk) == list(range(len(sizes)))
    for chunk in chunks:
        widest = max(sizes[i] for i in chunk)
        assert len(chunk) * widest <= 40 or len(chunk) == 1  # a rollout over the budget goes alone
        assert sizes[chunk[0]] == widest
    assert chunks[0] == [5] and [2, 4] in chunks  # 50 > 40 alone; 20 and 12 fill 2 x 20
    assert probe_chunks(sizes, token_budget=10**6) == [sorted(range(6), key=lambda i: -sizes[i])]
    with pytest.raises(InfopoConfigError, match="probe_token_budget must be at least 1"):
        probe_chunks(sizes, token_budget=0)


def test_a_token_budget_gives_the_values_of_one_forward_and_pads_to_num_forwards():
    data = _rollouts(seed=3)
    model = _model("qwen2", "sdpa")
    whole = packed_answer_logps(model, *data, chunk_size=len(data[0]))
    sizes = [packed_size(*rollout) for rollout in zip(*data[:3], strict=True)]
    budget = 2 * sorted(sizes)[1]  # the two shortest share a forward, the others go alone
    chunks = probe_chunks(sizes, budget)
    assert 1 < len(chunks) < len(sizes)
    calls = []
    model.get_decoder().register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(kwargs["input_ids"].shape), with_kwargs=True
    )
    split = packed_answer_logps(model, *data, token_budget=budget, num_forwards=len(chunks) + 2)
    assert len(calls) == len(chunks) + 2 and calls[0] == calls[1] == (1, 1)  # two dummy forwards for ZeRO-3
    assert [tuple(v.shape) for v in split] == [tuple(v.shape) for v in whole]  # back in the rollouts' order
    assert _max_difference(split, whole) < 1e-5


CPU = {
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "report_to": "none",
    "save_strategy": "no",
    "disable_tqdm": True,
}


def test_a_mask_ignoring_kernel_trains_and_the_probe_is_the_authors_with_sdpa_values(tmp_path, tiny_qwen2):
    args = IGPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_steps=1,
        model_init_kwargs={"attn_implementation": CAUSAL_ONLY},
        probe_token_budget=250,
        answer_forcing_prefix=AUTHORS_FORCING_PREFIX,
        info_gain_kind="log_prob",
        **CPU,
    )
    trainer = IGPOTrainer(model=tiny_qwen2, args=args, train_dataset=lookup_questions(4))  # no flash refusal
    assert trainer.model.config._attn_implementation == CAUSAL_ONLY
    tokenizer = trainer.processing_class
    generator = torch.Generator().manual_seed(0)
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": q}], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        for q in ("kaba?", "zolo?")
    ]
    completions = [torch.randint(5, 400, (n,), generator=generator).tolist() for n in (30, 45)]
    spans = [[(0, 8), (14, 22), (26, 30)], [(0, 10), (20, 45)]]
    trainer._rollouts = {"prompt_ids": prompts, "completion_ids": completions, "spans": spans}
    trainer._inputs = [{"answer": "gozeri"}, {"answer": ["matiza", "x"]}]
    forwards = []
    trainer.model.get_decoder().register_forward_pre_hook(
        lambda module, args, kwargs: forwards.append(kwargs["input_ids"].numel()), with_kwargs=True
    )
    probes = trainer._probe([0, 1])
    assert len(forwards) == 2 and max(forwards) <= 250  # 131 + 116 packed tokens: 2 x 131 does not fit 250
    sdpa = AutoModelForCausalLM.from_pretrained(tiny_qwen2, attn_implementation="sdpa").eval()
    for index, answer in enumerate(["gozeri", "matiza"]):
        ids, first = authors_answer_tokens(tokenizer, AUTHORS_FORCING_PREFIX, answer)
        boundaries = [len(prompts[index])] + [len(prompts[index]) + start for start, _ in spans[index][1:]]
        (logps,) = packed_answer_logps(sdpa, [prompts[index] + completions[index]], [boundaries], [ids], [first])
        want = probe_values(logps, torch.ones_like(logps), args.info_gain_kind)
        assert probes[index].tolist() == pytest.approx(want.tolist(), abs=1e-5)
    assert trainer.model.config._attn_implementation == CAUSAL_ONLY


def test_bad_probe_settings_are_refused_before_training(tmp_path, tiny_qwen2):
    for fields, message in (
        ({"probe_context": "both"}, "probe_context must be one of auto, authors, plain"),
        ({"probe_token_budget": 0}, "probe_token_budget must be at least 1"),
    ):
        with pytest.raises(ValueError, match=message):  # the config itself refuses them
            IGPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4, **fields, **CPU)
        args = IGPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4, **CPU)
        for name, value in fields.items():  # and the trainer, for a config changed after construction
            setattr(args, name, value)
        with pytest.raises(InfopoConfigError, match=message):
            IGPOTrainer(model=tiny_qwen2, args=args, train_dataset=lookup_questions(4))

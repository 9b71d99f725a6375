import json

import pytest
import torch
from conftest import run_infopo
from transformers import AutoModelForCausalLM, AutoTokenizer

from infopo.errors import InfopoConfigError
from infopo.gainrl.scoring import (
    hooked_module,
    prompt_token_masks,
    prompts_fingerprint,
    ranks_by_score,
    score_prompts,
    spearman,
)
from infopo.gainrl.signals import prompt_angle_score

PROMPTS = ["what is 3 plus 4?", "compute 12 times 7 so the answer is", "reverse cat dog"]
MESSAGES = [[{"role": "system", "content": "answer with a number"}, {"role": "user", "content": "what is 3 plus 4?"}]]


@pytest.fixture(scope="module")
def tiny(tiny_qwen2):
    return AutoModelForCausalLM.from_pretrained(tiny_qwen2).eval(), AutoTokenizer.from_pretrained(tiny_qwen2)


def test_question_tokens_come_from_the_chat_template(tiny):
    _, tokenizer = tiny
    ids, is_question = prompt_token_masks(tokenizer, MESSAGES[0])
    question = tokenizer.decode([t for t, q in zip(ids, is_question, strict=True) if q])
    template = tokenizer.decode([t for t, q in zip(ids, is_question, strict=True) if not q])
    assert question.strip() == "what is 3 plus 4?"
    assert "answer with a number" in template and "<|im_start|>assistant" in template
    assert (
        ids
        == tokenizer.apply_chat_template(MESSAGES[0], add_generation_prompt=True, tokenize=True, return_dict=True)[
            "input_ids"
        ]
    )
    plain_ids, plain_mask = prompt_token_masks(tokenizer, PROMPTS[0])
    assert all(plain_mask) and plain_ids == tokenizer(PROMPTS[0], add_special_tokens=False)["input_ids"]


@pytest.mark.slow
@pytest.mark.parametrize("question", ["what is 3 plus 4?", " what is 3 plus 4? ", "\nwhat is 3 plus 4?\n", "Paris?"])
def test_question_and_template_split_with_the_real_tokenizer(smollm2_tokenizer, question):
    """SmolLM2's template adds a default system prompt; the question's tokens are found by character offsets in the
    rendered prompt, the same ids TRL feeds, whatever spaces and newlines surround the question."""
    tokenizer = smollm2_tokenizer
    for prompt in (
        [{"role": "user", "content": question}],
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": question}],
    ):
        ids, is_question = prompt_token_masks(tokenizer, prompt)
        assert (
            ids
            == tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
        asked = tokenizer.decode([t for t, q in zip(ids, is_question, strict=True) if q])
        assert question.strip() in asked and len(asked) <= len(question) + 2  # at most a merged edge character
        template = tokenizer.decode([t for t, q in zip(ids, is_question, strict=True) if not q])
        assert "<|im_start|>assistant" in template and ("SmolLM" in template or "be brief" in template)
    plain_ids, plain_mask = prompt_token_masks(tokenizer, question)
    assert plain_ids == tokenizer(text=question)["input_ids"] and all(plain_mask)  # as TRL tokenizes a text prompt


def test_scores_equal_a_full_forward_and_no_later_layer_runs(tiny):
    model, tokenizer = tiny
    ran = []
    handles = [
        model.model.norm.register_forward_hook(lambda *a: ran.append("norm")),
        model.lm_head.register_forward_hook(lambda *a: ran.append("lm_head")),
    ]
    result = score_prompts(model, tokenizer, PROMPTS + MESSAGES, batch_size=2)
    for handle in handles:
        handle.remove()
    assert ran == []  # stopped at the hooked layer
    captured = []
    handle = hooked_module(model, -1).register_forward_pre_hook(lambda m, args: captured.append(args[0]))
    expected = []
    for prompt in PROMPTS + MESSAGES:
        ids, is_question = prompt_token_masks(tokenizer, prompt)
        captured.clear()
        with torch.no_grad():
            model(input_ids=torch.tensor([ids]))
        question = torch.tensor([is_question])
        expected.append(prompt_angle_score(captured[0], question, ~question).item())
    handle.remove()
    assert result["scores"] == pytest.approx(expected, abs=1e-5)  # batching and padding change nothing
    assert result["lengths"] == [len(prompt_token_masks(tokenizer, p)[0]) for p in PROMPTS + MESSAGES]


def test_layer_out_of_range_is_a_clear_error(tiny):
    model, tokenizer = tiny
    with pytest.raises(InfopoConfigError, match="out of range .* 2 decoder layers"):
        score_prompts(model, tokenizer, PROMPTS, layer=2)
    assert hooked_module(model, -2) is model.model.layers[0].mlp


def test_ranking_spearman_and_fingerprint():
    assert ranks_by_score([0.1, 0.9, 0.5, 0.9]) == [1, 3, 2, 0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0
    assert prompts_fingerprint(PROMPTS) != prompts_fingerprint(PROMPTS[::-1])


def test_score_command_writes_the_file(tmp_path, tiny_qwen2):
    out = tmp_path / "scores.json"
    result = run_infopo(
        [
            "gainrl",
            "score",
            "--model",
            tiny_qwen2,
            "--dataset",
            "synthetic:arithmetic_prompts",
            "--synthetic_rows",
            "24",
            "--out",
            out,
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Spearman(score, length)" in result.stdout
    saved = json.loads(out.read_text())
    assert len(saved["scores"]) == len(saved["lengths"]) == 24
    assert sorted(saved["ranking"]) == list(range(24))
    assert saved["scores"][saved["ranking"][0]] == max(saved["scores"])
    bad = run_infopo(
        ["gainrl", "score", "--model", tiny_qwen2, "--dataset", "synthetic:lookup_corpus", "--out", out], cwd=tmp_path
    )
    assert bad.returncode == 2 and "'prompt'" in bad.stderr
    bad = run_infopo(
        [
            "gainrl",
            "score",
            "--model",
            tiny_qwen2,
            "--dataset",
            "synthetic:arithmetic_prompts",
            "--out",
            out,
            "--layer",
            "9",
        ],
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "layer 9 is out of range" in bad.stderr

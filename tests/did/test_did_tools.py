"""The offline DID tools on the tiny model: analyze and make-pairs, through the command line."""

import json

import pytest
import torch
from datasets import Dataset

from infopo.cli import main
from infopo.did.analyze import fit_line
from infopo.scoring import encode_pair, pair_logps
from infopo.tiny import build_tokenizer


def test_fit_line_recovers_slope_and_r2():
    x = torch.linspace(-2, 2, 50)
    assert fit_line(x, 0.3 * x + 1.0) == pytest.approx({"slope": 0.3, "intercept": 1.0, "r2": 1.0}, abs=1e-6)
    noisy = fit_line(x, torch.randn(50, generator=torch.Generator().manual_seed(0)))
    assert noisy["r2"] < 0.2


def test_pair_logps_equal_the_full_sequence_score(tiny_qwen2):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2)
    tokenizer = build_tokenizer()
    prompt_ids, completion, rejected = encode_pair(
        tokenizer, "what is 2 plus 3?", " the answer is 5.", " the answer is 6."
    )
    assert (
        completion[-1] == rejected[-1] == tokenizer.eos_token_id
        and tokenizer.decode(completion[:-1]) == " the answer is 5."
    )
    ids = torch.tensor([prompt_ids + completion])
    token_logps = torch.log_softmax(model(ids).logits[0, :-1].double(), -1).gather(-1, ids[0, 1:, None]).squeeze(-1)
    expected = token_logps[len(prompt_ids) - 1 :].sum().item()
    assert pair_logps(model, prompt_ids, [completion]).item() == pytest.approx(expected, rel=1e-5)
    messages = [{"role": "user", "content": "what is 2 plus 3?"}]
    _, reply, _ = encode_pair(
        tokenizer, messages, [{"role": "assistant", "content": "5."}], [{"role": "assistant", "content": "6."}]
    )
    assert tokenizer.decode(reply).startswith("5.<|im_end|>")


@pytest.mark.slow
def test_pairs_split_as_dpo_splits_them_with_the_real_tokenizer(smollm2_tokenizer):
    """Prompt + completion in one tokenization, split where it leaves the prompt alone: a prompt's trailing space
    merges into the completion's first token (' the') and then belongs to the completion, as in TRL's DPO."""
    tokenizer = smollm2_tokenizer
    cases = [
        ("what is 2 plus 3?", " the answer is 5.", " the answer is 6."),
        ("what is 2 plus 3? ", "5", "6"),
        ("what is 2 plus 3? ", "the answer is 5", "the answer is 6"),
        ("Q:\n", "5\n", "6\n"),
    ]
    for prompt, chosen, rejected in cases:
        prompt_ids, chosen_ids, rejected_ids = encode_pair(tokenizer, prompt, chosen, rejected)
        assert prompt_ids + chosen_ids == tokenizer(text=prompt + chosen + tokenizer.eos_token)["input_ids"]
        assert prompt_ids + rejected_ids == tokenizer(text=prompt + rejected + tokenizer.eos_token)["input_ids"]
        assert prompt_ids == tokenizer(text=prompt)["input_ids"][: len(prompt_ids)]
    prompt_ids, chosen_ids, _ = encode_pair(tokenizer, *cases[2])
    assert len(prompt_ids) == len(tokenizer(text=cases[2][0])["input_ids"]) - 1  # the space went to ' the'
    assert tokenizer.convert_ids_to_tokens(chosen_ids)[0] == "Ġthe"
    messages = [{"role": "user", "content": "what is 2 plus 3?"}]
    prompt_ids, chosen_ids, _ = encode_pair(
        tokenizer, messages, [{"role": "assistant", "content": "5"}], [{"role": "assistant", "content": "6"}]
    )
    assert tokenizer.decode(prompt_ids).endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(chosen_ids) == "5<|im_end|>\n"


@pytest.mark.slow
def test_analyze_writes_summary_json_and_plot(tmp_path, tiny_qwen2):
    out = tmp_path / "analysis"
    args = [
        "did",
        "analyze",
        "--model",
        tiny_qwen2,
        "--ref",
        tiny_qwen2,
        "--dataset",
        "synthetic:arithmetic_preference",
        "--rows",
        "8",
        "--rejected_model",
        "tiny:llama",
        "--k",
        "4",
        "--entropy_prompts",
        "2",
        "--max_new_tokens",
        "4",
        "--output_dir",
        str(out),
    ]
    assert main(args) == 0
    result = json.loads((out / "did_analysis.json").read_text())
    summary = result["summary"]
    # The policy is the reference: equal margins, so every pair is (weakly) ordered and nothing is displaced.
    assert summary["pairs"] == 8 and summary["observable_ordered_frac"] == 1.0 and summary["displacement_frac"] == 0
    assert summary["mean_margin_policy"] == pytest.approx(summary["mean_margin_ref"])
    assert set(summary["power_law_fit"]) == {"slope", "intercept", "r2"} and summary["did_entropy_k"] == 4
    assert len(result["pairs"]) == 8 and len(result["prompt_entropies"]) == 2
    assert (out / "did_margins.png").read_bytes()[:4] == b"\x89PNG" and "| pairs | 8 |" in (
        out / "did_analysis.md"
    ).read_text()


@pytest.mark.slow
def test_make_pairs_builds_a_preference_set_from_reference_samples(tmp_path, tiny_qwen2, capsys):
    out = tmp_path / "pairs.jsonl"

    def args(k="4", beta="0.5"):
        return [
            "did",
            "make-pairs",
            "--ref",
            tiny_qwen2,
            "--target",
            "tiny:llama",
            "--beta",
            beta,
            "--prompts",
            "synthetic:arithmetic_prompts",
            "--rows",
            "3",
            "--k",
            k,
            "--max_new_tokens",
            "4",
            "--output",
            str(out),
        ]

    assert main(args()) == 0
    pairs = Dataset.from_json(str(out))
    assert pairs.column_names == ["prompt", "chosen", "rejected"] and len(pairs) == 3
    assert pairs["prompt"][0].startswith("what is")
    assert main(args(k="1")) == 2
    assert "--k must be at least 2" in capsys.readouterr().err
    assert main(args(beta="0")) == 2
    assert "--beta must be positive" in capsys.readouterr().err


def test_make_pairs_scores_a_cut_off_candidate_as_the_prefix_it_is(tiny_qwen2, monkeypatch):
    """A candidate that reached max_new_tokens without EOS was scored with an EOS appended, as if it had ended."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import infopo.did.analyze as analyze

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2)
    scored = []
    real = analyze.pair_logps

    def spy(model_, prompt_ids, completions):
        scored.extend(completions)
        return real(model_, prompt_ids, completions)

    monkeypatch.setattr(analyze, "pair_logps", spy)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match=r"rejected candidates reached max_new_tokens=2 without EOS") as caught:
        pairs = analyze.make_optimal_pairs(
            model, model, tokenizer, ["what is 2 plus 2?", "what is 3 times 3?"], beta=0.5, k=4, max_new_tokens=2
        )
    assert len(pairs) == 2 and len(scored) == 2 * 2 * 3  # two models x two prompts x K - 1 candidates
    eos = tokenizer.eos_token_id
    cut = [ids for ids in scored if ids[-1:] != [eos]]
    assert cut and all(len(ids) == 2 and eos not in ids for ids in cut)  # prefixes, no EOS appended
    assert all(ids.count(eos) == 1 and len(ids) <= 3 for ids in scored if ids[-1:] == [eos])
    assert f"{len(cut) // 2} of 6 rejected candidates" in str(caught[0].message)

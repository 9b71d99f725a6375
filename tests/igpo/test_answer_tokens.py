"""The probe's answer tokens, found by character offsets in one tokenization, on the tiny and the real tokenizer."""

import pytest

from infopo.errors import InfopoConfigError
from infopo.igpo import answer_tokens
from infopo.tiny import build_tokenizer

AUTHORS_PREFIX = "\nNow there's enough information to answer\n</think>\n<answer>\n"
PREFIXES = [" <answer> ", "<answer>", " <answer>", "<answer> ", "\n<answer>\n", "\n<answer>", AUTHORS_PREFIX]
ANSWERS = ["Paris", "Kubo Nita", "kubonita", "New York City", "42"]


def _check(tokenizer, prefix, answer):
    ids, first = answer_tokens(tokenizer, prefix, answer)
    assert ids == tokenizer(prefix + answer, add_special_tokens=False)["input_ids"]  # one joint tokenization
    context, scored = tokenizer.decode(ids[:first]), tokenizer.decode(ids[first:])
    assert prefix.startswith(context) and len(context) < len(prefix) + 1  # context: prefix characters only
    assert scored.endswith(answer) and (prefix + answer).endswith(scored)  # scored: every answer character
    return ids, first


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("answer", ANSWERS)
def test_every_answer_character_is_scored_with_the_tiny_tokenizer(prefix, answer):
    _check(build_tokenizer(), prefix, answer)


@pytest.mark.slow
def test_every_answer_character_is_scored_with_the_real_tokenizer(smollm2_tokenizer):
    merged = 0
    for prefix in PREFIXES:
        for answer in ANSWERS:
            ids, first = _check(smollm2_tokenizer, prefix, answer)
            alone = len(smollm2_tokenizer(prefix, add_special_tokens=False)["input_ids"])
            merged += first < alone  # counting the prefix's own tokens would have dropped answer tokens
    # The case of the issue: " <answer> " is [' <', 'answer', '>', ' '],
    # " <answer> Paris" is [' <', 'answer', '>', ' Paris']
    ids, first = answer_tokens(smollm2_tokenizer, " <answer> ", "Paris")
    assert smollm2_tokenizer.convert_ids_to_tokens(ids[first:]) == ["ĠParis"] and first == 3
    assert merged >= len(ANSWERS)  # every answer after the trailing-space prefix at least


def test_an_answer_without_text_is_refused():
    with pytest.raises(InfopoConfigError, match="would score no answer token for answer ''"):
        answer_tokens(build_tokenizer(), "<answer>", "")

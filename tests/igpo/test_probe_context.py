"""The probe's answer copy built as the authors' code builds it (their forcing prefix after ``assistant\\n<think>``,
their answer suffix), compared token for token with an independent replica of their construction."""

import pytest

from infopo.errors import InfopoConfigError
from infopo.igpo.probe import answer_tokens
from infopo.igpo.probe_context import (
    AUTHORS_FORCING_PREFIX,
    authors_answer_tokens,
    opens_think,
    probe_answer_tokens,
    resolve_probe_context,
)
from infopo.tiny import build_tokenizer

ANSWERS = ["Paris", "William Shakespeare", "U.S.", "1969", "Kubo Nita", "  spaced", "Paris "]
MESSAGES = [{"role": "system", "content": "Answer with search."}, {"role": "user", "content": "Who wrote Hamlet?"}]


def _authors_first_probe(tokenizer, messages, answer):
    """The authors' first probe of a rollout (``run_llm_loop``, step 0): the re-templated prompt with the generation
    prompt and ``<think>`` appended, tokenized; their PREFIX + answer + SUFFIX tokenized alone (default special
    tokens) after it; scored: ``gt_idx``, the first token ending past PREFIX to the last starting before the answer's
    end. Returns the whole sequence and the scored positions in it."""
    prefix, suffix = "\nNow there's enough information to answer\n</think>\n<answer>\n", "\n</answer><|im_end|>"
    context = tokenizer(
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + "<think>"
    )["input_ids"]
    encoded = tokenizer(f"{prefix}{answer}{suffix}", return_offsets_mapping=True)
    start = end = None
    for index, (char_start, char_end) in enumerate(encoded["offset_mapping"]):
        if start is None and char_end > len(prefix):
            start = index
        if char_start < len(prefix) + len(answer) and char_end > 0:
            end = index + 1
    return context + encoded["input_ids"], list(range(len(context) + start, len(context) + end))


def _infopo_first_probe(tokenizer, messages, answer):
    """infopo's: the prompt as TRL tokenizes it, then the answer copy of ``probe_context: auto`` (as ``_probe``)."""
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)[
        "input_ids"
    ]
    context = resolve_probe_context("auto", AUTHORS_FORCING_PREFIX)
    ids, first = probe_answer_tokens(
        tokenizer, AUTHORS_FORCING_PREFIX, answer, context, opens_think(tokenizer.decode(prompt[-8:]))
    )
    return prompt + ids, list(range(len(prompt) + first, len(prompt) + len(ids)))


def _check_against_the_authors(tokenizer, answer):
    ours, scored = _infopo_first_probe(tokenizer, MESSAGES, answer)
    theirs, their_scored = _authors_first_probe(tokenizer, MESSAGES, answer)
    assert ours == theirs[: len(ours)]  # the same tokens up to the last scored one
    assert scored == their_scored  # the same scored positions, hence the same targets
    assert answer.strip() in tokenizer.decode([ours[i] for i in scored])
    return ours, scored


@pytest.mark.parametrize("answer", ANSWERS)
def test_the_answer_tokens_are_the_authors_with_the_tiny_tokenizer(answer):
    tokenizer = build_tokenizer()
    _check_against_the_authors(tokenizer, answer)
    ids, first = authors_answer_tokens(tokenizer, AUTHORS_FORCING_PREFIX, answer)
    plain, plain_first = answer_tokens(tokenizer, AUTHORS_FORCING_PREFIX, answer)
    opener = tokenizer("<think>", add_special_tokens=False)["input_ids"]
    assert ids == opener + plain and first == len(opener) + plain_first  # the plain copy never opened the think


@pytest.mark.slow
def test_the_answer_tokens_are_the_authors_with_the_real_tokenizer(smollm2_tokenizer):
    for answer in ANSWERS:
        ours, _ = _check_against_the_authors(smollm2_tokenizer, answer)
        assert smollm2_tokenizer.decode(ours).endswith("assistant\n<think>" + AUTHORS_FORCING_PREFIX + answer)


def test_a_last_answer_token_shared_with_the_suffix_is_scored_as_the_authors_do():
    tokenizer = build_tokenizer()
    tokenizer.add_tokens([".\n"])  # as Qwen2.5's ".\n": the answer's last character and the suffix's first
    ours, scored = _check_against_the_authors(tokenizer, "U.S.")
    assert tokenizer.convert_ids_to_tokens(ours[scored[-1]]) == ".\n"
    plain, first = answer_tokens(tokenizer, AUTHORS_FORCING_PREFIX, "U.S.")
    assert tokenizer.convert_ids_to_tokens(plain[-1]) == "." and len(plain) - first == len(scored)


def test_which_context_and_when_the_prompt_already_opened_a_think():
    assert resolve_probe_context("auto", AUTHORS_FORCING_PREFIX) == "authors"
    for prefix in ("<answer>", " <answer> ", "<think>\nenough\n</think>\n<answer>"):
        assert resolve_probe_context("auto", prefix) == "plain"
    assert resolve_probe_context("plain", AUTHORS_FORCING_PREFIX) == "plain"
    assert resolve_probe_context("authors", "<answer>") == "authors"
    with pytest.raises(InfopoConfigError, match="probe_context must be one of auto, authors, plain"):
        resolve_probe_context("both", "<answer>")
    assert opens_think("<|im_start|>assistant\n<think>\n") and not opens_think("<|im_start|>assistant\n")
    assert not opens_think("<think>a</think>")
    tokenizer = build_tokenizer()
    opened, first_opened = authors_answer_tokens(tokenizer, AUTHORS_FORCING_PREFIX, "Paris", think_open=True)
    fresh, first = authors_answer_tokens(tokenizer, AUTHORS_FORCING_PREFIX, "Paris")
    opener = tokenizer("<think>", add_special_tokens=False)["input_ids"]
    assert fresh == opener + opened and first == first_opened + len(opener)
    assert probe_answer_tokens(tokenizer, "<answer>", "Paris") == answer_tokens(tokenizer, "<answer>", "Paris")


def test_an_answer_without_text_is_refused_in_the_authors_context():
    with pytest.raises(InfopoConfigError, match="would score no answer token for answer ''"):
        authors_answer_tokens(build_tokenizer(), AUTHORS_FORCING_PREFIX, "")

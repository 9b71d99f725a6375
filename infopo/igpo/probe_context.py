"""What the probe appends after a turn boundary: the forcing prefix and the answer, as infopo or as the authors do.

``plain`` (infopo's rule): the copy is ``prefix + answer`` in one tokenization
(:func:`infopo.igpo.probe.answer_tokens`); with the default prefix ``"<answer>"`` the context reads
``... <answer>Paris``.

``authors`` (IGPO's released code, ``scrl/llm_agent/generation.py`` ``run_llm_loop`` and ``vectorized_gt_logprob.py``,
debajoycs98/IGPO 8660196): before every generation step the conversation is re-templated with the generation prompt
and ``"<think>"`` is appended (their policy writes after ``assistant\\n<think>``); the probe's response is
``PREFIX + answer + SUFFIX`` tokenized on its own, with PREFIX = ``"\\nNow there's enough information to
answer\\n</think>\\n<answer>\\n"`` (it closes the think the context opened) and SUFFIX = ``"\\n</answer><|im_end|>"``;
the scored tokens run from the first token whose characters end past the prefix to the last one that starts before the
answer's end (character offsets, so a token shared with the suffix's ``"\\n"`` is scored, as theirs is). infopo builds
the same: the copy is the tokens of ``"<think>"`` (left out when the prompt already ends by opening a think, as thinking
templates do), then those of ``PREFIX + answer + SUFFIX`` up to the last scored token (what follows it cannot change
a causal model's scores). For the first probe (after the prompt, which TRL templates with the generation prompt) the
token sequence is exactly the authors' (tested on SmolLM2's and the tiny kit's tokenizers). After an observation
infopo keeps the tokens as sampled and observed, where the authors re-template the conversation (their template
closes the tool response and opens a new assistant turn before ``<think>``): with IGPO's tag protocol the copy follows
the observation directly.

:func:`resolve_probe_context` turns ``IGPOConfig.probe_context`` into one of the two: ``auto`` picks ``authors`` when
the forcing prefix closes a think it never opens (as the authors' prefix does), ``plain`` otherwise.
"""

from __future__ import annotations

from infopo.errors import InfopoConfigError
from infopo.igpo.probe import answer_tokens

AUTHORS_FORCING_PREFIX = "\nNow there's enough information to answer\n</think>\n<answer>\n"
"""The authors' forcing prefix (their ``PREFIX``; the 7B recipe's ``answer_forcing_prefix``)."""

AUTHORS_THINK_OPENER = "<think>"
"""What the authors append to the templated prompt before generating and probing."""

AUTHORS_ANSWER_SUFFIX = "\n</answer><|im_end|>"
"""The authors' ``SUFFIX`` after the answer: only its first characters can share a token with the answer."""

PROBE_CONTEXTS = ("auto", "authors", "plain")


def resolve_probe_context(setting: str, prefix: str) -> str:
    """``authors`` or ``plain``; ``auto`` is ``authors`` exactly when ``prefix`` closes a think it does not open.

    >>> resolve_probe_context("auto", AUTHORS_FORCING_PREFIX), resolve_probe_context("auto", "<answer>")
    ('authors', 'plain')
    """
    if setting not in PROBE_CONTEXTS:
        raise InfopoConfigError(f"probe_context must be one of {', '.join(PROBE_CONTEXTS)}, got {setting!r}")
    if setting != "auto":
        return setting
    closing, opening = prefix.find("</think>"), prefix.find(AUTHORS_THINK_OPENER)
    return "authors" if closing >= 0 and not 0 <= opening < closing else "plain"


def opens_think(prompt_tail: str) -> bool:
    """Whether the prompt ends by opening a think (a thinking template's generation prompt
    ``...assistant\\n<think>\\n``): then the authors' construction appends no second ``<think>``."""
    return prompt_tail.rstrip().endswith(AUTHORS_THINK_OPENER)


def authors_answer_tokens(tokenizer, prefix: str, answer: str, *, think_open: bool = False) -> tuple[list[int], int]:
    """Token ids of the authors' answer copy and the index of its first scored token (the rest are all scored).

    ids = tok(``"<think>"``) (none when ``think_open``) + tok(prefix + answer + SUFFIX)[:stop]; with offsets (s_i, e_i)
    of the second tokenization, the scored tokens are i in [start, stop): start = min{i: e_i > len(prefix)},
    stop = 1 + max{i: s_i < len(prefix) + len(answer)} (the authors' ``gt_idx``). SmolLM2, answer ``"Paris"``: the
    copy is ``['<', 'think', '>', 'Ċ', 'Now', ..., '>', 'Ċ', 'Paris']`` and only ``'Paris'`` is scored.
    """
    try:
        encoded = tokenizer(
            prefix + answer + AUTHORS_ANSWER_SUFFIX, add_special_tokens=False, return_offsets_mapping=True
        )
    except NotImplementedError:
        raise InfopoConfigError(
            "IGPO's probe locates the answer by character offsets: it needs a fast tokenizer "
            f"({type(tokenizer).__name__} has no offset mapping)"
        ) from None
    offsets, begin, end = encoded["offset_mapping"], len(prefix), len(prefix) + len(answer)
    start = next((i for i, (s, e) in enumerate(offsets) if e > begin and e > s), None)
    stop = 1 + max((i for i, (s, e) in enumerate(offsets) if s < end and e > s), default=-1)
    if not answer or start is None or stop <= start:
        raise InfopoConfigError(
            f"the probe would score no answer token for answer {answer!r} after forcing prefix "
            f"{prefix!r}: every ground-truth answer must have text"
        )
    opener = [] if think_open else tokenizer(AUTHORS_THINK_OPENER, add_special_tokens=False)["input_ids"]
    return opener + encoded["input_ids"][:stop], len(opener) + start


def probe_answer_tokens(
    tokenizer, prefix: str, answer: str, context: str = "plain", think_open: bool = False
) -> tuple[list[int], int]:
    """The answer copy for ``context`` (``authors`` or ``plain``, see :func:`resolve_probe_context`) and the index of
    its first scored token."""
    if context == "authors":
        return authors_answer_tokens(tokenizer, prefix, answer, think_open=think_open)
    return answer_tokens(tokenizer, prefix, answer)

"""The vocabulary the tiny offline kit's tokenizer is trained on.

:mod:`infopo.tiny` trains a byte-level BPE tokenizer on these words, so each of them (with and without a leading
space) becomes one token; any other text still tokenizes, byte by byte. Digits stay single tokens (Qwen2's rule), so
numbers of any size are spelled digit by digit. The tiny model's cache fingerprint includes this list: changing it
rebuilds the cached model.
"""

PAD_TOKEN = "<|endoftext|>"
BOS_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN)

ROLES = ("system", "user", "assistant", "tool")
PUNCTUATION = (".", ",", "?", "!", ":", "=", "+", "-", "*")
WORDS = (
    # arithmetic tasks
    "what",
    "is",
    "plus",
    "minus",
    "times",
    "the",
    "answer",
    "compute",
    "question",
    "reverse",
    "so",
    "i",
    "think",
    "not",
    "sure",
    "maybe",
    "result",
    "of",
    "and",
    "a",
    "an",
    "number",
    "yes",
    "no",
    "correct",
    "wrong",
    # general words kept for later tasks (entities, search, reasoning)
    "who",
    "where",
    "which",
    "when",
    "city",
    "country",
    "capital",
    "river",
    "mountain",
    "lives",
    "in",
    "born",
    "search",
    "find",
    "information",
    "about",
    "found",
    "nothing",
    "done",
    "step",
    "first",
    "then",
    "next",
    "because",
    "it",
    "to",
    "from",
    "with",
    "for",
    "on",
    "at",
    "by",
    "this",
    "that",
    "are",
    "was",
    "be",
    "red",
    "green",
    "blue",
    "yellow",
    "black",
    "white",
    "cat",
    "dog",
    "bird",
    "fish",
    "tree",
    "house",
    # lookup world (infopo.data.lookup): relations and tags; names are spelled from the syllables below
    "leader",
    "mayor",
    "whose",
    # tool calls (the chat template's <tool_call> JSON)
    "name",
    "arguments",
    "query",
    "tools",
    "function",
)
SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")
"""The consonant-vowel syllables lookup-world names are made of; the tokenizer is trained on them, so any name,
seen or not, tokenizes into a few syllable-sized pieces."""


SYLLABLE_REPEATS = 64


def training_corpus() -> list[str]:
    """Lines the tokenizer is trained on: every word bare, after a space and before punctuation."""
    lines = [f"{word} {word}{PUNCTUATION[i % len(PUNCTUATION)]}" for i, word in enumerate(ROLES + WORDS)]
    # Syllables, bare and after a space, often enough that their merges outrank every merge learned from the words
    # above: a name then splits into its syllables wherever it appears ("nitabu" -> ni ta bu, not n it a bu). The
    # <...> form keeps merges from crossing syllable boundaries.
    lines += [" ".join(SYLLABLES), "".join(f"<{syllable}>" for syllable in SYLLABLES)] * SYLLABLE_REPEATS
    lines.append("<search> </search> <information> </information> <answer> </answer>")
    lines.append(
        '<tool_call>\n{"name": "search", "arguments": {"query": "x"}}\n</tool_call> <tool_response> </tool_response>'
    )
    lines.append(" ".join(PUNCTUATION) + " 0123456789\n")
    return lines

"""Scoring and sampling completions with causal LMs, shared by the DID tools and trainer, IGPO's probe (the answer's
tokens by character offsets) and GAIN-RL's answer log-prob signal.

Prompts and completions come in TRL's two formats: strings (the completion is appended to the prompt text) or
conversational message lists (the prompt gets the chat template with a generation prompt; the completion is the
template's rendering of the assistant turn after it).
"""

from __future__ import annotations

import torch
from trl.data_utils import common_prefix_length

from infopo.distributed import zero3_collectives_active
from infopo.errors import InfopoConfigError


def prompt_of(row: dict):
    """A training row's prompt in TRL's formats: its ``prompt``, or its ``messages`` up to the first assistant turn;
    None for plain text (or a conversation that opens with the assistant)."""
    if row.get("prompt") is not None:
        return row["prompt"]
    messages = list(row.get("messages") or [])
    first = next((i for i, message in enumerate(messages) if message.get("role") == "assistant"), len(messages))
    return messages[:first] or None


def encode_prompt(tokenizer, prompt) -> list[int]:
    """Token ids of a prompt as TRL's trainers feed it: a string through the tokenizer (with its special tokens, as
    ``processing_class(text=...)``), a message list through the chat template with a generation prompt."""
    if isinstance(prompt, str):
        return tokenizer(text=prompt)["input_ids"]
    return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)[
        "input_ids"
    ]


def encode_pair(tokenizer, prompt, chosen, rejected) -> tuple[list[int], list[int], list[int]]:
    """Prompt, chosen and rejected ids exactly as TRL's ``DPOTrainer`` tokenizes a preference pair.

    Prompt and completion are tokenized together (a plain-text completion gets the EOS text appended; a conversational
    one is the template's rendering of the whole conversation) and split where the joint tokenization stops agreeing
    with the prompt tokenized alone, the earlier of the two pairs' split points. With a real BPE the two can differ at
    the boundary (a prompt ending in a space merges it into the completion's first token): the merged token then
    belongs to the completion, as in training, and the DID log-probs score what DPO scores.
    """
    prompt_ids = encode_prompt(tokenizer, prompt)
    if isinstance(prompt, str):
        eos = tokenizer.eos_token
        joint = [tokenizer(text=prompt + c + ("" if c.endswith(eos) else eos))["input_ids"] for c in (chosen, rejected)]
    else:
        joint = [
            tokenizer.apply_chat_template(prompt + c, tokenize=True, return_dict=True)["input_ids"]
            for c in (chosen, rejected)
        ]
    split = min(common_prefix_length(prompt_ids, ids) for ids in joint)
    return prompt_ids[:split], joint[0][split:], joint[1][split:]


def completion_mask(completions: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """1 up to and including the first EOS of each row, 0 after it (padding from ``generate``)."""
    is_eos = completions == eos_token_id
    after_eos = (is_eos.cumsum(-1) - is_eos.long()) > 0
    return (~after_eos).float()


@torch.no_grad()
def completion_logps(model, sequences: torch.Tensor, prompt_length: int, mask: torch.Tensor) -> torch.Tensor:
    """Sum of log pi(token) over the completion positions of ``sequences`` (one shared prompt length)."""
    logits = model(input_ids=sequences, attention_mask=torch.ones_like(sequences)).logits[:, prompt_length - 1 : -1]
    token_logps = torch.log_softmax(logits.float(), dim=-1).gather(-1, sequences[:, prompt_length:, None]).squeeze(-1)
    return (token_logps * mask).sum(-1)


@torch.no_grad()
def sequence_logps(
    model, prompt_ids, prompt_mask, completion_ids, completion_mask, loss_mask, batch_size: int
) -> torch.Tensor:
    """Sum of log pi(token) over the ``loss_mask`` tokens of completions laid out as TRL's GRPO holds them (prompts
    left-padded, completions right-padded, attention on both masks), ``batch_size`` rows per forward, with only the
    completion's logits computed (``logits_to_keep``) and log-softmaxed row by row (TRL's ``selective_log_softmax``).
    At temperature 1, in eval mode (no dropout)."""
    from trl.trainer.utils import selective_log_softmax

    width = completion_ids.shape[1]
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention = torch.cat([prompt_mask, completion_mask], dim=1)
    was_training = model.training
    model.eval()
    sums = []
    for start in range(0, input_ids.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        logits = model(input_ids=input_ids[rows], attention_mask=attention[rows], logits_to_keep=width + 1).logits
        token_logps = selective_log_softmax(logits[:, :-1].float(), completion_ids[rows])
        sums.append((token_logps * loss_mask[rows]).sum(-1))
    model.train(was_training)
    return torch.cat(sums)


@torch.no_grad()
def pair_logps(model, prompt_ids: list[int], completions: list[list[int]]) -> torch.Tensor:
    """log pi(completion | prompt) for several completions of one prompt (right-padded, masked)."""
    device = next(model.parameters()).device
    width = max(len(c) for c in completions)
    padded = torch.zeros((len(completions), width), dtype=torch.long)
    mask = torch.zeros((len(completions), width))
    for row, completion in enumerate(completions):
        padded[row, : len(completion)] = torch.tensor(completion)
        mask[row, : len(completion)] = 1
    prompt = torch.tensor(prompt_ids).expand(len(completions), -1)
    sequences = torch.cat([prompt, padded], dim=1).to(device)
    return completion_logps(model, sequences, len(prompt_ids), mask.to(device)).cpu()


@torch.no_grad()
def sample_completions(model, prompt_ids: list[int], k: int, max_new_tokens: int, eos_token_id: int, pad_token_id: int):
    """K completions sampled from the model as it is (temperature 1, no top-k/top-p) and their masks."""
    device = next(model.parameters()).device
    prompt = torch.tensor([prompt_ids], device=device)
    sequences = model.generate(
        input_ids=prompt,
        attention_mask=torch.ones_like(prompt),
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        num_return_sequences=k,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        synced_gpus=zero3_collectives_active(model),  # ZeRO-3 ranks keep stepping until every rank's samples end
    )
    return sequences, completion_mask(sequences[:, prompt.shape[1] :], eos_token_id)


def answer_tokens(tokenizer, prefix: str, answer: str) -> tuple[list[int], int]:
    """Token ids of ``prefix + answer`` in one tokenization, and the index of the first answer token.

    The first answer token is the first token whose characters reach past the prefix (character offsets). A real BPE
    merges a prefix's trailing space into the answer's first token (SmolLM2: ``" <answer> " + "Paris"`` is
    ``[' <', 'answer', '>', ' Paris']`` while the prefix alone ends in ``' '``), so counting the prefix's own tokens
    would drop answer tokens; a token that straddles the boundary is scored as the answer's. The authors' code finds
    the answer tokens the same way (offsets overlapping the answer's characters). Raises when no token carries an
    answer character (an empty answer): the probe would score nothing and report v = exp(0) = 1.
    """
    try:
        encoded = tokenizer(prefix + answer, add_special_tokens=False, return_offsets_mapping=True)
    except NotImplementedError:
        raise InfopoConfigError(
            "answer tokens are located by character offsets: that needs a fast tokenizer "
            f"({type(tokenizer).__name__} has no offset mapping)"
        ) from None
    first = next(
        (index for index, (start, end) in enumerate(encoded["offset_mapping"]) if end > len(prefix) and end > start),
        None,
    )
    if first is None:
        raise InfopoConfigError(
            f"the probe would score no answer token for answer {answer!r} after prefix "
            f"{prefix!r}: every ground-truth answer must have text"
        )
    return encoded["input_ids"], first


@torch.no_grad()
def answer_logprobs(model, tokenizer, prompts: list, answers: list[str], prefix: str = "", batch_size: int = 16):
    """log pi(answer | prompt, prefix) of each row, teacher forced: (mean per answer token, sum, answer tokens).

    The prompt is tokenized as TRL's trainers feed it (:func:`encode_prompt`: a chat template with its generation
    prompt for conversational rows), then ``prefix + answer`` in one tokenization, the answer's tokens found by
    character offsets (:func:`answer_tokens`; the tokens before them, the prefix's, are context). One right-padded
    forward per ``batch_size`` rows. The mean is GAIN-RL's ``answer_logprob`` signal (higher: the policy is closer to
    the answer); exp(sum) is the probability of writing exactly the answer there, the learnability prior's mean.
    """
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    results = []
    for start in range(0, len(prompts), batch_size):
        rows = []
        for prompt, answer in zip(
            prompts[start : start + batch_size], answers[start : start + batch_size], strict=True
        ):
            ids, first = answer_tokens(tokenizer, prefix, str(answer))
            context = encode_prompt(tokenizer, prompt) + ids[:first]
            rows.append((context, ids[first:]))
        width = max(len(context) + len(answer) for context, answer in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for row, (context, answer) in enumerate(rows):
            input_ids[row, : len(context) + len(answer)] = torch.tensor(context + answer)
            attention[row, : len(context) + len(answer)] = 1
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
        logps = torch.log_softmax(logits, dim=-1).cpu()
        for row, (context, answer) in enumerate(rows):
            positions = torch.arange(len(context) - 1, len(context) + len(answer) - 1)
            values = logps[row, positions, torch.tensor(answer)]
            results.append((values.mean().item(), values.sum().item(), len(answer)))
    return results

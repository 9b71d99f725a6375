"""Offline DID analysis of a trained policy, and the optimal rejected-response pair builder.

``prompt_did_entropies`` estimates the DID entropy of any policy against any reference on prompts alone.
``analyze_pairs`` scores every preference pair under the policy, the reference and (optionally) the rejected
generator pi_l, and tests the log-margin ordering m_l <= m_ref <= m_theta. The power law behind it,
m_ref - m_l = beta * (m_theta - m_ref), says that per response log pi_ref - log pi_l is linear in
log pi_theta - log pi_ref with slope beta: the analyzer fits that line and reports slope and R^2.
``make_optimal_pairs`` draws chosen responses from the reference and rejected ones from
pi_l* proportional to pi_ref^(1 + beta) * pi*^(-beta), by resampling K reference candidates.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import torch
from datasets import Dataset

from infopo.did.info import did_entropy_snis, log_margin_ordered, optimal_rejected_weights
from infopo.scoring import completion_logps, encode_pair, encode_prompt, pair_logps, sample_completions


def fit_line(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Least-squares y = slope * x + intercept, and R^2 (0 when y is constant)."""
    x, y = x.double(), y.double()
    x_centered, y_centered = x - x.mean(), y - y.mean()
    slope = (x_centered * y_centered).sum() / (x_centered * x_centered).sum().clamp_min(1e-300)
    intercept = y.mean() - slope * x.mean()
    residual = ((y - slope * x - intercept) ** 2).sum()
    total = (y_centered**2).sum()
    return {
        "slope": slope.item(),
        "intercept": intercept.item(),
        "r2": (1 - residual / total).item() if total > 0 else 0.0,
    }


def _score(model, tokenizer, row) -> tuple[float, float]:
    prompt_ids, chosen_ids, rejected_ids = encode_pair(tokenizer, row["prompt"], row["chosen"], row["rejected"])
    chosen, rejected = pair_logps(model, prompt_ids, [chosen_ids, rejected_ids]).tolist()
    return chosen, rejected


def analyze_pairs(
    policy,
    ref,
    tokenizer,
    dataset: Dataset,
    rejected_model=None,
    k: int = 0,
    entropy_prompts: int = 16,
    max_new_tokens: int = 32,
) -> dict:
    """Per-pair margins and the summary statistics of the DID view of a trained policy (see the module docstring).

    With ``k >= 2`` the DID entropy is estimated for each of the first ``entropy_prompts`` prompts from K policy
    samples (:func:`prompt_did_entropies`; self-normalised: biased at small K, in either direction).
    """
    models = {"policy": policy, "ref": ref, **({"rejected_gen": rejected_model} if rejected_model is not None else {})}
    scores = {name: torch.tensor([_score(model, tokenizer, row) for row in dataset]) for name, model in models.items()}
    margins = {name: values[:, 0] - values[:, 1] for name, values in scores.items()}
    m_rejected = margins.get("rejected_gen")
    summary = {
        "pairs": len(dataset),
        "mean_margin_policy": margins["policy"].mean().item(),
        "mean_margin_ref": margins["ref"].mean().item(),
        "observable_ordered_frac": log_margin_ordered(None, margins["ref"], margins["policy"]).float().mean().item(),
        "displacement_frac": (scores["policy"][:, 0] < scores["ref"][:, 0]).float().mean().item(),
    }
    if m_rejected is not None:
        summary["full_ordered_frac"] = (
            log_margin_ordered(m_rejected, margins["ref"], margins["policy"]).float().mean().item()
        )
        log_ratio = (scores["policy"] - scores["ref"]).flatten()
        ref_over_rejected = (scores["ref"] - scores["rejected_gen"]).flatten()
        summary["power_law_fit"] = fit_line(log_ratio, ref_over_rejected)
    entropies = []
    if k >= 2:
        prompts = dataset.select(range(min(entropy_prompts, len(dataset))))["prompt"]
        entropies = prompt_did_entropies(policy, ref, tokenizer, prompts, k, max_new_tokens)
        summary.update(
            {key: value for key, value in summarize_prompt_entropies(entropies, k).items() if key != "prompts"}
        )
    per_pair = [
        {
            "margin_policy": margins["policy"][i].item(),
            "margin_ref": margins["ref"][i].item(),
            **({"margin_rejected_gen": m_rejected[i].item()} if m_rejected is not None else {}),
            "logp_policy_chosen": scores["policy"][i, 0].item(),
            "logp_ref_chosen": scores["ref"][i, 0].item(),
        }
        for i in range(len(dataset))
    ]
    return {"summary": summary, "pairs": per_pair, "prompt_entropies": entropies}


def prompt_did_entropies(policy, ref, tokenizer, prompts: list, k: int, max_new_tokens: int = 32) -> list[dict]:
    """The DID entropy of ``policy`` against ``ref`` on each prompt: no preference pairs needed, any two checkpoints
    (an SFT or RL result against its base, two DPO runs).

    For each prompt (encoded as TRL feeds it), K completions are sampled from the policy (temperature 1) and scored
    under both models; the self-normalised estimate (:func:`~infopo.did.info.did_entropy_snis`, biased at small K,
    in either direction) in nats over whole sequences, the samples' mean length in tokens (EOS included) and their
    ratio, the entropy per token by which runs with different lengths compare. Completions cut at ``max_new_tokens``
    count as sampled (their prefix log-prob).
    """
    if k < 2:
        raise ValueError(f"the DID entropy estimate needs K >= 2 samples per prompt, got {k}")
    results = []
    for prompt in prompts:
        entropy, length = sampled_did_entropy(
            policy, lambda: nullcontext(ref), tokenizer, encode_prompt(tokenizer, prompt), k, max_new_tokens
        )
        results.append({"entropy": entropy, "sample_length": length, "entropy_per_token": entropy / length})
    return results


def sampled_did_entropy(policy, reference, tokenizer, prompt_ids: list[int], k: int, max_new_tokens: int):
    """The self-normalised DID entropy estimate on one prompt from K policy samples (temperature 1), and the samples'
    mean length in tokens (EOS included). ``reference()`` is a context manager yielding the reference model (a LoRA
    policy's reference exists only with its adapters off)."""
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    sequences, mask = sample_completions(policy, prompt_ids, k, max_new_tokens, eos, pad)
    policy_logps = completion_logps(policy, sequences, len(prompt_ids), mask)
    with reference() as ref:
        ref_logps = completion_logps(ref, sequences, len(prompt_ids), mask)
    entropy = did_entropy_snis(policy_logps.double().cpu(), ref_logps.double().cpu())[0].item()
    return entropy, mask.sum(-1).double().mean().item()


def summarize_prompt_entropies(entropies: list[dict], k: int) -> dict:
    """Mean and spread of per-prompt DID entropies (:func:`prompt_did_entropies`)."""
    values = torch.tensor([[row["entropy"], row["sample_length"], row["entropy_per_token"]] for row in entropies])
    spread = values[:, 2].std().item() if len(entropies) > 1 else 0.0
    return {
        "prompts": len(entropies),
        "did_entropy_k": k,
        "did_entropy_mean": values[:, 0].mean().item(),
        "sample_length_mean": values[:, 1].mean().item(),
        "did_entropy_per_token_mean": values[:, 2].mean().item(),
        "did_entropy_per_token_std": spread,
    }


def make_optimal_pairs(ref, target, tokenizer, prompts: list, beta: float, k: int, max_new_tokens: int = 32) -> Dataset:
    """Preference pairs for a target policy: chosen = a reference sample, rejected = drawn from pi_l*.

    For each prompt K completions are sampled from the reference; the first is the chosen response and the rejected
    one is resampled from the other K - 1 with weights softmax(-beta * (log pi* - log pi_ref)). A candidate cut at
    ``max_new_tokens`` is scored without EOS (the prefix's log-probs, under both models) and counted in a warning;
    one that ended is scored with its EOS.
    """
    if k < 2:
        raise ValueError(f"make-pairs needs K >= 2 reference samples per prompt, got {k}")
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    rows, cut = [], 0
    for prompt in prompts:
        prompt_ids = encode_prompt(tokenizer, prompt)
        sequences, _ = sample_completions(ref, prompt_ids, k, max_new_tokens, eos, pad)
        completions = [_trim(ids.tolist(), eos, pad) for ids in sequences[:, len(prompt_ids) :]]
        # A candidate that reached max_new_tokens without EOS is scored as the prefix it is, with no EOS appended.
        scored = [ids + [eos] if ended else ids for ids, ended in completions[1:]]
        cut += sum(not ended for _, ended in completions[1:])
        completions = [ids for ids, _ in completions]
        ref_logps = pair_logps(ref, prompt_ids, scored)
        target_logps = pair_logps(target, prompt_ids, scored)
        pick = 1 + int(torch.multinomial(optimal_rejected_weights(ref_logps, target_logps, beta), 1))
        chosen, rejected = (tokenizer.decode(completions[i], skip_special_tokens=True) for i in (0, pick))
        if isinstance(prompt, str):
            rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
        else:
            rows.append(
                {
                    "prompt": prompt,
                    "chosen": [{"role": "assistant", "content": chosen.strip()}],
                    "rejected": [{"role": "assistant", "content": rejected.strip()}],
                }
            )
    if cut:
        warnings.warn(
            f"{cut} of {len(prompts) * (k - 1)} rejected candidates reached max_new_tokens={max_new_tokens} "
            "without EOS: scored as prefixes (raise max_new_tokens for whole responses)",
            stacklevel=2,
        )
    return Dataset.from_list(rows)


def _trim(ids: list[int], eos: int, pad: int) -> tuple[list[int], bool]:
    """A sampled completion up to (not including) its first EOS, without padding, and whether it ended with EOS
    (False: cut at the token limit)."""
    ended = eos in ids
    if ended:
        ids = ids[: ids.index(eos)]
    return [token for token in ids if token != pad], ended

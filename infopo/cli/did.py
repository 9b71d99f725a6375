"""``infopo did analyze`` and ``infopo did make-pairs``: the offline DID tools.

analyze: scores each pair of a preference data set (--dataset) under the policy, the reference and optionally the
rejected generator, and writes ``did_analysis.json`` (summary and per-pair margins), ``did_analysis.md`` and
``did_margins.png`` (m_ref against m_policy; with a rejected generator also the power-law fit). With --prompts (a
data set with a prompt column; pairs optional) it estimates the DID entropy of the policy against the reference on
each prompt from --k policy samples (default 16 there), for any two checkpoints (an SFT or RL result against its
base), and adds ``did_entropies.png`` (their distribution per token).

make-pairs: writes a preference data set (JSON lines) whose chosen responses are reference samples and whose
rejected responses are drawn from the optimal rejected distribution for a target policy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infopo.cli.models import load_model, load_tokenizer
from infopo.data import load_named_dataset, require_columns, require_split
from infopo.errors import InfopoConfigError

USAGE = (
    "usage: infopo did analyze --model P --ref R (--dataset D | --prompts D) [...] | "
    "infopo did make-pairs --ref R --target T ..."
)


def _dataset(name, split, rows, columns, purpose):
    data = require_split(load_named_dataset(name, synthetic_rows=rows), split, name)
    require_columns(data, columns, name, purpose)
    return data.select(range(min(rows, len(data))))


def _plot_entropies(entropies: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 4))
    axes.hist([row["entropy_per_token"] for row in entropies], bins=min(20, max(5, len(entropies))))
    axes.set_xlabel("DID entropy per token (nats)")
    axes.set_ylabel("prompts")
    mean = sum(row["entropy_per_token"] for row in entropies) / len(entropies)
    axes.set_title(f"DID entropy per token over {len(entropies)} prompts: mean {mean:.3g}")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = result["pairs"]
    figure, axes = plt.subplots(figsize=(5.5, 5))
    m_ref = [p["margin_ref"] for p in pairs]
    m_policy = [p["margin_policy"] for p in pairs]
    axes.scatter(m_ref, m_policy, s=10, alpha=0.6)
    low, high = min(m_ref + m_policy), max(m_ref + m_policy)
    axes.plot([low, high], [low, high], color="gray", linestyle=":", label="m_policy = m_ref")
    axes.set_xlabel("reference log-margin m_ref")
    axes.set_ylabel("policy log-margin m_policy")
    ordered = result["summary"]["observable_ordered_frac"]
    axes.set_title(f"log-margin ordering:\n{ordered:.0%} of pairs have m_policy >= m_ref")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _markdown(summary: dict) -> str:
    lines = ["# DID analysis", "", "| quantity | value |", "| --- | --- |"]
    for key, value in summary.items():
        if isinstance(value, dict):
            lines += [f"| {key}.{k} | {v:.4g} |" for k, v in value.items()]
        else:
            lines.append(f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |")
    return "\n".join(lines) + "\n"


def run_analyze(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(
        prog="infopo did analyze", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="the trained policy (folder, Hub id or tiny:<arch>)")
    parser.add_argument("--ref", required=True, help="the reference model")
    parser.add_argument("--dataset", default=None, help="preference data set (prompt/chosen/rejected)")
    parser.add_argument(
        "--prompts", default=None, help="data set with a prompt column: the DID entropy on each prompt, pairs optional"
    )
    parser.add_argument("--split", default="train")
    parser.add_argument("--rows", type=int, default=64, help="pairs to analyse")
    parser.add_argument(
        "--rejected_model", "--rejected-model", default=None, help="the model that generated the rejected responses"
    )
    parser.add_argument(
        "--k",
        type=int,
        default=None,
        help="policy samples per prompt for the DID entropy (pairs: 0, skip; prompts: 16)",
    )
    parser.add_argument("--entropy_prompts", type=int, default=16, help="prompts the DID entropy is estimated on")
    parser.add_argument("--max_new_tokens", "--max-new-tokens", type=int, default=32)
    parser.add_argument("--output_dir", "--output-dir", default="did_analysis")
    parser.add_argument("--trust_remote_code", action="store_true")
    args = parser.parse_args(argv)
    if args.dataset is None and args.prompts is None:
        raise InfopoConfigError("infopo did analyze needs --dataset (preference pairs) or --prompts (or both)")
    if args.k is None:
        args.k = 16 if args.prompts else 0
    if args.k == 1 or args.k < 0 or (args.prompts and args.k < 2):
        raise InfopoConfigError(
            f"--k must be at least 2 (or 0 for no entropy, with --dataset and no --prompts), got {args.k}"
        )
    if args.rejected_model and not args.dataset:
        raise InfopoConfigError("--rejected_model scores preference pairs: give them with --dataset")
    from infopo.did.analyze import analyze_pairs, prompt_did_entropies, summarize_prompt_entropies

    pairs = (
        _dataset(args.dataset, args.split, args.rows, ("prompt", "chosen", "rejected"), "the DID analysis")
        if (args.dataset)
        else None
    )
    prompts = (
        _dataset(args.prompts, args.split, args.entropy_prompts, ("prompt",), "the DID entropy")["prompt"]
        if args.prompts
        else None
    )
    policy, ref = load_model(args.model, args.trust_remote_code), load_model(args.ref, args.trust_remote_code)
    tokenizer = load_tokenizer(args.model, args.trust_remote_code)
    result = {"summary": {}, "pairs": [], "prompt_entropies": []}
    if pairs is not None:
        rejected = load_model(args.rejected_model, args.trust_remote_code) if args.rejected_model else None
        k = 0 if prompts is not None else args.k  # the entropy comes from --prompts when given
        result = analyze_pairs(policy, ref, tokenizer, pairs, rejected, k, args.entropy_prompts, args.max_new_tokens)
    if prompts is not None:
        entropies = prompt_did_entropies(policy, ref, tokenizer, prompts, args.k, args.max_new_tokens)
        summary = summarize_prompt_entropies(entropies, args.k)
        result["summary"].update({"entropy_prompts": summary.pop("prompts"), **summary})
        result["prompt_entropies"] = [{"prompt": prompt, **row} for prompt, row in zip(prompts, entropies, strict=True)]
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "did_analysis.json").write_text(json.dumps(result, indent=1))
    (out / "did_analysis.md").write_text(_markdown(result["summary"]))
    if pairs is not None:
        _plot(result, out / "did_margins.png")
    if prompts is not None:
        _plot_entropies(result["prompt_entropies"], out / "did_entropies.png")
    print(_markdown(result["summary"]))
    return result


def run_make_pairs(argv: list[str]):
    parser = argparse.ArgumentParser(
        prog="infopo did make-pairs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ref", required=True, help="reference model: chosen responses and candidates come from it")
    parser.add_argument("--target", required=True, help="the target policy pi*")
    parser.add_argument("--beta", type=float, required=True, help="the DPO beta the pairs are built for (> 0)")
    parser.add_argument("--prompts", required=True, help="data set with a prompt column")
    parser.add_argument("--split", default="train")
    parser.add_argument("--rows", type=int, default=64, help="prompts to use")
    parser.add_argument("--k", type=int, default=8, help="reference samples per prompt (>= 2)")
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="optimal_pairs.jsonl", help="JSON lines file to write")
    parser.add_argument("--trust_remote_code", action="store_true")
    args = parser.parse_args(argv)
    if args.k < 2:
        raise InfopoConfigError(f"--k must be at least 2 (one chosen and a candidate to reject), got {args.k}")
    if not args.beta > 0:
        raise InfopoConfigError(f"--beta must be positive, got {args.beta}")
    import torch

    from infopo.did.analyze import make_optimal_pairs

    prompts = _dataset(args.prompts, args.split, args.rows, ("prompt",), "make-pairs")["prompt"]
    torch.manual_seed(args.seed)
    pairs = make_optimal_pairs(
        load_model(args.ref, args.trust_remote_code),
        load_model(args.target, args.trust_remote_code),
        load_tokenizer(args.ref, args.trust_remote_code),
        prompts,
        args.beta,
        args.k,
        args.max_new_tokens,
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    pairs.to_json(args.output)
    print(f"wrote {len(pairs)} pairs to {args.output}")
    return pairs


def run_did(argv: list[str]):
    tools = {"analyze": run_analyze, "make-pairs": run_make_pairs}
    if not argv or argv[0] not in tools:
        raise InfopoConfigError(USAGE)
    return tools[argv[0]](argv[1:])

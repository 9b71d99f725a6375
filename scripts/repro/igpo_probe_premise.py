"""IGPO's premise on a real model: does the probe value rise when an observation holds the answer?

IGPO rewards a turn by how much it raised the policy's probability of the ground-truth answer (the probe). That is a
useful signal only if the probe rises when a search found the answer and not when it found something else. Here, on
SmolLM2-135M-Instruct (``smollm2:135m-instruct``, the Q4_1 GGUF weights dequantized: a lossy copy of the published
model), untrained, for N one-hop questions of the lookup world (made-up names, so the answer can only come from the
context):

- context: the conversational lookup prompt (the protocol as system prompt, the question), then one search turn
  ``<search> country relation</search>`` and an observation in SearchEnvironment's format, either **relevant** (the
  fact that holds the answer and two other facts) or **irrelevant** (three facts of other countries);
- v_0: the probe after the prompt alone; v_1: after the observation; gain = v_1 - v_0 (IGPO's reward for the turn);
- both forcing prefixes: the tiny recipe's " <answer> " and the authors' "\\nNow there's enough information to
  answer\\n</think>\\n<answer>\\n"; the probe is infopo's packed probe (geometric-mean answer probability).

Reported per prefix: mean gain after a relevant and after an irrelevant observation, and the AUC of the gain for
telling them apart (0.5: no signal, 1: always higher after a relevant one).

    python scripts/repro/igpo_probe_premise.py [--questions 256] [--out docs/repro]

Forward passes only. Writes igpo_probe_premise.json and .png. The outcome is whatever the run gives.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
from real_model import MODEL_LABEL, load_smollm2, save_figure

from infopo.data.lookup import lookup_corpus, lookup_questions
from infopo.igpo.probe import answer_tokens, packed_answer_logps
from infopo.igpo.rewards import probe_values
from infopo.scoring import encode_prompt

PREFIXES = {"recipe": " <answer> ", "authors": "\nNow there's enough information to answer\n</think>\n<answer>\n"}


def auc(positive: list[float], negative: list[float]) -> float:
    """P(a random positive > a random negative), ties counted half (the Mann-Whitney AUC)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def observation(documents: list[str]) -> str:
    return " <information>" + "".join(f" {doc} ." for doc in documents) + "</information>"


def cases(count: int, seed: int) -> list[dict]:
    """One-hop questions, each with a relevant and an irrelevant observation of three documents."""
    rng = random.Random(seed)
    documents = list(lookup_corpus()["text"])
    rows = []
    for row in lookup_questions(count, seed=seed, conversational=True, two_hop_share=0.0):
        question = row["prompt"][-1]["content"]
        relation, country = question.removeprefix("what is the ").removesuffix("?").split(" of ")
        fact = f"{country} {relation} {row['answer']}"
        others = [doc for doc in rng.sample(documents, 12) if country not in doc and row["answer"] not in doc]
        rows.append(
            {
                "prompt": row["prompt"],
                "answer": row["answer"],
                "turn": f" <search> {country} {relation}</search>",
                "relevant": observation([fact] + others[:2]),
                "irrelevant": observation(others[2:5]),
            }
        )
    return rows


@torch.no_grad()
def gains(model, tokenizer, rows: list[dict], prefix: str, kind: str) -> list[float]:
    trajectories, boundaries, answers, firsts = [], [], [], []
    for row in rows:
        prompt = encode_prompt(tokenizer, row["prompt"])
        context = (
            prompt
            + tokenizer(row["turn"], add_special_tokens=False)["input_ids"]
            + tokenizer(row[kind], add_special_tokens=False)["input_ids"]
        )
        ids, first = answer_tokens(tokenizer, prefix, row["answer"])
        trajectories.append(context)
        boundaries.append([len(prompt), len(context)])  # v_0 after the prompt, v_1 after the observation
        answers.append(ids)
        firsts.append(first)
    logps = packed_answer_logps(model, trajectories, boundaries, answers, firsts, tokenizer.pad_token_id, chunk_size=8)
    values = [probe_values(values, torch.ones_like(values)) for values in logps]
    return [(value[1] - value[0]).item() for value in values]


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6))
    for axis, (name, result) in zip(axes, results.items(), strict=True):
        bins = 40
        axis.hist(result["gains_relevant"], bins=bins, alpha=0.6, label="relevant observation")
        axis.hist(result["gains_irrelevant"], bins=bins, alpha=0.6, label="irrelevant observation")
        axis.axvline(0.0, color="grey", linewidth=0.8)
        axis.set_title(f"prefix: {name} (AUC {result['auc']:.2f})")
        axis.set_xlabel("information gain v_1 - v_0")
        axis.legend(fontsize="small")
    save_figure(figure, path, f"IGPO probe on {MODEL_LABEL}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/repro")
    args = parser.parse_args()
    model, tokenizer = load_smollm2()
    rows = cases(args.questions, args.seed)
    results = {}
    for name, prefix in PREFIXES.items():
        relevant, irrelevant = (
            gains(model, tokenizer, rows, prefix, "relevant"),
            gains(model, tokenizer, rows, prefix, "irrelevant"),
        )
        results[name] = {
            "prefix": prefix,
            "mean_gain_relevant": sum(relevant) / len(relevant),
            "mean_gain_irrelevant": sum(irrelevant) / len(irrelevant),
            "positive_gain_relevant": sum(g > 0 for g in relevant) / len(relevant),
            "positive_gain_irrelevant": sum(g > 0 for g in irrelevant) / len(irrelevant),
            "auc": auc(relevant, irrelevant),
            "gains_relevant": relevant,
            "gains_irrelevant": irrelevant,
        }
        print(
            f"{name:8s} mean gain relevant {results[name]['mean_gain_relevant']:+.4f}, irrelevant "
            f"{results[name]['mean_gain_irrelevant']:+.4f}, AUC {results[name]['auc']:.3f}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "igpo_probe_premise.json").write_text(
        json.dumps(
            {
                "model": "smollm2:135m-instruct (Q4_1 GGUF, dequantized)",
                "questions": args.questions,
                "results": results,
            },
            indent=1,
        )
    )
    plot(results, out / "igpo_probe_premise.png")


if __name__ == "__main__":
    main()

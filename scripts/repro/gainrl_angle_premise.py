"""GAIN-RL's premise on a real model: does the offline angle score predict which prompts the model solves?

GAIN-RL orders training prompts by the angle concentration of the model's own hidden states, on the claim that a
high score marks a prompt the model learns (solves) sooner. Here, on SmolLM2-135M-Instruct (``smollm2:135m-instruct``,
the Q4_1 GGUF weights dequantized: a lossy copy of the published model), untrained, for N arithmetic prompts of mixed
difficulty (sums, differences and products of 1- to 3-digit numbers, several phrasings):

- per-prompt accuracy: the share of K completions sampled at temperature 1 whose last integer is the result;
- the angle score of ``infopo gainrl score`` (input of the last layer's MLP; question-template weight 1, the paper's,
  and 8, the official code's);
- two baselines: the prompt's length in tokens, and the model's own log-prob of the right answer (mean over its
  tokens, after the chat prompt and "The answer is", infopo's IGPO probe with one boundary).

Reported: Spearman correlation of each predictor with accuracy (and of the angle score with length), with a
bootstrap 95% interval over prompts. With ``--epochs E`` > 1, E rounds of K samples per prompt (the model unchanged,
fresh samples each round), and how well the learnability posterior (``infopo.gainrl.learnability``: uniform prior, or
the answer log-prob prior) after rounds 1..e predicts which prompts give a zero-variance group (all K right or all K
wrong) in round e + 1: a prompt is predicted zero-variance when its posterior P(zero variance) is above 0.5;
precision and recall against what round e + 1 sampled.

    python scripts/repro/gainrl_angle_premise.py [--prompts 512] [--samples 8] [--epochs 3] [--out docs/repro]

Forward passes and sampling only. Writes gainrl_angle_premise.json and .png. The outcome is whatever the run gives.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

import torch
from real_model import MODEL_LABEL, load_smollm2, save_figure

from infopo.gainrl.learnability import prior_counts, zero_variance_probability
from infopo.gainrl.scoring import score_prompts, spearman
from infopo.rewards import answer_match
from infopo.scoring import answer_logprobs

PHRASINGS = (
    "What is {a} {word} {b}?",
    "Compute {a} {sign} {b}.",
    "Calculate {a} {word} {b}. Reply with the number.",
    "{a} {sign} {b} = ?",
    "Please tell me the result of {a} {word} {b}.",
)
OPERATIONS = {"plus": ("+", lambda a, b: a + b), "minus": ("-", lambda a, b: a - b), "times": ("*", lambda a, b: a * b)}


def arithmetic(count: int, seed: int) -> list[dict]:
    """Prompts of mixed difficulty: 1- to 3-digit operands (products: the second operand 1 digit)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        word = rng.choice(sorted(OPERATIONS))
        sign, apply = OPERATIONS[word]
        digits = rng.choice((1, 1, 2, 2, 3))
        a = rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1)
        b = rng.randint(0, 9) if word == "times" else rng.randint(0, 10**digits - 1)
        if word == "minus" and b > a:
            a, b = b, a
        text = rng.choice(PHRASINGS).format(a=a, b=b, word=word, sign=sign)
        rows.append({"prompt": [{"role": "user", "content": text}], "answer": str(apply(a, b))})
    return rows


@torch.no_grad()
def sampled_accuracy(
    model, tokenizer, rows, samples: int, max_new_tokens: int, batch: int = 32, seed: int = 0
) -> list[float]:
    tokenizer.padding_side = "left"
    accuracies = []
    torch.manual_seed(seed)
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        encoded = tokenizer.apply_chat_template(
            [row["prompt"] for row in chunk],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
            padding=True,
        )
        output = model.generate(
            **encoded,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            num_return_sequences=samples,
            pad_token_id=tokenizer.pad_token_id,
        )
        texts = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        rewards = answer_match(texts, [row["answer"] for row in chunk for _ in range(samples)])
        accuracies += [
            sum(r == 1.0 for r in rewards[i * samples : (i + 1) * samples]) / samples for i in range(len(chunk))
        ]
        print(f"sampled {start + len(chunk)}/{len(rows)} prompts", flush=True)
    return accuracies


def zero_variance_prediction(rounds: list[list[float]], samples: int, answer_totals: list[float]) -> list[dict]:
    """Precision and recall of 'P(zero variance) > 0.5 under the posterior after rounds 1..e' for round e + 1."""
    results = []
    for after in range(1, len(rounds)):
        successes = [sum(round(r[i] * samples) for r in rounds[:after]) for i in range(len(rounds[0]))]
        trials = samples * after
        actual = {i for i, acc in enumerate(rounds[after]) if acc in (0.0, 1.0)}
        for prior_name, means in (("uniform", None), ("answer log-prob", [math.exp(t) for t in answer_totals])):
            a, b = prior_counts(means, len(successes), 2.0)
            alphas = torch.tensor([x + s for x, s in zip(a, successes, strict=True)], dtype=torch.float64)
            betas = torch.tensor([y + trials - s for y, s in zip(b, successes, strict=True)], dtype=torch.float64)
            predicted = {i for i, p in enumerate(zero_variance_probability(alphas, betas, samples).tolist()) if p > 0.5}
            hits = len(predicted & actual)
            results.append(
                {
                    "after_rounds": after,
                    "prior": prior_name,
                    "predicted": len(predicted),
                    "actual": len(actual),
                    "base_rate": len(actual) / len(successes),
                    "precision": hits / len(predicted) if predicted else float("nan"),
                    "recall": hits / len(actual) if actual else float("nan"),
                }
            )
    return results


def bootstrap(x: list[float], y: list[float], rounds: int = 1000, seed: int = 0) -> tuple[float, float]:
    rng = random.Random(seed)
    values = []
    for _ in range(rounds):
        pick = [rng.randrange(len(x)) for _ in x]
        values.append(spearman([x[i] for i in pick], [y[i] for i in pick]))
    values.sort()
    return values[int(0.025 * rounds)], values[int(0.975 * rounds) - 1]


def plot(predictors: dict, accuracy: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(predictors), figsize=(4 * len(predictors), 3.6), sharey=True)
    for axis, (name, values) in zip(axes, predictors.items(), strict=True):
        axis.scatter(values, accuracy, s=6, alpha=0.4)
        axis.set_title(f"{name}: Spearman {spearman(values, accuracy):+.2f}", fontsize="medium")
        axis.set_xlabel(name)
    axes[0].set_ylabel("sampled accuracy")
    save_figure(figure, path, f"Which prompts does {MODEL_LABEL} solve?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3, help="rounds of --samples samples per prompt")
    parser.add_argument("--out", default="docs/repro")
    args = parser.parse_args()
    model, tokenizer = load_smollm2()
    rows = arithmetic(args.prompts, args.seed)
    prompts = [row["prompt"] for row in rows]
    paper = score_prompts(model, tokenizer, prompts, inter_weight=1.0)
    official = score_prompts(model, tokenizer, prompts, inter_weight=8.0)
    answer = answer_logprobs(model, tokenizer, prompts, [row["answer"] for row in rows], prefix="The answer is ")
    predictors = {
        "angle score (w 1)": paper["scores"],
        "angle score (w 8)": official["scores"],
        "length (tokens)": [float(n) for n in paper["lengths"]],
        "answer log-prob": [mean for mean, _, _ in answer],
    }
    rounds = [
        sampled_accuracy(model, tokenizer, rows, args.samples, args.max_new_tokens, seed=epoch)
        for epoch in range(args.epochs)
    ]
    accuracy = rounds[0]
    report = {
        "model": "smollm2:135m-instruct (Q4_1 GGUF, dequantized)",
        "prompts": args.prompts,
        "samples": args.samples,
        "mean_accuracy": sum(accuracy) / len(accuracy),
        "accuracy_histogram": {
            f"{k}/{args.samples}": sum(round(a * args.samples) == k for a in accuracy) for k in range(args.samples + 1)
        },
        "spearman_with_accuracy": {
            name: {"rho": spearman(values, accuracy), "ci95": bootstrap(values, accuracy)}
            for name, values in predictors.items()
        },
        "spearman_angle_length": spearman(paper["scores"], paper["lengths"]),
        "zero_variance_prediction": zero_variance_prediction(rounds, args.samples, [total for _, total, _ in answer]),
    }
    for entry in report["zero_variance_prediction"]:
        print(
            f"after {entry['after_rounds']} round(s), {entry['prior']} prior: precision {entry['precision']:.3f}, "
            f"recall {entry['recall']:.3f} ({entry['predicted']} predicted, {entry['actual']} zero-variance, base "
            f"rate {entry['base_rate']:.3f})"
        )
    for name, value in report["spearman_with_accuracy"].items():
        print(
            f"Spearman({name}, accuracy) = {value['rho']:+.3f}  "
            f"95% CI [{value['ci95'][0]:+.3f}, {value['ci95'][1]:+.3f}]"
        )
    print(
        f"mean accuracy {report['mean_accuracy']:.3f}; Spearman(angle, length) = {report['spearman_angle_length']:+.3f}"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gainrl_angle_premise.json").write_text(
        json.dumps(
            {
                **report,
                "rows": [
                    {
                        "prompt": row["prompt"][0]["content"],
                        "answer": row["answer"],
                        "accuracy": acc,
                        **{name: values[i] for name, values in predictors.items()},
                    }
                    for i, (row, acc) in enumerate(zip(rows, accuracy, strict=True))
                ],
            },
            indent=1,
        )
    )
    plot(predictors, accuracy, out / "gainrl_angle_premise.png")


if __name__ == "__main__":
    main()

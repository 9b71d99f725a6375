"""``infopo gainrl score``: offline scores of a data set's prompts under a model, for GAIN-RL's schedules.

``--signal angle`` (default): GAIN-RL's angle score (one prefill stopped at the hooked layer); ``answer_logprob``:
the mean log-prob of each row's reference answer (``--answer_column``) after the prompt and ``--answer_prefix``,
teacher forced, the answer's tokens found by character offsets (also its summed log-prob: the learnability prior);
``length``: minus the prompt's length in tokens (shortest first). Writes ``--out`` (JSON): the signal, the scores,
the ranking (data set indices, highest score first), the prompt lengths in tokens, the Spearman correlation of score
with length, and a fingerprint of the prompts, so a training run that is given the file (``gainrl_scores``) can
refuse it for another data set or another signal. Prints the correlation: a ranking that merely
sorts prompts by length is worth knowing about (``gainrl_order: length`` is the baseline to compare against).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infopo.cli.models import load_model, load_tokenizer
from infopo.data import load_named_dataset, require_columns, require_split
from infopo.errors import InfopoConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infopo gainrl score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model folder, Hub id or tiny:<arch>")
    parser.add_argument(
        "--dataset", required=True, help="data set with a 'prompt' column (file, folder, synthetic:...)"
    )
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--split", default="train")
    parser.add_argument("--rows", type=int, default=None, help="score only the first ROWS prompts")
    parser.add_argument("--synthetic_rows", type=int, default=256, help="rows of a synthetic: data set")
    parser.add_argument("--signal", default="angle", choices=["angle", "answer_logprob", "length"])
    parser.add_argument("--answer_column", default="answer", help="reference answers (--signal answer_logprob)")
    parser.add_argument("--answer_prefix", default="", help="text between prompt and answer (answer_logprob)")
    parser.add_argument("--layer", type=int, default=-1, help="decoder layer whose MLP input is scored (default: last)")
    parser.add_argument("--inter_weight", type=float, default=1.0, help="weight of the question-template term")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--trust_remote_code", action="store_true")
    return parser


def run_gainrl(argv: list[str]) -> dict:
    if not argv or argv[0] != "score":
        raise InfopoConfigError("usage: infopo gainrl score --model PATH --dataset D --out FILE [--layer L]")
    args = _parser().parse_args(argv[1:])
    if args.batch_size < 1:
        raise InfopoConfigError(f"--batch_size must be at least 1, got {args.batch_size}")
    from infopo.gainrl.scoring import prompt_token_masks, prompts_fingerprint, ranks_by_score, score_prompts, spearman
    from infopo.scoring import answer_logprobs

    data = require_split(load_named_dataset(args.dataset, synthetic_rows=args.synthetic_rows), args.split, args.dataset)
    columns = ("prompt", args.answer_column) if args.signal == "answer_logprob" else ("prompt",)
    require_columns(data, columns, args.dataset, f"GAIN-RL's {args.signal} scores")
    if args.rows is not None:
        data = data.select(range(min(args.rows, len(data))))
    prompts = list(data["prompt"])
    if not prompts:
        raise InfopoConfigError(f"{args.dataset} has no prompts to score")
    model = load_model(args.model, args.trust_remote_code, args.dtype)
    tokenizer = load_tokenizer(args.model, args.trust_remote_code)
    if args.signal == "angle":
        result = score_prompts(
            model, tokenizer, prompts, layer=args.layer, inter_weight=args.inter_weight, batch_size=args.batch_size
        )
    else:
        lengths = [len(prompt_token_masks(tokenizer, prompt)[0]) for prompt in prompts]
        result = {"scores": [-float(length) for length in lengths], "lengths": lengths}
        if args.signal == "answer_logprob":
            values = answer_logprobs(
                model,
                tokenizer,
                prompts,
                [str(a) for a in data[args.answer_column]],
                prefix=args.answer_prefix,
                batch_size=args.batch_size,
            )
            result.update(
                scores=[mean for mean, _, _ in values],
                totals=[total for _, total, _ in values],
                answer_tokens=[count for _, _, count in values],
                answer_column=args.answer_column,
                answer_prefix=args.answer_prefix,
            )
    result.update(
        {
            "signal": args.signal,
            "ranking": ranks_by_score(result["scores"]),
            "spearman_score_length": spearman(result["scores"], result["lengths"]),
            "fingerprint": prompts_fingerprint(prompts),
            "model": args.model,
            "dataset": args.dataset,
            "layer": args.layer,
            "inter_weight": args.inter_weight,
        }
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(
        f"scored {len(prompts)} prompts ({args.signal}); "
        f"Spearman(score, length) = {result['spearman_score_length']:+.3f}; wrote {out}"
    )
    return result

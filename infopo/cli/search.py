"""``infopo search index``, ``infopo search serve`` and ``infopo search check``: a BM25 index built once per corpus,
a retrieval server on Search-R1's protocol that serves it to every rank of a node, and the share of a data set's
questions whose answer retrieval can surface (run it before training: :mod:`infopo.igpo.search_check`).

    infopo search index --corpus data/wiki-18.jsonl --text_field contents --output_dir indexes/wiki-18
    infopo search serve --index indexes/wiki-18 [--host 127.0.0.1] [--port 8000]
    infopo search check --dataset data/train.parquet --index indexes/wiki-18 [--k 3]

Then ``corpus: indexes/wiki-18`` (every process maps the same files) or ``retriever_url:
http://127.0.0.1:8000/retrieve`` in an IGPO recipe.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from infopo.errors import InfopoConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infopo search", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="action", required=True)
    index = commands.add_parser("index", help="stream a corpus into a memory-mappable BM25 index folder")
    index.add_argument(
        "--corpus", required=True, help="JSON-lines or parquet file, data set folder or name, synthetic:<task>"
    )
    index.add_argument("--text_field", default="text", help="field holding a document's text (wiki-18: contents)")
    index.add_argument("--output_dir", required=True)
    serve = commands.add_parser("serve", help="serve an index on Search-R1's /retrieve protocol")
    serve.add_argument(
        "--index", required=True, help="a folder from `infopo search index` (or a corpus, built in memory)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--text_field", default="text")
    serve.add_argument("--max_queries", type=int, default=4096, help="queries per request")
    serve.add_argument("--max_topk", type=int, default=100)
    serve.add_argument("--max_body_bytes", type=int, default=8 << 20)
    check = commands.add_parser("check", help="the share of a data set's questions whose answer retrieval surfaces")
    check.add_argument("--dataset", required=True, help="a data set name, file or folder, or synthetic:<task>")
    check.add_argument("--split", default="train")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--index", help="a folder from `infopo search index`")
    source.add_argument("--retriever_url", help="a retrieval server on Search-R1's protocol")
    source.add_argument("--corpus", help="a corpus (indexed in memory)")
    check.add_argument("--text_field", default="text", help="the corpus's text field (--corpus, --retriever_url)")
    check.add_argument("--k", type=int, default=3, help="documents per search, as search_top_k")
    check.add_argument("--question_column", default="prompt")
    check.add_argument("--answer_column", default="answer", help="a string or a list of acceptable answers")
    check.add_argument("--hops_column", default="hops", help="the hop count, when the data set has it")
    check.add_argument(
        "--hop_queries_column", default="hop_queries", help="each hop's search query, when the data set names them"
    )
    check.add_argument("--min_coverage", type=float, default=None, help="warn below this share (default 0.8)")
    check.add_argument("--list", type=int, default=10, help="unanswerable questions to print")
    check.add_argument("--synthetic_rows", type=int, default=256)
    return parser


def run_check(args) -> int:
    from infopo.data.loading import load_named_dataset
    from infopo.igpo.episodes import answer_aliases
    from infopo.igpo.retrieval import open_retriever
    from infopo.igpo.search_check import COVERAGE_WARNING, check_coverage, question_text, report_lines

    threshold = COVERAGE_WARNING if args.min_coverage is None else args.min_coverage
    if not 0.0 <= threshold <= 1.0 or args.k < 1:
        raise InfopoConfigError("--min_coverage must lie in [0, 1] and --k be at least 1")
    splits = load_named_dataset(args.dataset, synthetic_rows=args.synthetic_rows)
    if args.split not in splits:
        raise InfopoConfigError(f"--dataset {args.dataset}: no split {args.split!r}; it has {', '.join(splits)}")
    data = splits[args.split]
    for column in (args.question_column, args.answer_column):
        if column not in data.column_names:
            raise InfopoConfigError(
                f"--dataset {args.dataset}: no column {column!r}; it has {', '.join(data.column_names)}"
            )
    questions = [question_text(prompt) for prompt in data[args.question_column]]
    answers = [answer_aliases(answer) for answer in data[args.answer_column]]
    hops = list(data[args.hops_column]) if args.hops_column in data.column_names else None
    hop_queries = list(data[args.hop_queries_column]) if args.hop_queries_column in data.column_names else None
    retriever = open_retriever(args.index or args.retriever_url or args.corpus, text_field=args.text_field)
    result = check_coverage(questions, answers, retriever, args.k, hops, hop_queries)
    print("\n".join(report_lines(result, questions, answers, args.list)))
    if result["share"] < threshold:
        print(
            f"warning: only {result['share']:.3f} of the questions are answerable from this corpus (below "
            f"{threshold:g}): outcome rewards on the others are noise; fix the corpus or filter the questions"
        )
    return 0


def run_search(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.action == "check":
        return run_check(args)
    if args.action == "index":
        from infopo.igpo.retrieval import INDEX_META, build_index

        started = time.perf_counter()
        folder = build_index(args.corpus, args.output_dir, text_field=args.text_field)
        meta = json.loads((Path(folder) / INDEX_META).read_text())
        print(
            f"indexed {meta['documents']} documents ({meta['tokens']} words) into {folder} in "
            f"{time.perf_counter() - started:.1f} s"
        )
        return 0
    from infopo.igpo.retrieval_server import serve

    if not Path(args.index).exists() and not str(args.index).startswith("synthetic:"):
        raise InfopoConfigError(f"--index {args.index}: no such folder")
    serve(
        args.index,
        host=args.host,
        port=args.port,
        text_field=args.text_field,
        max_queries=args.max_queries,
        max_topk=args.max_topk,
        max_body_bytes=args.max_body_bytes,
    )
    return 0

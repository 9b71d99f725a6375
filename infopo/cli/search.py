"""``infopo search index`` and ``infopo search serve``: a BM25 index built once per corpus, and a retrieval server
on Search-R1's protocol that serves it to every rank of a node.

    infopo search index --corpus data/wiki-18.jsonl --text_field contents --output_dir indexes/wiki-18
    infopo search serve --index indexes/wiki-18 [--host 127.0.0.1] [--port 8000]

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
    return parser


def run_search(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
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

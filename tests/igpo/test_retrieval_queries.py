"""No query breaks retrieval (issue 37): a query with no indexable word gets an empty list in the local retriever,
through a live server and through the HTTP client, the other queries of its batch untouched; the server answers bad
input with 4xx and nothing a request holds with 5xx. Property tests over arbitrary unicode queries, empty and large
batches and ``topk`` at its limits; the invariant: one list per query, no 5xx. The retrieval modules import no torch,
transformers or TRL."""

import subprocess
import sys

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infopo.data.lookup import lookup_corpus
from infopo.igpo.retrieval import BM25Retriever, HttpRetriever
from infopo.igpo.retrieval_server import running_server

MAX_TOPK, MAX_QUERIES = 100, 64
DEGENERATE = ["", "   ", "!!!", "?", "a", "\u00a0\t\n", "é"]


@pytest.fixture(scope="module")
def retriever():
    return BM25Retriever.from_documents(list(lookup_corpus(40)["text"]))


@pytest.fixture(scope="module")
def server(retriever):
    with running_server(retriever, max_topk=MAX_TOPK, max_queries=MAX_QUERIES) as url:
        yield url


def test_queries_without_a_word_get_empty_lists_and_leave_the_others_alone(retriever, server):
    real = retriever.documents[0].split()[0] + " capital"
    alone = retriever.retrieve([real], 3)[0]
    assert retriever.retrieve(DEGENERATE, 3) == [[] for _ in DEGENERATE]
    assert retriever.retrieve(["", real, "!!!"], 3) == [[], alone, []] and len(alone) == 3
    assert retriever.retrieve([real], 0) == [[]] and retriever.retrieve([], 3) == []
    client = HttpRetriever(server)
    assert client.retrieve(["", real, "   "], 3) == [[], alone, []]
    for query in DEGENERATE:  # Search-R1's client sends one query per request
        answer = requests.post(server, json={"queries": [query], "topk": 3}, timeout=10)
        assert answer.status_code == 200 and answer.json() == {"result": [[]]}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(queries=st.lists(st.text(max_size=40), max_size=12), k=st.integers(-2, 12))
def test_the_local_retriever_gives_one_list_per_query(retriever, queries, k):
    rows = retriever.retrieve(queries, k)
    assert len(rows) == len(queries)
    assert all(isinstance(row, list) and len(row) <= max(k, 0) for row in rows)
    assert all(document in retriever.documents for row in rows for document in row)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    queries=st.lists(st.text(max_size=60), max_size=MAX_QUERIES + 4),
    topk=st.one_of(st.none(), st.integers(-3, MAX_TOPK + 3)),
    scores=st.booleans(),
)
def test_no_request_makes_the_server_answer_5xx(server, queries, topk, scores):
    answer = requests.post(server, json={"queries": queries, "topk": topk, "return_scores": scores}, timeout=30)
    assert answer.status_code < 500, answer.text
    if len(queries) > MAX_QUERIES:
        assert answer.status_code == 413
    elif topk is not None and not 1 <= topk <= MAX_TOPK:
        assert answer.status_code == 422
    else:
        assert answer.status_code == 200
        assert len(answer.json()["result"]) == len(queries)


@pytest.mark.parametrize(
    "body",
    [
        {"queries": [None]},
        {"queries": "one string"},
        {"queries": [1, 2]},
        {"topk": 3},
        {"queries": ["x"], "topk": "three"},
        {"queries": [["nested"]]},
    ],
)
def test_malformed_requests_are_4xx(server, body):
    answer = requests.post(server, json=body, timeout=10)
    assert 400 <= answer.status_code < 500, answer.text


def test_broken_json_and_a_huge_body_are_4xx(server):
    broken = requests.post(server, data=b'{"queries": [', headers={"content-type": "application/json"}, timeout=10)
    assert broken.status_code == 422
    huge = requests.post(server, json={"queries": ["x" * 5000]}, timeout=10)
    assert huge.status_code == 422  # longer than max_query_chars


def test_the_retrieval_modules_import_no_torch_transformers_or_trl():
    code = (
        "import sys, infopo.igpo.retrieval, infopo.igpo.retrieval_server, infopo.cli.search\n"
        "print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]

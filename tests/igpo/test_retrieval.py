"""IGPO's retrieval: index folders built by streaming and memory-mapped, batched searches, corpus errors."""

import json
import logging

import bm25s
import numpy as np
import pytest
from datasets import Dataset

from infopo.data.lookup import lookup_corpus
from infopo.errors import InfopoConfigError
from infopo.igpo import retrieval
from infopo.igpo.environment import SEARCH_FAILED, SearchEnvironment, Step, TagEnvironment, step_episodes
from infopo.igpo.retrieval import BM25Retriever, RetrievalError, build_index, iter_documents, open_retriever

DOCUMENTS = [
    "Paris is the capital of France",
    "Berlin is the capital of Germany",
    "Köln liegt am Rhein\nzweite Zeile",
    "the Rhine flows through Cologne",
    "Madrid is the capital of Spain",
    'a line with "quotes" and \\ too',
]
QUERIES = ["capital of France", "Rhein", "cologne rhine", "capital", "nothing matches zzz"]


def reference_scores(documents, queries, k):
    """bm25s used directly, as infopo did before index folders: the scores of the top-k of each query."""
    model = bm25s.BM25()
    model.index(bm25s.tokenize(documents, stopwords=None, show_progress=False), show_progress=False)
    _, scores = model.retrieve(bm25s.tokenize(queries, stopwords=None, show_progress=False), k=k, show_progress=False)
    return np.asarray(scores)


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "contents": doc}) + "\n" for i, doc in enumerate(DOCUMENTS)))
    return build_index(corpus, tmp_path_factory.mktemp("index") / "wiki", text_field="contents", progress=False)


def test_an_index_folder_scores_as_bm25s_does_and_maps_its_documents(index_folder):
    loaded = open_retriever(str(index_folder))
    assert isinstance(loaded.documents, retrieval.StoredDocuments) and len(loaded.documents) == len(DOCUMENTS)
    assert [loaded.documents[i] for i in range(len(DOCUMENTS))] == DOCUMENTS  # newlines, umlauts, quotes intact
    scored = loaded.retrieve_scored(QUERIES, 3)
    np.testing.assert_allclose(
        [[score for _, _, score in row] for row in scored], reference_scores(DOCUMENTS, QUERIES, 3), rtol=1e-6
    )
    assert loaded.retrieve(["capital of France"], 1) == [["Paris is the capital of France"]]
    in_memory = BM25Retriever.from_documents(DOCUMENTS)  # numpy backend; the folder's is numba (ties may differ)
    np.testing.assert_allclose(
        [[score for _, _, score in row] for row in in_memory.retrieve_scored(QUERIES, 3)],
        [[score for _, _, score in row] for row in scored],
        rtol=1e-6,
    )
    meta = json.loads((index_folder / retrieval.INDEX_META).read_text())
    assert meta["documents"] == len(DOCUMENTS) and meta["text_field"] == "contents"


def test_parquet_and_dataset_folders_stream_the_same_documents(tmp_path):
    dataset = Dataset.from_dict({"body": DOCUMENTS, "n": list(range(len(DOCUMENTS)))})
    dataset.to_parquet(tmp_path / "corpus.parquet")
    dataset.save_to_disk(tmp_path / "saved")
    assert list(iter_documents(tmp_path / "corpus.parquet", "body")) == DOCUMENTS
    assert list(iter_documents(str(tmp_path / "saved"), "body")) == DOCUMENTS
    assert list(iter_documents(dataset, "body")) == DOCUMENTS
    assert len(list(iter_documents("synthetic:lookup_corpus"))) == len(lookup_corpus())


def test_corpus_and_index_errors_name_the_file_line_and_field(tmp_path, index_folder):
    with pytest.raises(InfopoConfigError, match="corpus not found: .*absent.jsonl"):
        build_index(tmp_path / "absent.jsonl", tmp_path / "out", progress=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine"}) + "\n{broken\n")
    with pytest.raises(InfopoConfigError, match="bad.jsonl line 2 is not JSON"):
        build_index(bad, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # an interrupted build leaves nothing that looks complete
    assert not (tmp_path / "out.partial").exists()  # and a build stopped by bad input leaves no partial folder
    wiki = tmp_path / "wiki.jsonl"  # Search-R1's wiki-18.jsonl: 'text' falls back to 'contents', as in infopo igpo
    wiki.write_text(json.dumps({"id": 1, "contents": "the rhine\nflows"}) + "\n")
    assert build_index(wiki, tmp_path / "out2", progress=False).is_dir()
    assert list(iter_documents(wiki)) == ["the rhine\nflows"]
    body = tmp_path / "body.jsonl"
    body.write_text(json.dumps({"id": 1, "body": "x"}) + "\n")
    with pytest.raises(InfopoConfigError, match="body.jsonl line 1 has no 'text' field; it has: id, body"):
        build_index(body, tmp_path / "out4", progress=False)
    assert not (tmp_path / "out4.partial").exists()
    Dataset.from_dict({"body": ["x"]}).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(InfopoConfigError, match="p.parquet has no 'text' column; it has: body"):
        list(iter_documents(tmp_path / "p.parquet"))
    with pytest.raises(InfopoConfigError, match="already holds a search index"):
        build_index(DOCUMENTS, index_folder, progress=False)
    with pytest.raises(InfopoConfigError, match="is an infopo search index, not a corpus"):
        list(iter_documents(index_folder))
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"text": "  "}) + "\n")
    with pytest.raises(InfopoConfigError, match="has no documents"):
        build_index(empty, tmp_path / "out3", progress=False)
    with pytest.raises(InfopoConfigError, match="only http:// and https://"):
        open_retriever("ftp://example.org/retrieve")


def test_a_large_in_memory_corpus_warns_to_prebuild_it(monkeypatch, caplog):
    monkeypatch.setattr(retrieval, "IN_MEMORY_WARNING", len(DOCUMENTS) - 1)
    with caplog.at_level(logging.WARNING, logger="infopo.igpo.retrieval"):
        open_retriever(Dataset.from_dict({"text": DOCUMENTS}))
    assert "prebuild it once with `infopo search index" in caplog.text
    caplog.clear()
    monkeypatch.setattr(retrieval, "IN_MEMORY_WARNING", len(DOCUMENTS))
    with caplog.at_level(logging.WARNING, logger="infopo.igpo.retrieval"):
        open_retriever(Dataset.from_dict({"text": DOCUMENTS}))
    assert "prebuild" not in caplog.text


class CountingRetriever(BM25Retriever):
    """A real BM25 retriever that records the size of every call."""

    calls: list

    def retrieve_scored(self, queries, k):
        self.calls.append(len(queries))
        return super().retrieve_scored(queries, k)


def test_one_turns_searches_go_out_as_one_call_with_the_same_observations():
    retriever = CountingRetriever.from_documents(DOCUMENTS)
    retriever.calls = []
    episodes = [SearchEnvironment(retriever, top_k=2) for _ in range(5)]
    texts = [
        "<search>capital of France</search>",
        "<answer>Paris</answer>",
        "<search>Rhein</search>",
        "no tags",
        "<search>cologne rhine</search>",
    ]
    steps = step_episodes(episodes, texts)
    assert retriever.calls == [3]
    alone = [SearchEnvironment(retriever, top_k=2).step(text) for text in texts]
    assert steps == alone and retriever.calls == [3, 1, 1, 1]
    assert steps[1].answered and steps[3].format_error and "Paris is the capital" in steps[0].observation
    assert [episode.searches for episode in episodes] == [1, 0, 1, 0, 1]


def test_a_failed_batch_is_an_error_observation_for_each_of_its_searches_and_others_step_alone(caplog):
    class Broken(BM25Retriever):
        def retrieve_scored(self, queries, k):
            raise RetrievalError("http://127.0.0.1:9/retrieve did not answer within 1.0 s")

    class Own(TagEnvironment):
        def step(self, text):
            return Step(f" seen {text}", done=False)

    class Searching(SearchEnvironment):
        def search(self, query):
            return [f"own result for {query}"]

    broken = Broken.from_documents(DOCUMENTS)
    episodes = [SearchEnvironment(broken), Own(), SearchEnvironment(broken), Searching(DOCUMENTS)]
    steps = step_episodes(episodes, ["<search>a</search>", "hello", "<search>b</search>", "<search>c</search>"])
    assert steps[0].tool_error and steps[2].tool_error
    assert steps[0].observation.endswith(f"{SEARCH_FAILED}</information>")
    assert "did not answer within 1.0 s" in caplog.text
    assert episodes[0].tool_errors == 1 and episodes[2].tool_errors == 1
    assert steps[1].observation == " seen hello"
    assert "own result for c" in steps[3].observation and not steps[3].tool_error

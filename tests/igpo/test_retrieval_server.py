"""``infopo search serve`` and the HTTP retriever: Search-R1's protocol on a real local server, its limits, and every
fault a client meets (a slow server, a refused connection, an HTTP error, malformed JSON) as a clear error."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from infopo.errors import InfopoConfigError
from infopo.igpo.environment import SEARCH_FAILED, SearchEnvironment, step_episodes
from infopo.igpo.retrieval import BM25Retriever, HttpRetriever, RetrievalError, open_retriever
from infopo.igpo.retrieval_server import running_server

DOCUMENTS = [
    "Paris is the capital of France",
    "Berlin is the capital of Germany",
    "the Rhine flows through Cologne",
    "Madrid is the capital of Spain",
]


@pytest.fixture(scope="module")
def local():
    return BM25Retriever.from_documents(DOCUMENTS)


def test_the_server_speaks_search_r1s_protocol(local):
    with running_server(local) as url:
        scored = requests.post(
            url, json={"queries": ["capital of France", "Rhine"], "topk": 2, "return_scores": True}, timeout=10
        ).json()
        plain = requests.post(url, json={"queries": ["capital of France"], "topk": 1}, timeout=10).json()
        default = requests.post(url, json={"queries": ["Cologne"]}, timeout=10).json()
        assert requests.get(url.replace("/retrieve", "/health"), timeout=10).json() == {"documents": 4}
        client = open_retriever(url)
        assert client.retrieve(["capital of France", "Rhine"], 2) == local.retrieve(["capital of France", "Rhine"], 2)
    first = scored["result"][0][0]
    assert first["document"] == {"id": "0", "contents": "Paris is the capital of France"}
    assert first["score"] == pytest.approx(local.retrieve_scored(["capital of France"], 1)[0][0][2])
    assert len(scored["result"]) == 2 and len(scored["result"][1]) == 2
    assert plain == {"result": [[{"id": "0", "contents": "Paris is the capital of France"}]]}
    assert len(default["result"][0]) == 3  # topk omitted: the server's default


def test_the_servers_limits_answer_with_http_errors_naming_them(local):
    with running_server(local, max_queries=4, max_topk=5, max_body_bytes=2000) as url:
        too_many = requests.post(url, json={"queries": ["a"] * 5}, timeout=10)
        too_deep = requests.post(url, json={"queries": ["a"], "topk": 6}, timeout=10)
        too_big = requests.post(url, json={"queries": ["a" * 3000]}, timeout=10)
        malformed = requests.post(url, data=b"{not json", headers={"content-type": "application/json"}, timeout=10)
    assert too_many.status_code == 413 and "at most 4 queries" in too_many.text
    assert too_deep.status_code == 422 and "topk must be in 1..5" in too_deep.text
    assert too_big.status_code == 413 and "at most 2000 bytes" in too_big.text
    assert malformed.status_code == 422


class Faulty(BaseHTTPRequestHandler):
    """A real HTTP server that answers in one of the ways a retrieval server fails."""

    mode = "ok"

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["content-length"]))
        if self.mode == "slow":
            time.sleep(1.5)
        body, status = {"error": b"oops", "json": b"{not json", "short": b'{"result": []}'}.get(self.mode), 500
        if self.mode in ("json", "short", "slow"):
            status = 200
        if self.mode == "slow":
            body = b'{"result": [[]]}'
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def faulty_server(mode):
    handler = type("Handler", (Faulty,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/retrieve"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    "mode, message",
    [
        ("slow", "did not answer within 0.5 s"),
        ("error", "answered HTTP 500"),
        ("json", "answered malformed JSON"),
        ("short", r"answered 0 result lists for \d queries"),
    ],
)
def test_every_server_fault_is_a_clear_error_and_a_neutral_observation(mode, message, caplog):
    with faulty_server(mode) as url:
        client = HttpRetriever(url, timeout_s=0.5)
        with pytest.raises(RetrievalError, match=message):
            client.retrieve(["q"], 3)
        with pytest.raises(InfopoConfigError, match=f"retriever_url: .*{message}"):
            open_retriever(url, timeout_s=0.5)
        episodes = [SearchEnvironment(client, time_limit_s=5.0) for _ in range(2)]
        steps = step_episodes(episodes, ["<search>a</search>", "<search>b</search>"])
    # the policy reads the same fixed words whatever the fault; its cause goes to the log
    assert all(step.tool_error and step.observation == f" <information>{SEARCH_FAILED}</information>" for step in steps)
    assert re.search(message, caplog.text) and url in caplog.text
    assert [episode.tool_errors for episode in episodes] == [1, 1]


def test_a_refused_connection_is_a_clear_error():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/retrieve"
    with pytest.raises(RetrievalError, match=f"cannot reach {url}"):
        HttpRetriever(url, timeout_s=2).retrieve(["q"], 1)
    with pytest.raises(InfopoConfigError, match=f"retriever_url: cannot reach {url}"):
        open_retriever(url, timeout_s=2)


def test_infopo_search_index_and_serve_from_the_command_line(tmp_path):
    corpus = tmp_path / "wiki.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "contents": doc}) + "\n" for i, doc in enumerate(DOCUMENTS)))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "infopo",
            "search",
            "index",
            "--corpus",
            str(corpus),
            "--text_field",
            "contents",
            "--output_dir",
            str(tmp_path / "index"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert "indexed 4 documents" in built.stdout
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "infopo", "search", "serve", "--index", str(tmp_path / "index"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/retrieve"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                answer = requests.post(url, json={"queries": ["Rhine"], "topk": 1}, timeout=5).json()
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
                time.sleep(0.5)
        assert answer["result"][0][0]["contents"] == "the Rhine flows through Cologne"
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert server.returncode == -signal.SIGTERM and "Traceback" not in err, err  # uvicorn's graceful stop re-raises
    assert f"4 documents, listening at {url}" in out

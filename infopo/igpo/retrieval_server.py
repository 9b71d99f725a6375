"""A retrieval server on Search-R1's protocol, for one process per node to serve every rank (``infopo search serve``).

``POST /retrieve`` with ``{"queries": [...], "topk": 3, "return_scores": true}`` answers
``{"result": [[{"document": {"id": "12", "contents": "..."}, "score": 7.1}, ...], ...]}``, one list per query, best
first; with ``return_scores: false`` each list holds the documents themselves (Search-R1's
``search_r1/search/retrieval_server.py``, which verl's and SkyRL's search examples call). ``GET /health`` answers the
number of documents. Limits, each answered with an HTTP error naming it: the request body (``max_body_bytes``,
413), queries per request (``max_queries``, 413), ``topk`` (``max_topk``, 422) and a query's length
(``max_query_chars``, 422). Bound to 127.0.0.1 unless told otherwise.
"""

import socket
import threading
from contextlib import contextmanager

from infopo.igpo.retrieval import BM25Retriever, Retriever


def create_app(
    retriever: Retriever,
    *,
    default_topk: int = 3,
    max_queries: int = 4096,
    max_topk: int = 100,
    max_query_chars: int = 4096,
    max_body_bytes: int = 8 << 20,
):
    """The FastAPI application serving ``retriever`` (scores come from :meth:`BM25Retriever.retrieve_scored`; a
    retriever without scores answers score 0.0)."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel

    class QueryRequest(BaseModel):
        queries: list[str]
        topk: int | None = None
        return_scores: bool = False

    app = FastAPI(title="infopo retrieval server")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length", "")
        if request.method == "POST" and (not length.isdigit() or int(length) > max_body_bytes):
            return JSONResponse(
                {"detail": f"the request body must state its length and be at most {max_body_bytes} bytes"},
                status_code=413,
            )
        return await call_next(request)

    @app.get("/health")
    def health():
        return {"documents": len(getattr(retriever, "documents", ()))}

    @app.post("/retrieve")
    def retrieve(request: QueryRequest):
        k = default_topk if request.topk is None else request.topk
        if len(request.queries) > max_queries:
            raise HTTPException(413, f"at most {max_queries} queries per request, got {len(request.queries)}")
        if not 1 <= k <= max_topk:
            raise HTTPException(422, f"topk must be in 1..{max_topk}, got {k}")
        if any(len(query) > max_query_chars for query in request.queries):
            raise HTTPException(422, f"a query is longer than {max_query_chars} characters")
        if isinstance(retriever, BM25Retriever):
            rows = retriever.retrieve_scored(request.queries, k)
        else:
            rows = [[(None, text, 0.0) for text in row] for row in retriever.retrieve(request.queries, k)]
        result = []
        for row in rows:
            documents = [{"id": str(number), "contents": text} for number, text, _ in row]
            scores = [score for _, _, score in row]
            result.append(
                [{"document": document, "score": score} for document, score in zip(documents, scores, strict=True)]
                if request.return_scores
                else documents
            )
        return {"result": result}

    return app


@contextmanager
def running_server(retriever: Retriever, host: str = "127.0.0.1", port: int = 0, **limits):
    """Serve ``retriever`` on a background thread for the duration of the block; yields the ``/retrieve`` URL. Port 0
    takes a free port (bound before the server starts: no race with another process)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(retriever, **limits), log_level="warning", access_log=False, timeout_graceful_shutdown=5
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the retrieval server did not start")
            thread.join(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}/retrieve"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def serve(source, host: str = "127.0.0.1", port: int = 8000, text_field: str = "text", **limits) -> None:
    """Open ``source`` (an index folder, memory-mapped; or a corpus, built in memory) and serve it until SIGINT or
    SIGTERM (uvicorn's graceful shutdown)."""
    import uvicorn

    from infopo.igpo.retrieval import open_retriever

    retriever = open_retriever(source, text_field)
    documents = len(getattr(retriever, "documents", ()))

    class AnnouncingServer(uvicorn.Server):
        """Says where it listens once it does (uvicorn binds after the application's start-up)."""

        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                print(
                    f"infopo search serve: {documents} documents, listening at http://{host}:{port}/retrieve",
                    flush=True,
                )

    config = uvicorn.Config(
        create_app(retriever, **limits), host=host, port=port, log_level="warning", access_log=False
    )
    AnnouncingServer(config).run()

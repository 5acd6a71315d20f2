"""The HTTP fetcher against a real HTTP server: conditional GET with ETag / If-Modified-Since, POST of a search
query, and errors that say which URL failed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.ingest.adapters.fetcher import HttpFetcher
from services.ingest.exceptions import FetchError

pytestmark = pytest.mark.integration

BODY = b'{"releases": []}'
ETAG = '"v1"'
LAST_MODIFIED = "Wed, 01 Oct 2026 09:00:00 GMT"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/missing":
            self.send_response(404)
            self.end_headers()
            return
        if self.headers.get("If-None-Match") == ETAG or self.headers.get("If-Modified-Since") == LAST_MODIFIED:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", ETAG)
        self.send_header("Last-Modified", LAST_MODIFIED)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"notices": [], "echo": query}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_conditional_get(base_url: str) -> None:
    fetcher = HttpFetcher(timeout_s=5)
    try:
        first = fetcher.fetch(f"{base_url}/feed")
        assert (first.body, first.etag, first.last_modified, first.not_modified) == (BODY, ETAG, LAST_MODIFIED, False)
        assert fetcher.fetch(f"{base_url}/feed", etag=ETAG).not_modified
        assert fetcher.fetch(f"{base_url}/feed", last_modified=LAST_MODIFIED).not_modified
        assert not fetcher.fetch(f"{base_url}/feed", etag='"v0"').not_modified
    finally:
        fetcher.close()


def test_post_query_and_errors(base_url: str) -> None:
    fetcher = HttpFetcher(timeout_s=5)
    try:
        answer = fetcher.fetch(f"{base_url}/search", json_body={"query": "x"})
        assert json.loads(answer.body)["echo"] == {"query": "x"}
        with pytest.raises(FetchError, match="/missing: HTTP 404"):
            fetcher.fetch(f"{base_url}/missing")
        with pytest.raises(FetchError, match=r"127\.0\.0\.1:1"):
            fetcher.fetch("http://127.0.0.1:1/feed")
    finally:
        fetcher.close()

"""The pollers over real sockets: an OCDS API (``links.next`` pagination, ETag / If-Modified-Since, 304) and the
TED Search API v3 (POSTed query, ``iterationNextToken``) served by a small HTTP server in the test, publishing
through the local Kafka. Each restart builds a new publisher, state store, fetcher and poller on the same state
directory, as a new process would."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from contracts import NoticeStatus, TenderNotice
from services.ingest.adapters.fetcher import HttpFetcher
from services.ingest.domain import ted
from services.ingest.domain.model import Context
from services.ingest.polling import Poller, SourceSpec
from services.ingest.service import Stats
from tests.conftest import Endpoints, shared_data
from tests.integration.ingest.helpers import close, make_ingestor, read_topic

pytestmark = pytest.mark.integration

BASE = Context(source="ocds", detect_language=False)


@dataclass
class Page:
    body: bytes
    etag: str | None = None
    last_modified: datetime | None = None


@dataclass
class Feed:
    """What the server serves, changed by the test between polls, and every request it saw."""

    #: GET path -> page. A page answers 304 when the request's If-None-Match is its ETag, or (without
    #: If-None-Match) when If-Modified-Since is not older than its Last-Modified.
    pages: dict[str, Page] = field(default_factory=dict)
    #: POST path -> iterationNextToken (None for the first page) -> response body.
    searches: dict[str, dict[str | None, bytes]] = field(default_factory=dict)
    #: (method, path, If-None-Match, If-Modified-Since, status)
    requests: list[tuple[str, str, str | None, str | None, int]] = field(default_factory=list)
    #: The JSON bodies POSTed.
    queries: list[Any] = field(default_factory=list)

    def log(self, method: str) -> list[tuple[str, str, str | None, str | None, int]]:
        return [r for r in self.requests if r[0] == method]


def serve(feed: Feed) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            etag, since = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            page = feed.pages.get(self.path)
            if page is None:
                status = 404
            elif etag is not None:
                status = 304 if etag == page.etag else 200
            elif since is not None and page.last_modified is not None:
                status = 304 if parsedate_to_datetime(since) >= page.last_modified else 200
            else:
                status = 200
            feed.requests.append(("GET", self.path, etag, since, status))
            self.send_response(status)
            if page is not None and status == 200:
                if page.etag:
                    self.send_header("ETag", page.etag)
                if page.last_modified:
                    self.send_header("Last-Modified", format_datetime(page.last_modified, usegmt=True))
                self._body(page.body)
            else:
                self._body(b"")

        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            feed.queries.append(query)
            answers = feed.searches.get(self.path, {})
            body = answers.get(query.get("iterationNextToken"))
            status = 200 if body is not None else 400
            feed.requests.append(("POST", self.path, None, None, status))
            self.send_response(status)
            self._body(body or b'{"error": "unknown iterationNextToken"}')

        def _body(self, body: bytes) -> None:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def feed() -> Iterator[tuple[Feed, str]]:
    state = Feed()
    server = serve(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Process:
    """One run of the poller, as a process would build it: Kafka publisher, sqlite state, HTTP fetcher."""

    endpoints: Endpoints
    state_dir: Path
    topics: tuple[str, str]
    spec: SourceSpec
    #: Records per Kafka flush and state commit; more than a page holds, so a stop falls between pages.
    batch: int = 10

    def poll(self, should_stop: Callable[[], bool] = lambda: False) -> Stats:
        ingestor = make_ingestor(self.endpoints, self.state_dir, *self.topics, batch=self.batch)
        fetcher = HttpFetcher(timeout_s=10)
        try:
            return Poller(self.spec, ingestor, fetcher, BASE).poll_once(should_stop)
        finally:
            fetcher.close()
            close(ingestor)


def release(n: int, title: str | None = None) -> dict[str, Any]:
    return {
        "ocid": f"ocds-abc123-{n:04d}",
        "id": f"{n}-tender",
        "date": "2026-10-01T09:00:00Z",
        "tag": ["tender"],
        "language": "en",
        "buyer": {"name": "UNICEF"},
        "tender": {
            "id": str(n),
            "title": title or f"Water pumps {n}",
            "tenderPeriod": {"endDate": "2026-12-01T12:00:00Z"},
            "items": [{"id": "1", "classification": {"scheme": "UNSPSC", "id": "40151500"}}],
        },
    }


def package(releases: list[dict[str, Any]], base_url: str, next_path: str | None) -> bytes:
    doc: dict[str, Any] = {"uri": f"{base_url}/releases", "releases": releases}
    if next_path is not None:
        doc["links"] = {"next": f"{base_url}{next_path}"}
    return orjson.dumps(doc)


def published(got: list[tuple[str, bytes]]) -> list[tuple[str, int, NoticeStatus]]:
    out = []
    for key, value in got:
        notice = TenderNotice.model_validate_json(value)
        out.append((key, notice.version, notice.status))
    return sorted(out)


@pytest.mark.parametrize("validator", ["etag", "last-modified"])
def test_ocds_api_pages_restart_and_amendment(
    endpoints: Endpoints, tmp_path: Path, feed: tuple[Feed, str], validator: str, topics: tuple[str, str]
) -> None:
    state, base = feed
    stamp = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)

    def page(releases: list[dict[str, Any]], next_path: str | None, version: int) -> Page:
        body = package(releases, base, next_path)
        if validator == "etag":
            return Page(body, etag=f'"v{version}"')
        return Page(body, last_modified=stamp + timedelta(hours=version))

    state.pages = {
        "/releases": page([release(1), release(2)], "/releases?page=2", 1),
        "/releases?page=2": page([release(3), release(4)], "/releases?page=3", 1),
        "/releases?page=3": page([release(5)], None, 1),
    }
    process = Process(endpoints, tmp_path, topics, SourceSpec(name="api", kind="ocds", url=f"{base}/releases"))

    first = process.poll()
    assert first.published == {"active": 5}
    assert [(r[1], r[4]) for r in state.requests] == [
        ("/releases", 200),
        ("/releases?page=2", 200),
        ("/releases?page=3", 200),
    ]

    # A restart resumes at the last page with its validator: the server answers 304 and nothing is published.
    state.requests.clear()
    again = process.poll()
    assert (sum(again.published.values()), again.unchanged) == (0, 0)
    [(_, path, etag, since, status)] = state.requests
    assert (path, status) == ("/releases?page=3", 304)
    assert (etag, since) == (('"v1"', None) if validator == "etag" else (None, "Thu, 01 Oct 2026 10:00:00 GMT"))

    # The feed grows at its end: the last page now links to a new one that amends release 5 and adds release 6.
    state.pages["/releases?page=3"] = page([release(5)], "/releases?page=4", 2)
    state.pages["/releases?page=4"] = page([release(5, title="Solar water pumps 5"), release(6)], None, 1)
    state.requests.clear()
    grown = process.poll()
    assert grown.published == {"active": 1, "amended": 1}
    assert [(r[1], r[4]) for r in state.requests] == [("/releases?page=3", 200), ("/releases?page=4", 200)]

    state.requests.clear()
    assert sum(process.poll().published.values()) == 0
    assert [(r[1], r[4]) for r in state.requests] == [("/releases?page=4", 304)]

    got = read_topic(endpoints.kafka_bootstrap, process.topics[0], 7)
    ids = [f"ocds-abc123:ocds-abc123-{n:04d}" for n in range(1, 7)]
    assert published(got) == sorted([(i, 1, NoticeStatus.ACTIVE) for i in ids] + [(ids[4], 2, NoticeStatus.AMENDED)])


def test_ocds_api_stopped_between_pages_resumes_at_the_next_page(
    endpoints: Endpoints, tmp_path: Path, feed: tuple[Feed, str], topics: tuple[str, str]
) -> None:
    state, base = feed
    state.pages = {
        "/releases": Page(package([release(1), release(2)], base, "/releases?page=2"), etag='"a"'),
        "/releases?page=2": Page(package([release(3), release(4)], base, "/releases?page=3"), etag='"b"'),
        "/releases?page=3": Page(package([release(5)], base, None), etag='"c"'),
    }
    process = Process(endpoints, tmp_path, topics, SourceSpec(name="api", kind="ocds", url=f"{base}/releases"))
    # The process is told to stop once the first page is in (SIGTERM between pages): it stops before the second.
    first = process.poll(should_stop=lambda: len(state.requests) >= 1)
    assert first.stopped
    assert first.published == {"active": 2}
    state.requests.clear()
    rest = process.poll()
    assert rest.published == {"active": 3}
    assert [(r[1], r[4]) for r in state.requests] == [("/releases?page=2", 200), ("/releases?page=3", 200)]

    got = read_topic(endpoints.kafka_bootstrap, process.topics[0], 5)
    assert published(got) == [(f"ocds-abc123:ocds-abc123-{n:04d}", 1, NoticeStatus.ACTIVE) for n in range(1, 6)]


def test_ted_search_pages_restart_and_amendment(
    endpoints: Endpoints, tmp_path: Path, feed: tuple[Feed, str], topics: tuple[str, str]
) -> None:
    # Real TED Search API v3 notices, served as two pages of an ITERATION search.
    sample = orjson.loads((shared_data("ted-samples", "api-v3") / "search-response-5-notices.json").read_bytes())
    notices: list[dict[str, Any]] = sample["notices"]
    state, base = feed

    def pages(second: list[dict[str, Any]]) -> dict[str | None, bytes]:
        return {
            None: orjson.dumps({"notices": notices[:3], "iterationNextToken": "t-2", "totalNoticeCount": 5}),
            "t-2": orjson.dumps({"notices": second, "iterationNextToken": None, "totalNoticeCount": 5}),
        }

    state.searches["/v3/notices/search"] = pages(notices[3:])
    query = {
        "query": "classification-cpv IN (79000000)",
        "fields": ["publication-number"],
        "paginationMode": "ITERATION",
        "limit": 3,
    }
    spec = SourceSpec(name="ted", kind="ted", url=f"{base}/v3/notices/search", query=query)
    process = Process(endpoints, tmp_path, topics, spec)
    ctx = Context(source="ted", detect_language=False)
    outcomes = [o for o in ted.parse(orjson.dumps(sample), ctx) if isinstance(o, TenderNotice)]
    expected = {o.notice_id for o in outcomes}
    assert len(expected) >= 4

    first = process.poll()
    assert sum(first.published.values()) == len(expected)
    assert state.queries == [query, {**query, "iterationNextToken": "t-2"}]

    # A restart runs the same search: the same notices come back and nothing is published again.
    state.queries.clear()
    again = process.poll()
    assert (sum(again.published.values()), again.unchanged) == (0, len(outcomes))
    assert len(state.queries) == 2

    # A notice of the second page changes its deadline: only that notice is published, as the next version.
    changed = dict(notices[-1])
    changed["deadline-receipt-tender-date-lot"] = ["2031-01-15+01:00"]
    state.searches["/v3/notices/search"] = pages([*notices[3:-1], changed])
    amended = process.poll()
    assert amended.published == {"amended": 1}

    got = read_topic(endpoints.kafka_bootstrap, process.topics[0], len(expected) + 1)
    amended_id = f"ted:{changed['publication-number']}"
    assert published(got) == sorted(
        [(i, 1, NoticeStatus.ACTIVE) for i in expected] + [(amended_id, 2, NoticeStatus.AMENDED)]
    )
    [latest] = [n for n in (TenderNotice.model_validate_json(v) for _, v in got) if n.version == 2]
    assert latest.notice_id == amended_id
    assert latest.deadline_at == datetime(2031, 1, 15, 22, 59, 59, tzinfo=UTC)
    assert any(change.startswith("deadline_at") for change in latest.changes)

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from contracts import TenderNotice
from services.infra.bus import InMemoryPublisher
from services.ingest.adapters.memory import InMemoryFetcher, InMemoryStateStore
from services.ingest.domain.model import Context
from services.ingest.exceptions import SourceConfigError
from services.ingest.polling import Poller, SourceSpec, load_sources
from services.ingest.service import Ingestor
from tests.unit.ingest.util import FIXTURES, release

pytestmark = pytest.mark.unit

BASE = Context(source="ocds", detect_language=False)


def make(spec: SourceSpec, fetcher: InMemoryFetcher) -> tuple[Poller, InMemoryPublisher]:
    publisher = InMemoryPublisher()
    ingestor = Ingestor(publisher, InMemoryStateStore(), "notices", "dlq")
    return Poller(spec, ingestor, fetcher, BASE, clock=lambda: 1000.0), publisher


def count(publisher: InMemoryPublisher) -> int:
    return sum(isinstance(v, TenderNotice) for v in publisher.on("notices"))


def package(*ocids: str, next_url: str | None = None) -> bytes:
    doc: dict[str, object] = {"releases": [release(ocid=o) for o in ocids]}
    if next_url:
        doc["links"] = {"next": next_url}
    return orjson.dumps(doc)


def test_etag_and_unchanged_bodies_publish_nothing_new() -> None:
    fetcher = InMemoryFetcher({"https://feed/1": (package("ocds-abc123-1"), '"v1"')})
    poller, publisher = make(SourceSpec(name="feed", kind="ocds", url="https://feed/1"), fetcher)
    poller.poll_once()
    poller.poll_once()
    assert count(publisher) == 1
    assert fetcher.requests == [("https://feed/1", None), ("https://feed/1", '"v1"')]  # the second one got a 304
    fetcher.pages["https://feed/1"] = (package("ocds-abc123-1", "ocds-abc123-2"), '"v2"')
    poller.poll_once()
    assert count(publisher) == 2


def test_ocds_pagination_follows_links_next_and_resumes_at_the_last_page() -> None:
    fetcher = InMemoryFetcher(
        {
            "https://api/p1": (package("ocds-abc123-1", next_url="https://api/p2"), None),
            "https://api/p2": (package("ocds-abc123-2"), None),
        }
    )
    poller, publisher = make(SourceSpec(name="api", kind="ocds", url="https://api/p1"), fetcher)
    poller.poll_once()
    assert count(publisher) == 2
    assert poller.ingestor.state.checkpoint("api") is not None
    assert poller.ingestor.state.checkpoint("api").cursor == "https://api/p2"  # type: ignore[union-attr]
    fetcher.requests.clear()
    poller.poll_once()
    assert [url for url, _ in fetcher.requests] == ["https://api/p2"]
    assert count(publisher) == 2


def test_directory_source_skips_files_it_has_read(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(package("ocds-abc123-1"))
    poller, publisher = make(SourceSpec(name="dir", kind="ocds", path=tmp_path), InMemoryFetcher())
    poller.poll_once()
    (tmp_path / "b.json").write_bytes(package("ocds-abc123-2"))
    poller.poll_once()
    assert count(publisher) == 2
    assert poller.ingestor.metrics.registry.get_sample_value("ingest_source_lag_seconds", {"source": "dir"}) == 0


def test_sources_file(tmp_path: Path) -> None:
    (tmp_path / "mapping.yaml").write_text((FIXTURES / "mapping.yaml").read_text())
    (tmp_path / "sources.yaml").write_text(
        "sources:\n"
        "  - {name: ted, kind: ted, url: 'https://api.ted.europa.eu/v3/notices/search', interval_s: 3600}\n"
        "  - {name: au, kind: csv, path: data, mapping: mapping.yaml}\n"
    )
    ted, au = load_sources(tmp_path / "sources.yaml")
    assert ted.interval_s == 3600
    assert au.path == tmp_path / "data"
    assert au.mapping == tmp_path / "mapping.yaml"


@pytest.mark.parametrize(
    "body",
    [
        "nothing: here\n",
        "sources:\n  - {name: x, kind: rss, url: 'https://x'}\n",
        "sources:\n  - {name: x, kind: ocds}\n",
        "sources:\n  - {name: x, kind: csv, path: d}\n",
        "sources:\n  - {name: x, kind: ocds, path: a}\n  - {name: x, kind: ocds, path: b}\n",
    ],
)
def test_bad_sources_files_are_refused_with_a_clear_error(tmp_path: Path, body: str) -> None:
    (tmp_path / "sources.yaml").write_text(body)
    with pytest.raises(SourceConfigError):
        load_sources(tmp_path / "sources.yaml")


def test_ted_search_query_is_posted_and_follows_the_iteration_token() -> None:
    def page(number: str, token: str | None) -> bytes:
        notice = {"publication-number": number, "notice-type": "cn-standard", "title-proc": {"eng": f"Notice {number}"},
                  "buyer-name": {"eng": ["Agency"]}}  # fmt: skip
        return orjson.dumps({"notices": [notice], "iterationNextToken": token})

    query = {"query": "classification-cpv=48000000", "fields": ["publication-number"], "paginationMode": "ITERATION"}
    url = "https://api.ted.europa.eu/v3/notices/search"
    fetcher = InMemoryFetcher(
        {
            f"{url} {orjson.dumps(query, option=orjson.OPT_SORT_KEYS).decode()}": (page("1-2026", "t2"), None),
            f"{url} {orjson.dumps({**query, 'iterationNextToken': 't2'}, option=orjson.OPT_SORT_KEYS).decode()}": (
                page("2-2026", None),
                None,
            ),
        }
    )
    poller, publisher = make(SourceSpec(name="ted", kind="ted", url=url, query=query), fetcher)
    poller.poll_once()
    assert count(publisher) == 2
    assert fetcher.bodies == [query, {**query, "iterationNextToken": "t2"}]
    poller.poll_once()
    assert count(publisher) == 2  # the overlap of the next poll publishes nothing


def test_ocds_pagination_stopped_between_pages_resumes_at_the_next_page() -> None:
    fetcher = InMemoryFetcher(
        {
            "https://api/p1": (package("ocds-abc123-1", next_url="https://api/p2"), '"a"'),
            "https://api/p2": (package("ocds-abc123-2"), '"b"'),
        }
    )
    poller, publisher = make(SourceSpec(name="api", kind="ocds", url="https://api/p1"), fetcher)
    assert poller.poll_once(should_stop=lambda: len(fetcher.requests) >= 1).stopped
    assert count(publisher) == 1
    fetcher.requests.clear()
    poller.poll_once()
    # Not page 1 again with its ETag (a 304 would end the poll there and page 2 would wait for page 1 to change).
    assert fetcher.requests == [("https://api/p2", None)]
    assert count(publisher) == 2

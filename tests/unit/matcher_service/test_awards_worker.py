"""The awards worker and the operators' commands over the in-memory bootstrap: award messages become prospects on
shortlists, bad ones are dead-lettered with the reason, a redelivered batch changes nothing, a store outage hands the
batch back whole; award files are read as JSON Lines with notices left out; an operator's split holds."""

from __future__ import annotations

import csv
import html
import io
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from contracts import DeadLetter, SupplierProfile
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters.award_files import BadLine, LineCounts, ingest_parse_command, read_award_lines
from services.matcher.adapters.memory import InMemoryNoticeStore
from services.matcher.awards import import_awards, split_supplier
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain.awards import prospect_note
from services.matcher.entrypoints.awards_worker import AwardsWorker
from services.matcher.entrypoints.http import create_app
from services.matcher.exceptions import AlreadyExists, InvalidInput, NotFound
from services.matcher.settings import Settings
from tests.unit.matcher_service.award_builders import Org, Record, abn
from tests.unit.matcher_service.builders import BUYER_A, NOW, notice, supplier

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.unit

DLQ = "t.awards.dlq"


@dataclass(frozen=True)
class Message:
    """What the worker reads of a Kafka consumer record."""

    key: bytes | None
    value: bytes | None
    topic: str = "t.awards"
    partition: int = 0
    offset: int = 0


@pytest.fixture
def container() -> Container:
    settings = Settings(topic_shortlists="t.shortlists", topic_profiles="t.profiles", topic_awards_dlq=DLQ)
    c = bootstrap_in_memory(settings, clock=lambda: NOW)
    c.matcher.profiles.put(supplier("S1"))
    c.matcher.handle_notice(notice("1"))
    return c


def worker(c: Container) -> AwardsWorker:
    return AwardsWorker(c.matcher, c.settings, threading.Event(), consumer_factory=lambda: None)


def award_message(award_id: str, name: str, abn_value: str) -> Message:
    record = Record(award_id, [Org(name, abn(abn_value))])
    return Message(award_id.encode(), record.model_dump_json().encode())


def published(c: Container, topic: str) -> list[object]:
    publisher = c.matcher.publisher
    assert isinstance(publisher, InMemoryPublisher)
    publisher.flush()
    return publisher.on(topic)


def prospects(c: Container) -> list[SupplierProfile]:
    return [p for p in c.matcher.profiles.all() if p.is_prospect]


def test_award_messages_become_prospects_on_the_open_shortlists_marked_with_their_evidence(
    container: Container,
) -> None:
    w = worker(container)
    batch = [award_message("csv-austender:CN1", "Glove Works Pty Ltd", "11111111111")]
    assert w._handle(batch) == 1
    [found] = prospects(container)
    shortlist = container.matcher.shortlists.latest("ungm:1")
    assert shortlist is not None
    [entry] = [e for e in shortlist.entries if e.supplier_id == found.supplier_id]
    assert entry.prospect
    assert "1 public award record (csv-austender)" in (entry.evidence or "")
    assert found.supplier_id in {getattr(p, "supplier_id", None) for p in published(container, "t.profiles")}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b'{"award_id": "csv-austender:CN1"}', "invalid_award"),
    ],
)
def test_a_message_that_is_no_award_record_is_dead_lettered_with_the_reason_beside_the_good_ones(
    container: Container, value: bytes, reason: str
) -> None:
    w = worker(container)
    batch = [Message(b"bad", value), award_message("csv-austender:CN2", "Acme Pty Ltd", "22222222222")]
    assert w._handle(batch) == 2
    [letter] = [v for v in published(container, DLQ) if isinstance(v, DeadLetter)]
    assert (letter.reason, letter.key, letter.payload) == (reason, "bad", value.decode())
    assert len(prospects(container)) == 1


def test_a_tombstone_is_skipped_not_dead_lettered(container: Container) -> None:
    assert worker(container)._handle([Message(b"csv-austender:CN1", None)]) == 1
    assert published(container, DLQ) == []
    assert prospects(container) == []


def test_a_redelivered_batch_changes_nothing(container: Container) -> None:
    w = worker(container)
    batch = [award_message("csv-austender:CN1", "Glove Works Pty Ltd", "11111111111")]
    w._handle(batch)
    before = published(container, "t.profiles")[:]
    w._handle(batch)
    assert published(container, "t.profiles") == before
    [found] = prospects(container)
    assert len(found.past_awards) == 1


def test_a_store_outage_hands_the_batch_back_whole_and_it_lands_once_the_store_is_back(container: Container) -> None:
    w = worker(container)
    store = container.matcher.notices
    assert isinstance(store, InMemoryNoticeStore)
    store.available = False
    batch = [Message(b"bad", b"{not json"), award_message("csv-austender:CN1", "Glove Works Pty Ltd", "11111111111")]
    assert w._handle(batch) == 0
    assert (w.store_failures, published(container, DLQ)) == (1, [])
    store.available = True
    assert w._handle(batch) == 2
    assert len(published(container, DLQ)) == 1
    [found] = prospects(container)
    shortlist = container.matcher.shortlists.latest("ungm:1")
    assert shortlist is not None
    assert found.supplier_id in [e.supplier_id for e in shortlist.entries]


def test_award_lines_leave_notices_out_and_name_the_bad_lines() -> None:
    record = Record("csv-austender:CN1", [Org("Acme Pty Ltd")])
    lines = [record.model_dump_json(), notice("1").model_dump_json(), "", "{oops", '{"award_id": "x"}']
    counts = LineCounts()
    out = list(read_award_lines(lines, counts))
    assert out[0] == record
    assert [(b.line, b.reason) for b in out[1:] if isinstance(b, BadLine)] == [
        (4, "invalid_json"),
        (5, "invalid_award"),
    ]
    assert counts.notices == 1


def test_the_ingest_command_reads_the_formats_ingest_reads_and_refuses_others() -> None:
    command = ingest_parse_command(Path("a.csv"), "csv", None)
    assert command[1:] == ["-m", "services.ingest", "parse", "a.csv", "--source", "csv"]
    with pytest.raises(ValueError, match="--source must be one of"):
        ingest_parse_command(Path("a.json"), "ted")


def test_an_operator_split_stores_both_profiles_and_a_later_import_keeps_it(container: Container) -> None:
    records = [
        Record("csv-austender:CN1", [Org("Hyperion IT Pty Ltd", abn("99638137283"))]),
        Record("csv-austender:CN2", [Org("Twiggit Pty Ltd", abn("99638137283"))]),
    ]
    import_awards(container.matcher, records)
    [merged] = prospects(container)
    kept, moved = split_supplier(container.matcher, merged.supplier_id, ["csv-austender:CN2"], "a different firm")
    assert moved.supplier_id == f"{merged.supplier_id}-split"
    assert [len(p.past_awards) for p in (kept, moved)] == [1, 1]
    stored_moved = container.matcher.profiles.get(moved.supplier_id)
    assert stored_moved is not None
    assert stored_moved.is_prospect
    assert [a.source.matched_by for a in stored_moved.past_awards if a.source] == ["operator"]
    again = import_awards(container.matcher, records)
    assert again.stored == 0
    stored = container.matcher.profiles.get(merged.supplier_id)
    assert stored is not None
    assert len(stored.past_awards) == 1
    with pytest.raises(InvalidInput, match="awards not on supplier"):
        split_supplier(container.matcher, merged.supplier_id, ["csv-austender:CN2"], "twice")
    with pytest.raises(AlreadyExists):
        split_supplier(container.matcher, merged.supplier_id, ["csv-austender:CN1"], "x", new_id=moved.supplier_id)
    with pytest.raises(NotFound):
        split_supplier(container.matcher, "nobody", ["csv-austender:CN1"], "x")


def test_a_buyer_sees_the_prospect_mark_and_its_evidence_on_the_page_and_in_the_csv(api_container: Container) -> None:
    import_awards(api_container.matcher, [Record("csv-austender:CN1", [Org("Glove Works Pty Ltd", abn("1"))])])
    [found] = prospects(api_container)
    note = prospect_note(found)
    assert note is not None
    with TestClient(create_app(api_container), follow_redirects=False) as browser:
        browser.post("/ui/login", data={"api_key": BUYER_A, "next": "/ui/notices"})
        page = browser.get("/ui/notices/ungm:a1").text
        rows = list(csv.DictReader(io.StringIO(browser.get("/ui/notices/ungm:a1/shortlist.csv").text)))
    assert f"<strong>Prospect</strong>, not a registered supplier: {html.escape(note)}" in page
    marks = {r["supplier_id"]: (r["prospect"], r["evidence"]) for r in rows}
    assert marks[found.supplier_id] == ("yes", note)
    assert marks["S1"] == ("", "")
    assert page.count("<strong>Prospect</strong>") == 1

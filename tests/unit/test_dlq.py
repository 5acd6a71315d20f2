"""Reading dead letters back: records parsed (or shown unreadable), filtered and counted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.topics import DEAD_LETTER_PAYLOAD_BYTES, MAX_MESSAGE_BYTES
from services.infra.bus import dead_letter
from services.infra.dlq import UNREADABLE, Letter, _instant, parse_record, selected, summary
from services.infra.limits import CUT_MARKER, cut_payload, json_size

pytestmark = pytest.mark.unit


def letter(topic: str, reason: str, day: int, service: str = "ingest", offset: int = 0) -> Letter:
    d = dead_letter(service, "ocds-feed", reason, f"{reason} detail", b'{"ocid": "x"}', key="k")
    d = d.model_copy(update={"occurred_at": datetime(2026, 11, day, tzinfo=UTC)})
    return parse_record(topic, 0, offset, b"k", d.model_dump_json().encode())


def test_a_record_is_read_back_as_the_letter_it_holds() -> None:
    x = letter("dlq", "no_title", 3)
    assert x.letter is not None
    assert (x.reason, x.service, x.key) == ("no_title", "ingest", "k")
    assert x.as_json()["payload"] == '{"ocid": "x"}'
    assert x.as_json()["offset"] == 0


def test_a_record_that_is_not_a_letter_is_kept_and_says_why() -> None:
    x = parse_record("dlq", 1, 7, None, b'{"not": "a letter"}')
    assert x.letter is None
    assert x.reason == UNREADABLE
    assert x.raw == '{"not": "a letter"}'
    assert "Field required" in x.problem
    assert x.as_json()["raw"] == '{"not": "a letter"}'
    assert parse_record("dlq", 1, 8, None, b"\xff\xfe").reason == UNREADABLE  # not even UTF-8


def test_filters_and_counts() -> None:
    letters = [
        letter("a.dlq", "no_title", 1, offset=0),
        letter("a.dlq", "no_title", 5, offset=1),
        letter("a.dlq", "invalid_json", 6, offset=2),
        letter("n.dlq", "smtp_permanent", 7, service="notifier"),
        parse_record("a.dlq", 0, 3, None, b"garbage"),
    ]
    assert [x.offset for x in selected(letters, reason="no_title")] == [0, 1]
    since = datetime(2026, 11, 5, tzinfo=UTC)
    assert [x.reason for x in selected(letters, since=since)] == [
        "no_title",
        "invalid_json",
        "smtp_permanent",
        UNREADABLE,
    ]
    assert [x.reason for x in selected(letters, service="notifier")] == ["smtp_permanent"]
    rows = summary(letters)
    assert rows[0] == ("a.dlq", "ingest", "no_title", 2, "2026-11-05T00:00:00+00:00")
    assert ("a.dlq", "?", UNREADABLE, 1, "") in rows
    assert sum(n for *_, n, _ in rows) == len(letters)


def test_since_takes_a_date_or_an_instant() -> None:
    assert _instant("2026-11-05") == datetime(2026, 11, 5, tzinfo=UTC)
    assert _instant("2026-11-05T08:30:00+08:00") == datetime(2026, 11, 5, 0, 30, tzinfo=UTC)
    assert _instant("2026-11-05T08:30") == datetime(2026, 11, 5, 8, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO 8601"):
        _instant("last week")


def test_a_payload_of_1_8_mb_of_chinese_is_cut_by_bytes_with_a_marker() -> None:
    text = "招标公告" * 150_000  # 1,800,000 bytes in UTF-8, 600,000 characters
    d = dead_letter("ingest", "http", "invalid_notice", "no title", text.encode(), key="push:9")
    assert len(d.model_dump_json().encode()) <= MAX_MESSAGE_BYTES
    assert json_size(d.payload) <= DEAD_LETTER_PAYLOAD_BYTES
    head, marker = d.payload.rsplit("\n", 1)
    assert text.startswith(head)
    assert head
    left_out = 1_800_000 - len(head.encode())
    assert marker == f"[tenderbridge: payload cut here, {left_out:,} of 1,800,000 bytes (UTF-8) left out]"
    assert f"payload cut: {left_out:,} bytes left out" in d.detail


def test_a_payload_that_fits_is_kept_whole_without_a_marker() -> None:
    text = "招标" * 1_000
    d = dead_letter("ingest", "http", "invalid_notice", "no title", text)
    assert (d.payload, d.detail) == (text, "no title")


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=3_000),
    budget=st.integers(min_value=200, max_value=4_000),
)
def test_a_cut_payload_fits_its_budget_and_keeps_a_prefix_whole(text: str, budget: int) -> None:
    out, cut = cut_payload(text, budget)
    assert json_size(out) <= budget
    if cut == 0:
        assert out == text
    else:
        head = out.removesuffix(CUT_MARKER.format(cut=cut, total=len(text.encode())))
        assert text.startswith(head)  # whole characters: never half of one
        assert len(text.encode()) - len(head.encode()) == cut


def test_escapes_count_against_the_budget() -> None:
    out, cut = cut_payload("\x00" * 10_000, 2_000)  # each NUL takes six bytes as JSON
    assert json_size(out) <= 2_000
    assert cut > 0

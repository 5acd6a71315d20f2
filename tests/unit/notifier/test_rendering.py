"""Rendering: both languages, escaping, time zones, no template syntax left, and no way into the headers."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts import NotificationKind
from services.notifier.adapters.code_lists import load_code_titles
from services.notifier.domain.rendering import (
    LABELS,
    Envelope,
    Links,
    build_message,
    format_deadline,
    render_digest,
    render_notice_email,
)
from services.notifier.domain.rules import DigestItem, digest_sections
from services.notifier.domain.text import header_safe
from tests.unit.notifier.factories import NOW, entry, notice, profile

pytestmark = pytest.mark.unit

LINKS = Links(
    "http://127.0.0.1:8000/ui/notices/{notice_id}",
    "http://127.0.0.1:8002/unsubscribe?token=abc.def",
    "http://127.0.0.1:8002/preferences?token=ghi.jkl",
)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["New tender match", "Buyer", "Deadline", "Why it matched", "View the notice", "Unsubscribe"]),
        ("zh-Hans", ["新的招标匹配", "采购方", "截止时间", "匹配原因", "查看公告", "退订", "宁波医疗有限公司"]),
    ],
)
def test_new_match_in_both_languages_has_every_field_and_no_template_left(language: str, expected: list[str]) -> None:
    rendered = render_notice_email(
        NotificationKind.NEW_MATCH, profile(language=language), notice(), entry("sup-1"), LINKS, {}
    )
    for part in (rendered.text, rendered.html):
        assert "{{" not in part
        assert "{%" not in part
        assert "}}" not in part
        assert "UNICEF Supply Division" in part
        assert "1,250,000.00 USD" in part
        assert "42132203 Medical gloves" in part
        assert "UNSPSC 42132203 matches your class 421322" in part
        assert "http://127.0.0.1:8000/ui/notices/ungm:1001" in part
        assert LINKS.unsubscribe_url in part
        assert LINKS.preferences_url in part
        for word in expected[1:]:
            assert word in part, word
    assert rendered.subject.startswith(expected[0])
    assert rendered.language == language


def test_html_part_escapes_tender_and_supplier_text() -> None:
    hostile = notice(title='<script>alert("x")</script> & <b>gloves</b>', buyer="<img src=x onerror=alert(1)>")
    rendered = render_notice_email(
        NotificationKind.NEW_MATCH, profile(name="<i>Evil</i> Co"), hostile, entry("sup-1"), LINKS, {}
    )
    assert "<script>" not in rendered.html
    assert "<img" not in rendered.html
    assert "<i>Evil" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert "&lt;img src=x" in rendered.html
    assert "&lt;i&gt;Evil" in rendered.html
    # Plain text shows the words as they are.
    assert '<script>alert("x")</script>' in rendered.text


@pytest.mark.parametrize(
    ("zone", "language", "expected"),
    [
        ("UTC", "en", "Tue 15 Dec 2026, 22:00 (UTC, UTC+00:00)"),
        ("Asia/Shanghai", "zh-Hans", "2026年12月16日 06:00（Asia/Shanghai，UTC+08:00）"),
        ("Asia/Kabul", "en", "Wed 16 Dec 2026, 02:30 (Asia/Kabul, UTC+04:30)"),
        ("America/New_York", "en", "Tue 15 Dec 2026, 17:00 (America/New_York, UTC-05:00)"),
    ],
)
def test_deadline_is_shown_in_the_supplier_time_zone(zone: str, language: str, expected: str) -> None:
    assert format_deadline(datetime(2026, 12, 15, 22, 0, tzinfo=UTC), zone, language) == expected
    rendered = render_notice_email(
        NotificationKind.NEW_MATCH,
        profile(language=language, timezone=zone),
        notice(deadline=datetime(2026, 12, 15, 22, 0, tzinfo=UTC)),
        None,
        LINKS,
        {},
    )
    assert expected in rendered.text


def test_amendment_lists_the_changes_and_cancellation_says_so() -> None:
    changed = notice(version=2, changes=["deadline moved from 2026-12-01 to 2026-12-15", "quantity 10000 -> 20000"])
    amendment = render_notice_email(NotificationKind.AMENDMENT, profile(), changed, None, LINKS, {})
    assert amendment.subject.startswith("Tender changed")
    assert "deadline moved from 2026-12-01 to 2026-12-15" in amendment.text
    assert "quantity 10000 -&gt; 20000" in amendment.html
    cancelled = render_notice_email(
        NotificationKind.CANCELLATION, profile(language="zh-Hans"), changed, None, LINKS, {}
    )
    assert cancelled.subject.startswith("招标已取消")
    assert "已被取消" in cancelled.text


def test_amendment_says_ingests_changes_in_the_suppliers_language_and_time_zone() -> None:
    """Ingest writes changes in the grammar of ``contracts.changes`` (``deadline_at: <ISO> -> <ISO>``); an email
    says them the supplier's way: field names in words, instants in its zone, values as money, in Chinese too."""
    lines = [
        "deadline_at: 2026-12-20T17:00:00+03:00 -> 2027-01-10T17:00:00+03:00",
        "estimated_value: amount=1250000.0, currency=USD -> amount=1400000.0, currency=USD",
        "codes added: UNSPSC 42132205, CPV 33141420",
        "description changed",
        "a line of another grammar",
    ]
    changed = notice(version=2, changes=lines)
    zh = render_notice_email(
        NotificationKind.AMENDMENT, profile(language="zh-Hans", timezone="Asia/Shanghai"), changed, None, LINKS, {}
    )
    for part in (zh.text, zh.html):
        assert "deadline_at" not in part
        assert "截止时间：2026年12月20日" in part
        assert "22:00" in part  # 17:00 at UTC+3 is 22:00 in Shanghai
        assert "预估金额：1,250,000.00 USD → 1,400,000.00 USD" in part
        assert "新增类别：UNSPSC 42132205、CPV 33141420" in part
        assert "公告描述已变更" in part
        assert "a line of another grammar" in part
    en = render_notice_email(NotificationKind.AMENDMENT, profile(timezone="UTC"), changed, None, LINKS, {})
    assert "Deadline: " in en.text
    assert "14:00" in en.text  # in UTC
    assert "The description changed" in en.text


def test_code_titles_come_from_a_code_list_when_the_notice_has_none(tmp_path: Path) -> None:
    cpv = tmp_path / "cpv.csv"
    cpv.write_text('code,parent,title\n33141420-0,,"Surgical gloves"\n', encoding="utf-8")
    titles = load_code_titles([cpv])
    rendered = render_notice_email(NotificationKind.NEW_MATCH, profile(), notice(), None, LINKS, titles)
    assert "CPV 33141420 Surgical gloves" in rendered.text


@pytest.mark.parametrize(
    "hostile",
    [
        "Gloves\r\nBcc: victim@example.org",
        "Gloves\nX-Evil: 1",
        "Gloves\rSubject: other",
        "Gloves\u2028Bcc: x@example.org",
        "Gloves\x00\x0bBcc: x@example.org",
    ],
)
def test_no_header_injection_through_titles_or_names(hostile: str) -> None:
    rendered = render_notice_email(
        NotificationKind.NEW_MATCH, profile(name=hostile), notice(title=hostile), None, LINKS, {}
    )
    envelope = Envelope("alerts@tenderbridge.local", hostile, ["sup-1@example.com"], hostile, "<m1@tb>", hostile)
    raw = build_message(rendered, envelope, LINKS.unsubscribe_url, NOW).as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["X-Evil"] is None
    assert b"\nBcc:" not in head
    assert b"\nX-Evil:" not in head
    assert b"\nSubject: other" not in head
    assert len(parsed.get_all("Subject", [])) == 1
    assert "\n" not in header_safe(hostile)
    assert "\r" not in header_safe(hostile)


def test_the_unsubscribe_url_stays_literal_in_the_raw_header_however_long() -> None:
    url = "https://alerts.example.org:8443/unsubscribe?token=" + "A" * 30 + "." + "b" * 43
    rendered = render_notice_email(NotificationKind.NEW_MATCH, profile(), notice(title="t" * 300), None, LINKS, {})
    envelope = Envelope("alerts@tenderbridge.local", "tb", ["a@example.com"], "A", "<m@tb>", "k")
    raw = build_message(rendered, envelope, url, NOW).as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    assert f"\nList-Unsubscribe: <{url}>\n".encode() in head
    assert b"=?utf-8?" not in head.split(b"List-Unsubscribe:", 1)[1].split(b"\n", 1)[0]
    assert max(len(line) for line in raw.split(b"\n")) <= 998


def test_message_is_multipart_alternative_with_one_click_unsubscribe_headers() -> None:
    rendered = render_notice_email(NotificationKind.NEW_MATCH, profile(language="zh-Hans"), notice(), None, LINKS, {})
    envelope = Envelope(
        "alerts@tenderbridge.local", "tenderbridge", ["a@example.com", "b@example.com"], "宁波", "<m@tb>", "k|1"
    )
    parsed = email.message_from_bytes(
        build_message(rendered, envelope, LINKS.unsubscribe_url, NOW).as_bytes(), policy=email.policy.default
    )
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["List-Unsubscribe"] == f"<{LINKS.unsubscribe_url}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Message-ID"] == "<m@tb>"
    assert parsed["X-Tenderbridge-Key"] == "k|1"
    assert str(parsed["Subject"]).startswith("新的招标匹配")
    assert len(parsed["To"].addresses) == 2
    plain = parsed.get_body(("plain",))
    assert plain is not None
    assert "宁波医疗有限公司" in plain.get_content()


def test_digest_has_a_closing_soon_section_first() -> None:
    soon = notice("1", title="Closing soon tender", deadline=NOW.replace(day=28))
    later = notice("2", title="Later tender", deadline=NOW.replace(month=12, day=30))
    sections = digest_sections([DigestItem("k2", later, None), DigestItem("k1", soon, entry("sup-1"))], NOW)
    for language, heading in (("en", "Closing soon"), ("zh-Hans", "即将截止")):
        rendered = render_digest(profile(language=language), sections, NOW.date(), LINKS, {})
        assert "{{" not in rendered.text + rendered.html
        text = rendered.text
        assert text.index(heading) < text.index("Closing soon tender") < text.index("Later tender")
        assert "2" in rendered.subject


def test_a_cancellation_says_what_ended_not_why_the_tender_fitted() -> None:
    matched = entry("a")
    assert matched.top_components()
    new = render_notice_email(NotificationKind.NEW_MATCH, profile(), notice(), matched, LINKS, {})
    cancelled = render_notice_email(NotificationKind.CANCELLATION, profile(), notice(), matched, LINKS, {})
    assert LABELS["en"]["reasons"] in new.text
    assert LABELS["en"]["reasons"] not in cancelled.text
    assert LABELS["en"]["reasons"] not in cancelled.html

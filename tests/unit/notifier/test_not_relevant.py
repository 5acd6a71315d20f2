"""A supplier says a notice does not fit it: every item of an alert and of a digest carries a signed "not relevant
for me" link (none on a cancellation); the page it opens changes nothing on GET; the POST, with an optional reason
from the list, publishes the supplier's own ``ShortlistFeedback`` (``by_supplier``, the notice's buyer as agency, a
key apart from the buyer's marks) on the feedback topic; a forged, expired or wrong-purpose link, an unknown reason
and Kafka away publish nothing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest

from contracts import AlertFrequency, NoticeStatus
from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback, feedback_id
from services.notifier.domain import not_relevant, tokens
from services.notifier.domain.pages import PAGE_LABELS
from services.notifier.domain.rendering import LABELS
from services.notifier.exceptions import InvalidToken
from tests.unit.notifier.factories import notice, profile, shortlist
from tests.unit.notifier.rig import Rig, http, text

pytestmark = pytest.mark.unit

_LINK = re.compile(r"^.*: (https://alerts\.example\.org/not-relevant\?token=\S+)$", re.MULTILINE)


def links_in(message: EmailMessage) -> list[str]:
    """The "not relevant for me" links of an email's text part, as paths the test client opens."""
    out = []
    for url in _LINK.findall(text(message)):
        parts = urlsplit(url)
        out.append(f"{parts.path}?{parts.query}")
    return out


def marks(rig: Rig) -> list[ShortlistFeedback]:
    return [m for m in rig.publisher.on(rig.settings.topic_feedback) if isinstance(m, ShortlistFeedback)]


def alerted(rig: Rig, language: str = "en") -> str:
    """The "not relevant for me" link of one immediate alert to supplier ``a`` about notice ungm:1001."""
    rig.add(profile("a", language=language))
    rig.notifier().alerts.handle_shortlist(shortlist(notice(buyer="  UNICEF   Supply Division "), ["a"]))
    [sent] = rig.mail.sent
    [link] = links_in(sent)
    return link


def test_an_immediate_alert_links_each_notice_to_its_not_relevant_page_in_both_parts(rig: Rig) -> None:
    link = alerted(rig)
    [sent] = rig.mail.sent
    html = sent.get_body(preferencelist=("html",))
    assert html is not None
    assert f">{LABELS['en']['not_relevant']}</a>" in str(html.get_content())
    subject = rig.notifier().signer.verify(tokens.NOT_RELEVANT, link.split("token=")[1])
    ref = not_relevant.read_subject(subject)
    assert (ref.supplier_id, ref.notice_id, ref.notice_version) == ("a", "ungm:1001", 1)


def test_a_digest_links_every_item_and_a_cancellation_links_none(rig: Rig) -> None:
    rig.add(profile("d", frequency=AlertFrequency.DAILY_DIGEST, timezone="UTC", digest_hour=8))
    n = rig.notifier()
    rig.now = datetime.fromisoformat("2026-11-25T05:00:00+00:00")
    n.alerts.handle_shortlist(shortlist(notice("1", title="Soon", deadline=rig.now + timedelta(days=3)), ["d"]))
    n.alerts.handle_shortlist(shortlist(notice("2", title="Later", deadline=rig.now + timedelta(days=20)), ["d"]))
    rig.now = datetime.fromisoformat("2026-11-25T08:30:00+00:00")
    assert n.digests.send_due_digests() == 1
    [digest] = rig.mail.sent
    subjects = [n.signer.verify(tokens.NOT_RELEVANT, x.split("token=")[1]) for x in links_in(digest)]
    assert sorted(not_relevant.read_subject(s).notice_id for s in subjects) == ["ungm:1", "ungm:2"]

    rig.add(profile("c"))
    n.alerts.handle_shortlist(shortlist(notice("9"), ["c"]))
    n.alerts.handle_shortlist(shortlist(notice("9", version=2, status=NoticeStatus.CANCELLED), ["c"]))
    new_match, cancellation = rig.mail.sent[1:]
    assert len(links_in(new_match)) == 1
    assert links_in(cancellation) == []


def test_opening_the_link_shows_the_notice_and_the_reasons_and_publishes_nothing(rig: Rig) -> None:
    link = alerted(rig, language="zh-Hans")
    _, client = http(rig)
    resp = client.get(link)
    assert resp.status_code == 200
    t = PAGE_LABELS["zh-Hans"]
    assert '<html lang="zh-Hans">' in resp.text
    assert "<main>" in resp.text
    assert t["not_relevant_button"] in resp.text
    for reason in FeedbackReason:
        assert f'name="reason" value="{reason.value}"' in resp.text
        assert t[f"reason_{reason.value}"] in resp.text
    assert "ungm:1001" in resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    rig.publisher.flush()
    assert marks(rig) == []


@pytest.mark.parametrize("reason", [None, FeedbackReason.WRONG_PRODUCTS, FeedbackReason.NOT_ELIGIBLE])
def test_confirming_publishes_the_suppliers_own_mark_with_its_reason(rig: Rig, reason: FeedbackReason | None) -> None:
    link = alerted(rig)
    _, client = http(rig)
    body = {"reason": reason.value if reason else ""}
    resp = client.post(link, data=body, headers={"Accept": "text/html"})
    assert resp.status_code == 200
    assert PAGE_LABELS["en"]["not_relevant_done_title"] in resp.text
    [mark] = marks(rig)
    assert mark.by_supplier is True
    assert mark.mark == FeedbackMark.NOT_RELEVANT
    assert mark.reason == reason
    assert (mark.supplier_id, mark.notice_id, mark.notice_version) == ("a", "ungm:1001", 1)
    assert mark.agency == "unicef supply division"  # the notice's buyer, as agencies are compared
    assert mark.marked_by is None
    assert mark.marked_at == rig.now
    # keyed apart from a buyer's mark of that agency on the same entry, which it must not replace
    assert mark.feedback_id != feedback_id(mark.agency, "ungm:1001", "a")
    [(_, key, _)] = [p for p in rig.publisher.published if p[0] == rig.settings.topic_feedback]
    assert key == mark.feedback_id


def test_a_json_client_gets_the_mark_and_an_unknown_reason_is_refused(rig: Rig) -> None:
    link = alerted(rig)
    _, client = http(rig)
    resp = client.post(link, json={"reason": "too_expensive"})
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    page = client.post(link, data={"reason": "too_expensive"}, headers={"Accept": "text/html"})
    assert page.status_code == 422
    assert PAGE_LABELS["en"]["error_reason"] in page.text
    assert marks(rig) == []
    ok = client.post(link, json={"reason": "too_small"})
    assert ok.status_code == 200
    assert ok.json()["reason"] == "too_small"
    assert [m.reason for m in marks(rig)] == [FeedbackReason.TOO_SMALL]


def test_kafka_away_records_nothing_and_says_to_try_again(rig: Rig) -> None:
    link = alerted(rig)
    _, client = http(rig)
    rig.publisher.unavailable = True
    page = client.post(link, data={"reason": ""}, headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert PAGE_LABELS["en"]["not_relevant_unavailable"] in page.text
    assert client.post(link, json={}).status_code == 503
    assert rig.publisher.published == [p for p in rig.publisher.published if p[0] != rig.settings.topic_feedback]


def test_forged_expired_and_wrong_purpose_links_publish_nothing(rig: Rig) -> None:
    link = alerted(rig)
    n, client = http(rig)
    token = link.split("token=")[1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.post(f"/not-relevant?token={forged}", json={}).status_code == 403
    preferences = n.signer.token(tokens.PREFERENCES, "a")
    assert client.get(f"/not-relevant?token={preferences}").status_code == 403
    # a genuine token of another purpose whose subject is not a notice reference
    odd = n.signer.token(tokens.NOT_RELEVANT, "a")
    assert client.post(f"/not-relevant?token={odd}", json={}).status_code == 403
    rig.now += timedelta(days=181)
    assert client.post(link, json={}).status_code == 410
    assert marks(rig) == []


@pytest.mark.parametrize(
    "subject",
    ["a", "[]", '["a","n",0,"b"]', '["a","n",true,"b"]', '["a","",1,"b"]', '["a","n",1]', '{"a":1}'],
)
def test_a_subject_that_names_no_notice_is_refused(subject: str) -> None:
    with pytest.raises(InvalidToken):
        not_relevant.read_subject(subject)

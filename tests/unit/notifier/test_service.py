"""The notifier's handlers against the in-memory fakes: exactly once, retries, parking, crash recovery, digests,
unsubscribes and the HTTP app."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from contracts import (
    AlertFrequency,
    NoticeStatus,
    NotificationStatus,
)
from services.notifier.adapters.mail import RateLimiter
from services.notifier.domain import tokens
from services.notifier.exceptions import PermanentMailError, TransientMailError, UncertainDelivery
from services.notifier.ports import Record, State
from tests.unit.notifier.factories import NOW, notice, profile, shortlist
from tests.unit.notifier.rig import Crash, Rig, http

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)

pytestmark = pytest.mark.unit


def test_a_redelivered_shortlist_sends_nothing_new(rig: Rig) -> None:
    rig.add(profile("a"), profile("b"))
    n = rig.notifier()
    sl = shortlist(notice(), ["a", "b"])
    n.alerts.handle_shortlist(sl)
    n.alerts.handle_shortlist(sl)
    rig.notifier(instance_id="n2").alerts.handle_shortlist(sl)  # another instance after a rebalance
    assert rig.keys_sent() == ["a|ungm:1001|1|new_match", "b|ungm:1001|1|new_match"]
    assert rig.statuses() == [("a|ungm:1001|1|new_match", "sent"), ("b|ungm:1001|1|new_match", "sent")]
    assert rig.events()[0].message_id == str(rig.mail.sent[0]["Message-ID"])


def test_republished_shortlist_with_a_new_supplier_alerts_only_the_newcomer(rig: Rig) -> None:
    rig.add(profile("a"), profile("b"))
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice(), ["a"]))
    n.alerts.handle_shortlist(shortlist(notice(), ["b", "a"]))  # reverse matching: same notice version, re-ranked
    assert rig.keys_sent() == ["a|ungm:1001|1|new_match", "b|ungm:1001|1|new_match"]


def test_amendment_and_cancellation_reach_exactly_the_suppliers_already_alerted(rig: Rig) -> None:
    rig.add(profile("a"), profile("b"), profile("c"), profile("never", unsubscribed=True))
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice(), ["a", "b", "never"]))
    v2 = notice(version=2, status=NoticeStatus.AMENDED, changes=["deadline moved"])
    n.alerts.handle_shortlist(shortlist(v2, ["a", "c"], previously=["a", "b", "never"]))
    v3 = notice(version=3, status=NoticeStatus.CANCELLED)
    n.alerts.handle_shortlist(shortlist(v3, ["a", "b", "c", "never"]))
    assert rig.keys_sent() == [
        "a|ungm:1001|1|new_match",
        "b|ungm:1001|1|new_match",
        "a|ungm:1001|2|amendment",
        "c|ungm:1001|2|new_match",
        "b|ungm:1001|2|amendment",
        "a|ungm:1001|3|cancellation",
        "b|ungm:1001|3|cancellation",
        "c|ungm:1001|3|cancellation",
    ]
    amendment = rig.mail.sent[2].get_body(("plain",))
    assert amendment is not None
    assert "deadline moved" in amendment.get_content()
    skipped = {(e.supplier_id, e.reason) for e in rig.events() if e.status == NotificationStatus.SKIPPED}
    assert skipped == {("never", "unsubscribed"), ("never", "never_alerted")}


def test_transient_failures_are_retried_with_growing_backoff_then_sent_once(rig: Rig) -> None:
    rig.add(profile("a"))
    rig.mail.failures = [TransientMailError("smtp_421", "busy"), TransientMailError("connection_refused")]
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.keys_sent() == ["a|ungm:1001|1|new_match"]
    assert rig.mail.calls == 3
    assert [s for _, s in rig.statuses()] == ["failed", "failed", "sent"]
    assert [e.attempt for e in rig.events()] == [1, 2, 3]
    # Full jitter: each delay lies within its exponential bound.
    assert len(rig.sleeps) == 2
    assert 0 <= rig.sleeps[0] <= 1.0
    assert 0 <= rig.sleeps[1] <= 2.0
    record = rig.store.get("a|ungm:1001|1|new_match")
    assert record is not None
    assert (record.state, record.attempt) == (State.SENT, 3)


def test_attempts_exhausted_are_parked_with_a_summary_and_nothing_is_sent(rig: Rig) -> None:
    rig.add(profile("a"))
    rig.mail.failures = [TransientMailError("timeout") for _ in range(10)]
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.sent == []
    assert rig.mail.calls == 4
    assert [s for _, s in rig.statuses()] == ["failed"] * 4 + ["parked"]
    (dl,) = rig.dead_letters()
    assert (dl.reason, dl.key, dl.attempts) == ("smtp_retries_exhausted", "a|ungm:1001|1|new_match", 4)
    summary = json.loads(dl.payload)
    assert summary["supplier_id"] == "a"
    assert "a@example.com" not in dl.payload  # no addresses, no body
    assert "Why it matched" not in dl.payload
    # Parked is final: a redelivery does not try again.
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.calls == 4


def test_a_permanent_rejection_is_parked_at_once(rig: Rig) -> None:
    rig.add(profile("a"), profile("b"))
    rig.mail.failures = [PermanentMailError("smtp_550", "RCPT TO: 550 no such user")]
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a", "b"]))
    assert rig.mail.calls == 2
    assert rig.keys_sent() == ["b|ungm:1001|1|new_match"]
    assert [d.reason for d in rig.dead_letters()] == ["smtp_permanent"]
    assert rig.sleeps == []


def test_crash_before_the_final_dot_is_resent_once_after_restart(rig: Rig) -> None:
    rig.add(profile("a"))
    rig.mail.failures = [Crash()]
    with pytest.raises(Crash):
        rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    record = rig.store.get("a|ungm:1001|1|new_match")
    assert record is not None
    assert record.state == State.SENDING
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))  # the restarted process gets the redelivery
    assert rig.keys_sent() == ["a|ungm:1001|1|new_match"]
    assert str(rig.mail.sent[0]["Message-ID"]) == record.message_id


def test_crash_after_the_final_dot_is_never_sent_again(rig: Rig) -> None:
    rig.add(profile("a"))
    rig.mail.failures, rig.mail.fail_after_commit = [Crash()], True
    with pytest.raises(Crash):
        rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    record = rig.store.get("a|ungm:1001|1|new_match")
    assert record is not None
    assert record.state == State.COMMITTING
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.calls == 1
    assert [(e.status.value, e.reason) for e in rig.events()] == [("sent", "unconfirmed")]


def test_a_connection_lost_after_the_final_dot_is_not_retried(rig: Rig) -> None:
    rig.add(profile("a"))
    rig.mail.failures = [UncertainDelivery("no_reply_after_data")]
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.calls == 1
    assert [(e.status.value, e.reason) for e in rig.events()] == [("sent", "unconfirmed")]


def test_a_record_held_by_another_instance_is_waited_for_then_taken_over(rig: Rig) -> None:
    rig.add(profile("a"))
    rig.mail.failures = [Crash()]
    with pytest.raises(Crash):
        rig.notifier(instance_id="other").alerts.handle_shortlist(shortlist(notice(), ["a"]))
    started = rig.now
    # The shortlist moves to n1 (rebalance): it waits for the other's lease, then sends, once.
    rig.notifier("n1").alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.keys_sent() == ["a|ungm:1001|1|new_match"]
    assert rig.now - started >= timedelta(seconds=rig.settings.notifier_lease_s)


def test_abandoned_records_nobody_comes_back_to_are_settled_by_the_sweep(rig: Rig) -> None:
    rig.add(profile("a"), profile("b"))
    rig.mail.failures = [Crash()]
    with pytest.raises(Crash):
        rig.notifier(instance_id="gone-1").alerts.handle_shortlist(shortlist(notice("1"), ["a"]))
    rig.mail.failures, rig.mail.fail_after_commit = [Crash()], True
    with pytest.raises(Crash):
        rig.notifier(instance_id="gone-2").alerts.handle_shortlist(shortlist(notice("2"), ["b"]))
    n = rig.notifier("n1")
    assert n.delivery.resolve_abandoned() == 0  # leases still running
    rig.now += timedelta(seconds=rig.settings.notifier_lease_s + 1)
    assert n.delivery.resolve_abandoned() == 2
    assert [(d.key, d.reason) for d in rig.dead_letters()] == [("a|ungm:1|1|new_match", "retry_abandoned")]
    assert [(e.idempotency_key, e.reason) for e in rig.events() if e.status == NotificationStatus.SENT] == [
        ("b|ungm:2|1|new_match", "unconfirmed")
    ]


def test_daily_digest_groups_matches_once_per_local_day(rig: Rig) -> None:
    rig.add(profile("d", frequency=AlertFrequency.DAILY_DIGEST, timezone="Asia/Shanghai", digest_hour=8))
    n = rig.notifier()
    rig.now = datetime.fromisoformat("2026-11-25T20:00:00+00:00")  # 04:00 in Shanghai
    n.alerts.handle_shortlist(shortlist(notice("1", title="Soon", deadline=rig.now + timedelta(days=3)), ["d"]))
    n.alerts.handle_shortlist(shortlist(notice("2", title="Later", deadline=rig.now + timedelta(days=20)), ["d"]))
    n.alerts.handle_shortlist(shortlist(notice("3", title="Cancelled"), ["d"]))
    n.alerts.handle_shortlist(shortlist(notice("3", version=2, status=NoticeStatus.CANCELLED), ["d"]))  # withdrawn
    assert rig.mail.sent == []
    assert n.digests.send_due_digests() == 0  # not 08:00 there yet
    rig.now = datetime.fromisoformat("2026-11-26T00:30:00+00:00")  # 08:30 in Shanghai
    assert n.digests.send_due_digests() == 1
    assert n.digests.send_due_digests() == 0
    (digest,) = rig.mail.sent
    assert digest["X-Tenderbridge-Key"] == "d|digest|2026-11-26"
    text = digest.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert body.index("Closing soon") < body.index("Soon\n") < body.index("New matches") < body.index("Later\n")
    assert "Cancelled" not in body
    # A match arriving after today's digest waits for tomorrow's.
    n.alerts.handle_shortlist(shortlist(notice("4"), ["d"]))
    assert n.digests.send_due_digests() == 0
    rig.now += timedelta(days=1)
    assert n.digests.send_due_digests() == 1
    assert rig.keys_sent() == ["d|digest|2026-11-26", "d|digest|2026-11-27"]
    assert [e.notice_ids for e in rig.events() if e.status == NotificationStatus.SENT] == [
        ["ungm:1", "ungm:2"],
        ["ungm:4"],
    ]
    # Digest items count as alerted: an amendment follows immediately.
    n.alerts.handle_shortlist(shortlist(notice("1", version=2, status=NoticeStatus.AMENDED), ["d"], previously=["d"]))
    assert rig.keys_sent()[-1] == "d|ungm:1|2|amendment"


def test_unsubscribe_applies_at_once_and_reaches_the_matcher_when_it_is_back(rig: Rig) -> None:
    rig.add(profile("a"), profile("b"))
    n = rig.notifier()
    rig.matcher.down = True
    assert n.subscriptions.unsubscribe("a") is False
    n.alerts.handle_shortlist(shortlist(notice(), ["a", "b"]))
    assert rig.keys_sent() == ["b|ungm:1001|1|new_match"]
    # A restart keeps it (it is stored), and the retry delivers it to the matcher.
    restarted = Rig(rig.settings, store=rig.store, matcher=rig.matcher).notifier()
    restarted.profiles.put(profile("a"))
    restarted.subscriptions.load_unsubscribes()
    assert restarted.profiles.get("a") is not None
    assert restarted.profiles.get("a").preferences.unsubscribed  # type: ignore[union-attr]
    assert restarted.subscriptions.sync_unsubscribes() == 1
    rig.matcher.down = False
    assert restarted.subscriptions.sync_unsubscribes() == 0
    assert rig.matcher.unsubscribed == ["a"]
    # The supplier later subscribes again at the matcher: the newer profile wins.
    again = profile("a").model_copy(update={"updated_at": rig.now + timedelta(hours=1)})
    restarted.profiles.put(again)
    assert not restarted.profiles.get("a").preferences.unsubscribed  # type: ignore[union-attr]


def test_one_click_unsubscribe_endpoint(rig: Rig) -> None:
    rig.add(profile("a"), profile("b"))
    n, client = http(rig)
    token = n.signer.token(tokens.UNSUBSCRIBE, "a")
    one_click = {"Content-Type": "application/x-www-form-urlencoded"}
    page = client.get(f"/unsubscribe?token={token}")
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    assert rig.matcher.unsubscribed == []  # a GET changes nothing
    resp = client.post(f"/unsubscribe?token={token}", content="List-Unsubscribe=One-Click", headers=one_click)
    assert resp.status_code == 200
    assert resp.json() == {"supplier_id": "a", "unsubscribed": True, "matcher_updated": True}
    assert rig.matcher.unsubscribed == ["a"]
    assert rig.profiles.get("a").preferences.unsubscribed  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "forged",
    [
        lambda n: (
            n.signer.token(tokens.UNSUBSCRIBE, "a").split(".")[0]
            + "."
            + n.signer.token(tokens.UNSUBSCRIBE, "b").split(".")[1]
        ),
        lambda n: n.signer.token(tokens.PREFERENCES, "a"),
        lambda n: "garbage",
        lambda n: "%00%ff..",
    ],
)
def test_forged_tokens_get_403_problem_json_and_change_nothing(rig: Rig, forged: Any) -> None:
    rig.add(profile("a"), profile("b"))
    n, client = http(rig)
    resp = client.post(f"/unsubscribe?token={forged(n)}", content="List-Unsubscribe=One-Click")
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/unsubscribe?token={forged(n)}").status_code == 403
    assert rig.matcher.unsubscribed == []
    assert rig.store.unsubscribes() == []


def test_preferences_page_and_operations_endpoints(rig: Rig) -> None:
    rig.add(profile("a", language="zh-Hans", frequency=AlertFrequency.DAILY_DIGEST))
    n, client = http(rig)
    page = client.get(f"/preferences?token={n.signer.token(tokens.PREFERENCES, 'a')}")
    assert page.status_code == 200
    assert "提醒设置" in page.text
    assert "daily_digest" in page.text
    assert client.get(f"/preferences?token={n.signer.token(tokens.UNSUBSCRIBE, 'a')}").status_code == 403
    assert client.get("/unsubscribe").status_code == 422
    assert client.get("/healthz").json() == {"status": "ok"}
    n.alerts.handle_shortlist(shortlist(notice(), ["a"]))  # queued (digest)
    metrics = client.get("/metrics").text
    assert "notifier_digest_items_queued_total 1.0" in metrics


def test_unsubscribe_links_in_emails_verify(rig: Rig) -> None:
    rig.add(profile("a"))
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice(), ["a"]))
    header = str(rig.mail.sent[0]["List-Unsubscribe"])
    assert header.startswith("<https://alerts.example.org/unsubscribe?token=")
    token = header.strip("<>").split("token=")[1]
    assert n.signer.verify(tokens.UNSUBSCRIBE, token) == "a"


def test_rate_limiter_spaces_messages() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert slept == pytest.approx([0.25, 0.25, 0.25, 0.25])
    unlimited = RateLimiter(0, clock=lambda: now[0], sleep=sleep)
    unlimited.wait()
    assert len(slept) == 4


def test_records_survive_a_round_trip_through_their_document() -> None:
    record = Record("k", State.RETRYING, "new_match", "a", ["ungm:1"], 2, 3, "<m@x>", "n1", NOW, "smtp_421")
    again = Record.from_doc(record.doc())
    assert again == record

"""Who gets which email, digest timing and grouping, backoff, keys and tokens: pure functions, tables of cases."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

import pytest

from contracts import AlertFrequency, Money, NoticeStatus, NotificationEvent, NotificationKind, SupplierProfile
from services.notifier.domain import tokens
from services.notifier.domain.rules import (
    DigestItem,
    backoff_delay,
    digest_day,
    digest_key,
    digest_sections,
    plan_shortlist,
    preferences_block,
)
from services.notifier.exceptions import InvalidToken
from tests.unit.notifier.factories import NOW, notice, profile, shortlist

pytestmark = pytest.mark.unit


def keys(deliveries: list[object]) -> list[str]:
    return [d.key for d in deliveries]  # type: ignore[attr-defined]


def test_idempotency_keys_follow_the_contract() -> None:
    assert NotificationEvent.make_key("s1", "ungm:1", 2, NotificationKind.AMENDMENT) == "s1|ungm:1|2|amendment"
    assert digest_key("s1", date(2026, 11, 26)) == "s1|digest|2026-11-26"
    plan = plan_shortlist(shortlist(notice(), ["s1"]), {"s1": profile("s1")}, set())
    assert keys(plan.send) == ["s1|ungm:1001|1|new_match"]


def test_new_shortlist_sends_to_deliverable_suppliers_and_reports_the_rest() -> None:
    profiles: dict[str, SupplierProfile | None] = {
        "ok": profile("ok"),
        "digest": profile("digest", frequency=AlertFrequency.DAILY_DIGEST),
        "gone": profile("gone", unsubscribed=True),
        "mute": profile("mute", emails=[]),
        "nowhere": profile("nowhere", countries=["BR"]),
        "unknown": None,
    }
    plan = plan_shortlist(shortlist(notice(), list(profiles)), profiles, set())
    assert keys(plan.send) == ["ok|ungm:1001|1|new_match"]
    assert keys(plan.queue) == ["digest|ungm:1001|1|new_match"]
    assert {(s.supplier_id, s.reason) for s in plan.skip} == {
        ("gone", "unsubscribed"),
        ("mute", "no_email"),
        ("nowhere", "preferences_countries"),
        ("unknown", "unknown_supplier"),
    }


def test_amended_notice_alerts_only_suppliers_already_alerted_and_new_ones_get_a_new_match() -> None:
    v2 = notice(version=2, status=NoticeStatus.AMENDED, changes=["deadline moved"])
    profiles = {s: profile(s) for s in ("a", "b", "c", "d")}
    # a was alerted for v1 and is still shortlisted; b was alerted and dropped off; c is new; d was shortlisted
    # before but never alerted and is off the list now.
    plan = plan_shortlist(shortlist(v2, ["a", "c"], previously=["a", "b", "d"]), profiles, {"a", "b"})
    assert keys(plan.send) == ["a|ungm:1001|2|amendment", "c|ungm:1001|2|new_match", "b|ungm:1001|2|amendment"]
    assert [(s.supplier_id, s.reason) for s in plan.skip] == [("d", "never_alerted")]


def test_cancellation_goes_only_to_suppliers_already_alerted() -> None:
    cancelled = notice(version=3, status=NoticeStatus.CANCELLED)
    profiles = {s: profile(s) for s in ("a", "b", "c")}
    plan = plan_shortlist(shortlist(cancelled, ["a", "b"], previously=["c"]), profiles, {"a", "c"})
    assert keys(plan.send) == ["a|ungm:1001|3|cancellation", "c|ungm:1001|3|cancellation"]
    assert [(s.supplier_id, s.reason) for s in plan.skip] == [("b", "never_alerted")]
    assert plan.withdraw == ["b"]


@pytest.mark.parametrize(
    ("prefs", "blocked"),
    [
        ({}, None),
        ({"codes": ["42130000"]}, None),  # UNSPSC family 4213 covers 42132203
        ({"codes": ["4213"]}, None),
        ({"codes": ["33141000"]}, None),  # CPV 33141 covers 33141420
        ({"codes": ["43210000"]}, "preferences_codes"),
        ({"countries": ["AF", "PK"]}, None),
        ({"countries": ["BR"]}, "preferences_countries"),
        ({"agencies": ["unicef supply division"]}, None),
        ({"agencies": ["WHO"]}, "preferences_agencies"),
        ({"min_value": Money(amount=1_000_000, currency="USD")}, None),
        ({"min_value": Money(amount=2_000_000, currency="USD")}, "preferences_min_value"),
        ({"min_value": Money(amount=2_000_000, currency="EUR")}, None),  # other currency: not comparable
    ],
)
def test_preference_filters(prefs: dict[str, object], blocked: str | None) -> None:
    assert preferences_block(profile(**prefs).preferences, notice()) == blocked


def test_a_filter_without_data_on_the_notice_does_not_block() -> None:
    bare = notice().model_copy(update={"delivery_countries": [], "estimated_value": None})
    prefs = profile(countries=["BR"], min_value=Money(amount=5, currency="USD")).preferences
    assert preferences_block(prefs, bare) is None


@pytest.mark.parametrize(
    ("zone", "hour", "now", "expected"),
    [
        ("UTC", 8, datetime(2026, 11, 26, 7, 59, tzinfo=UTC), None),
        ("UTC", 8, datetime(2026, 11, 26, 8, 0, tzinfo=UTC), date(2026, 11, 26)),
        ("UTC", 8, datetime(2026, 11, 26, 23, 0, tzinfo=UTC), date(2026, 11, 26)),  # late, same day
        # 08:00 in Shanghai is 00:00 UTC: at 23:30 UTC it is already 07:30 the next day there: not yet.
        ("Asia/Shanghai", 8, datetime(2026, 11, 25, 23, 30, tzinfo=UTC), None),
        ("Asia/Shanghai", 8, datetime(2026, 11, 26, 0, 0, tzinfo=UTC), date(2026, 11, 26)),
        # New York at 02:00 UTC is still the previous evening.
        ("America/New_York", 20, datetime(2026, 11, 27, 2, 0, tzinfo=UTC), date(2026, 11, 26)),
    ],
)
def test_digest_is_due_at_the_supplier_local_hour(zone: str, hour: int, now: datetime, expected: date | None) -> None:
    prefs = profile(timezone=zone, digest_hour=hour).preferences
    assert digest_day(prefs, now) == expected


def test_digest_sections_group_closing_soon_drop_expired_and_keep_the_latest_version() -> None:
    items = [
        DigestItem("late", notice("1", deadline=NOW + timedelta(days=30)), None),
        DigestItem("soon", notice("2", deadline=NOW + timedelta(days=2)), None),
        DigestItem("sooner", notice("3", deadline=NOW + timedelta(hours=5)), None),
        DigestItem("edge", notice("4", deadline=NOW + timedelta(days=7)), None),
        DigestItem("expired", notice("5", deadline=NOW - timedelta(hours=1)), None),
        DigestItem("v1", notice("6", deadline=NOW + timedelta(days=3)), None),
        DigestItem("v2", notice("6", version=2, deadline=NOW + timedelta(days=10)), None),
    ]
    sections = digest_sections(items, NOW, closing_soon_days=7)
    assert [i.key for i in sections.closing_soon] == ["sooner", "soon", "edge"]
    assert [i.key for i in sections.others] == ["v2", "late"]
    assert sorted(i.key for i in sections.dropped) == ["expired", "v1"]


def test_backoff_is_exponential_capped_and_jittered() -> None:
    assert [backoff_delay(a, 0.5, 30, 0.999999) for a in (1, 2, 3, 4)] == pytest.approx([0.5, 1, 2, 4], rel=1e-5)
    assert backoff_delay(20, 0.5, 30, 0.999999) == pytest.approx(30, rel=1e-5)
    assert backoff_delay(3, 0.5, 30, 0.0) == 0
    assert backoff_delay(3, 0.5, 30, 0.5) == pytest.approx(1)


SECRET = b"s3cret"


def test_tokens_round_trip_and_name_their_supplier() -> None:
    token = tokens.sign(SECRET, tokens.UNSUBSCRIBE, "sup-1")
    assert tokens.verify(SECRET, tokens.UNSUBSCRIBE, token) == "sup-1"
    assert base64.urlsafe_b64decode(token.split(".")[0] + "==").decode() == "sup-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: f"{_b64(b'sup-2')}.{t.split('.')[1]}",  # A's signature on B's id
        lambda t: tokens.sign(b"other-secret", tokens.UNSUBSCRIBE, "sup-2"),
        lambda t: tokens.sign(SECRET, tokens.PREFERENCES, "sup-2"),  # right secret, wrong purpose
        lambda t: t[:-4],
        lambda t: t.split(".")[0],
        lambda t: "",
        lambda t: "%00%ff..",
        lambda t: "é.é",
        lambda t: "x" * 600,
    ],
)
def test_forged_tokens_are_refused(forge: object) -> None:
    genuine = tokens.sign(SECRET, tokens.UNSUBSCRIBE, "sup-1")
    assert callable(forge)
    with pytest.raises(InvalidToken):
        tokens.verify(SECRET, tokens.UNSUBSCRIBE, forge(genuine))

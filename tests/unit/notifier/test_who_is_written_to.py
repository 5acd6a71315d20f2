"""Who is written to, against the notifier's fakes:

- an address its owner confirmed after a notice version was received gets no email about that version, whatever
  republishes the shortlist later (the backlog of open tenders is never sent at once after a confirmation);
- every supplier alerted about a notice (any version) hears of its amendment and its cancellation, once, even when
  ranked out of the shortlist since (not in the entries nor in ``previously_shortlisted``);
- one mailbox is addressed once, however often (and in whatever case) a profile lists it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import NoticeStatus, SupplierProfile
from contracts.supplier import EmailConfirmation
from services.notifier.domain.rules import plan_shortlist
from services.notifier.ports import Record, State
from tests.unit.notifier.factories import NOW, notice, profile, shortlist
from tests.unit.notifier.rig import Rig, recipients

pytestmark = pytest.mark.unit

CONFIRMED = NOW - timedelta(hours=1)


def confirmed_at(p: SupplierProfile, address: str, at: object = CONFIRMED) -> SupplierProfile:
    entry = EmailConfirmation(registered_by="UNICEF", registered_at=NOW - timedelta(days=2), confirmed_at=at)
    return p.model_copy(update={"email_confirmations": {**p.email_confirmations, address: entry}})


# -- no backlog after a confirmation ---------------------------------------------------------------------


def test_a_version_received_before_the_confirmation_is_never_alerted(rig: Rig) -> None:
    rig.add(confirmed_at(profile("a"), "a@example.com"))
    n = rig.notifier()
    old = notice("1", received_at=CONFIRMED - timedelta(minutes=5))
    new = notice("2", received_at=CONFIRMED + timedelta(minutes=5))
    n.alerts.handle_shortlist(shortlist(old, ["a"]))
    n.alerts.handle_shortlist(
        shortlist(old, ["b", "a"])
    )  # republished later (another supplier registered): still nothing
    n.alerts.handle_shortlist(shortlist(new, ["a"]))
    assert rig.keys_sent() == ["a|ungm:2|1|new_match"]
    assert ("a|ungm:1|1|new_match", "skipped") in rig.statuses()
    skipped = [e for e in rig.events() if e.idempotency_key == "a|ungm:1|1|new_match"]
    assert {e.reason for e in skipped} == {"confirmed_after_notice"}


def test_only_the_addresses_confirmed_before_the_version_are_written_to(rig: Rig) -> None:
    both = profile("a", emails=["old@example.com", "late@example.com"])
    rig.add(confirmed_at(confirmed_at(both, "old@example.com", NOW - timedelta(days=1)), "late@example.com"))
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice("1", received_at=CONFIRMED - timedelta(minutes=1)), ["a"]))
    n.alerts.handle_shortlist(shortlist(notice("2", received_at=CONFIRMED), ["a"]))
    assert [recipients(m) for m in rig.mail.sent] == [
        ["old@example.com"],
        ["old@example.com", "late@example.com"],
    ]


def test_a_roster_address_and_a_notice_without_a_stamp_are_not_limited(rig: Rig) -> None:
    rig.add(profile("a"), confirmed_at(profile("b"), "b@example.com"))
    n = rig.notifier()
    n.alerts.handle_shortlist(
        shortlist(notice("1", received_at=NOW - timedelta(days=30)), ["a"])
    )  # vouched by an admin
    n.alerts.handle_shortlist(shortlist(notice("2"), ["b"]))  # received_at unknown: no limit
    assert rig.keys_sent() == ["a|ungm:1|1|new_match", "b|ungm:2|1|new_match"]


def test_a_digest_goes_only_to_addresses_confirmed_before_its_items(rig: Rig) -> None:
    both = profile("a", emails=["old@example.com", "late@example.com"], frequency="daily_digest", digest_hour=0)
    rig.add(confirmed_at(confirmed_at(both, "old@example.com", NOW - timedelta(days=1)), "late@example.com"))
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice("1", received_at=CONFIRMED - timedelta(minutes=1)), ["a"]))
    n.alerts.handle_shortlist(shortlist(notice("2", received_at=CONFIRMED + timedelta(minutes=1)), ["a"]))
    assert n.digests.send_due_digests() == 1
    [digest] = rig.mail.sent
    assert recipients(digest) == ["old@example.com"]


# -- everyone alerted hears of the change and the cancellation ---------------------------------------------


def test_a_supplier_ranked_out_since_its_alert_is_told_of_the_amendment_and_the_cancellation(rig: Rig) -> None:
    rig.add(profile("a"), profile("b"), profile("c"), profile("gone"))
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice(), ["a", "gone"]))
    n.alerts.handle_shortlist(shortlist(notice(), ["b"]))  # v1 republished: a ranked out, b in
    rig.add(profile("gone", unsubscribed=True))
    v2 = notice(version=2, status=NoticeStatus.AMENDED, changes=["deadline moved"])
    n.alerts.handle_shortlist(shortlist(v2, ["c"], previously=["b"]))  # a is in neither list
    v3 = notice(version=3, status=NoticeStatus.CANCELLED)
    n.alerts.handle_shortlist(shortlist(v3, ["c"], previously=["c"]))  # the matcher names only v2's latest entries
    n.alerts.handle_shortlist(shortlist(v3, ["c"], previously=["c"]))  # redelivered: nobody twice
    assert rig.keys_sent() == [
        "a|ungm:1001|1|new_match",
        "gone|ungm:1001|1|new_match",
        "b|ungm:1001|1|new_match",
        "c|ungm:1001|2|new_match",
        "b|ungm:1001|2|amendment",
        "a|ungm:1001|2|amendment",
        "c|ungm:1001|3|cancellation",
        "a|ungm:1001|3|cancellation",
        "b|ungm:1001|3|cancellation",
    ]
    gone = [e.reason for e in rig.events() if e.idempotency_key == "gone|ungm:1001|3|cancellation"]
    assert set(gone) == {"unsubscribed"}  # alerted once, unsubscribed since: not written to


def test_a_cancellation_withdraws_every_queued_item_of_the_notice(rig: Rig) -> None:
    rig.add(profile("d", frequency="daily_digest"), profile("a"))
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice(), ["d", "a"]))  # d's match is queued for its digest
    n.alerts.handle_shortlist(shortlist(notice(version=3, status=NoticeStatus.CANCELLED), ["a"]))  # d is not on it
    [item] = rig.store.find(states=[State.WITHDRAWN])
    assert (item.supplier_id, item.reason) == ("d", "notice_cancelled")
    assert rig.store.find(states=[State.QUEUED]) == []


def test_the_plan_names_alerted_suppliers_off_the_shortlist() -> None:
    v2 = notice(version=2, status=NoticeStatus.AMENDED)
    plan = plan_shortlist(shortlist(v2, ["b"]), {"a": profile("a"), "b": profile("b")}, {"a"})
    assert [(d.kind.value, d.supplier_id, d.entry) for d in plan.send if d.supplier_id == "a"] == [
        ("amendment", "a", None)
    ]


# -- one mailbox, one copy ----------------------------------------------------------------------------------


def test_an_address_listed_twice_is_written_to_once(rig: Rig) -> None:
    twice = profile("a", emails=["Mixed.Case@Example.ORG", "second@example.org", "Second@example.org"])
    assert twice.emails == ["Mixed.Case@example.org", "second@example.org"]
    rig.add(twice)
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    [message] = rig.mail.sent
    assert recipients(message) == ["Mixed.Case@example.org", "second@example.org"]


def test_the_envelope_has_one_recipient_per_mailbox_even_for_a_profile_built_without_validation(rig: Rig) -> None:
    raw = profile("a").model_construct(**{**profile("a").__dict__, "emails": ["x@example.org", "X@example.org"]})
    n = rig.notifier()
    rig.add(raw)
    n.alerts.handle_shortlist(shortlist(notice(), ["a"]))
    [message] = rig.mail.sent
    assert recipients(message) == ["x@example.org"]
    assert isinstance(rig.store.get("a|ungm:1001|1|new_match"), Record)

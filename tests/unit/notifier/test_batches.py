"""A poll batch of shortlists handled together (``Notifier.handle_shortlists``): one claim request for all its
emails, rounds of ``notifier_smtp_connections`` emails with one ``committing`` and one ``sent`` request each, and the
same guarantees as one email at a time: keys claimed before are not sent again, a crash between any two bulk steps
never sends twice and loses nothing that was not presumed delivered, a failed bulk item is retried, never dropped.

A restart is a new ``Notifier`` over the same store (same instance id, nothing in flight)."""

from __future__ import annotations

from collections import Counter

import pytest

from contracts import NoticeStatus, Shortlist
from services.notifier.adapters.memory import WriteFault
from services.notifier.exceptions import ShuttingDown, StoreUnavailable, TransientMailError
from services.notifier.ports import State
from tests.unit.notifier.factories import notice, profile, shortlist
from tests.unit.notifier.rig import Crash, Rig, unit_settings

pytestmark = pytest.mark.unit

SUPPLIERS = ["a", "b", "c", "d", "e"]


@pytest.fixture
def rig() -> Rig:
    r = Rig(unit_settings(notifier_lease_s=30.0, notifier_store_retry_s=20.0, notifier_smtp_connections=2))
    r.mail.connections = 2
    r.add(*(profile(s) for s in SUPPLIERS))
    return r


def batch() -> list[Shortlist]:
    """Two notices, five emails: a round of two, a round of two and a round of one."""
    return [shortlist(notice("1"), ["a", "b", "c"]), shortlist(notice("2"), ["d", "e"])]


def all_keys() -> list[str]:
    return sorted(
        [f"{s}|ungm:1|1|new_match" for s in ["a", "b", "c"]] + [f"{s}|ungm:2|1|new_match" for s in ["d", "e"]]
    )


def states(rig: Rig) -> dict[str, tuple[State, str | None]]:
    return {key: (record.state, record.reason) for key, (record, _) in rig.store.records.items()}


def test_a_batch_is_claimed_in_one_request_and_written_in_one_request_per_round_and_step(rig: Rig) -> None:
    rig.notifier().alerts.handle_shortlists(batch())
    assert sorted(rig.keys_sent()) == all_keys()
    assert set(states(rig).values()) == {(State.SENT, None)}
    assert sorted(k for k, s in rig.statuses() if s == "sent") == all_keys()
    # 1 claim request; 3 rounds (2 + 2 + 1 emails), each one request for its "committing" and the previous round's
    # "sent", then one for the last round's "sent"; 1 refresh.
    assert rig.store.bulk_requests == {"claim_many": 1, "replace_many": 4, "make_searchable": 1}
    # Each email carries its own record's Message-ID.
    ids = {str(m["X-Tenderbridge-Key"]): str(m["Message-ID"]) for m in rig.mail.sent}
    assert all(ids[k] == rig.store.records[k][0].message_id for k in ids)


def test_keys_claimed_before_are_not_sent_again_and_the_others_are(rig: Rig) -> None:
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice("1"), ["a", "b"]))  # an earlier batch
    sent_before = len(rig.mail.sent)
    n.alerts.handle_shortlists(batch())
    new = [str(m["X-Tenderbridge-Key"]) for m in rig.mail.sent[sent_before:]]
    assert sorted(new) == ["c|ungm:1|1|new_match", "d|ungm:2|1|new_match", "e|ungm:2|1|new_match"]
    assert sorted(rig.keys_sent()) == all_keys()


def test_a_redelivered_batch_after_success_sends_nothing(rig: Rig) -> None:
    rig.notifier().alerts.handle_shortlists(batch())
    rig.notifier().alerts.handle_shortlists(batch())  # the offsets were not committed: the restart gets it again
    rig.notifier(instance_id="n2").alerts.handle_shortlists(batch())  # another instance after a rebalance
    assert sorted(rig.keys_sent()) == all_keys()


def test_shortlists_of_one_notice_in_one_batch_see_each_other(rig: Rig) -> None:
    v2 = notice("1", version=2, status=NoticeStatus.AMENDED, changes=["deadline moved"])
    v3 = notice("1", version=3, status=NoticeStatus.CANCELLED)
    rig.notifier().alerts.handle_shortlists(
        [shortlist(notice("1"), ["a"]), shortlist(v2, ["b"], previously=["a"]), shortlist(v3, ["a", "b"])]
    )
    assert sorted(rig.keys_sent()) == [
        "a|ungm:1|1|new_match",
        "a|ungm:1|2|amendment",
        "a|ungm:1|3|cancellation",
        "b|ungm:1|2|new_match",
        "b|ungm:1|3|cancellation",
    ]


# -- a crash between two bulk steps, then the restarted process gets the batch again -------------------------------


def test_crash_after_the_claim_before_any_final_dot_sends_everything_once_after_restart(rig: Rig) -> None:
    rig.mail.failures = [Crash()]  # dies while the first message is written, before any "committing"
    with pytest.raises(Crash):
        rig.notifier().alerts.handle_shortlists(batch())
    assert rig.mail.sent == []
    assert {s for s, _ in states(rig).values()} == {State.SENDING}
    rig.notifier().alerts.handle_shortlists(batch())
    assert sorted(rig.keys_sent()) == all_keys()
    assert set(states(rig).values()) == {(State.SENT, None)}


def test_crash_after_committing_before_the_dots_is_presumed_delivered_never_resent(rig: Rig) -> None:
    # A round's "committing" is stored, then the process dies before its "." are written (microseconds in reality).
    rig.mail.fail_after_commit = True
    rig.mail.failures = [Crash()]
    with pytest.raises(Crash):
        rig.notifier().alerts.handle_shortlists(batch())
    committing = sorted(k for k, (s, _) in states(rig).items() if s == State.COMMITTING)
    assert len(committing) == 2  # the first round
    rig.mail.fail_after_commit = False
    rig.notifier().alerts.handle_shortlists(batch())
    assert sorted(rig.keys_sent()) == sorted(set(all_keys()) - set(committing))  # each at most once
    assert {k: states(rig)[k] for k in committing} == dict.fromkeys(committing, (State.SENT, "unconfirmed"))
    unconfirmed = [e.idempotency_key for e in rig.events() if e.reason == "unconfirmed"]
    assert sorted(unconfirmed) == committing  # reported, not silent


def test_crash_after_the_dots_before_the_sent_write_never_resends(rig: Rig) -> None:
    # The first round's "sent" goes with the second round's "committing": the process dies in that request.
    rig.store.faults = [WriteFault(State.SENT, Crash())]
    with pytest.raises(Crash):
        rig.notifier().alerts.handle_shortlists(batch())
    delivered = sorted(rig.keys_sent())
    assert len(delivered) == 2  # the first round
    rig.notifier().alerts.handle_shortlists(batch())
    assert max(Counter(rig.keys_sent()).values()) == 1  # nothing sent twice
    assert {s for s, _ in states(rig).values()} == {State.SENT}  # everything settled
    unconfirmed = {k for k, (_, reason) in states(rig).items() if reason == "unconfirmed"}
    assert set(delivered) <= unconfirmed  # delivered before the crash: presumed so, not resent
    assert set(rig.keys_sent()) | unconfirmed == set(all_keys())


def test_a_stop_request_between_rounds_leaves_the_rest_for_the_redelivery(rig: Rig) -> None:
    rounds: list[int] = []

    def stop() -> bool:
        rounds.append(len(rig.mail.sent))
        return len(rig.mail.sent) >= 2

    with pytest.raises(ShuttingDown):
        rig.notifier().alerts.handle_shortlists(batch(), stop=stop)
    assert len(rig.mail.sent) == 2
    rig.notifier().alerts.handle_shortlists(batch())
    assert sorted(rig.keys_sent()) == all_keys()


# -- bulk items failing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied-reply-lost"])
def test_a_failed_claim_item_is_claimed_again_alone_and_sent_once(rig: Rig, applied: bool) -> None:
    rig.store.faults = [WriteFault(State.SENDING, StoreUnavailable("bulk item: 429"), applied)]
    rig.notifier().alerts.handle_shortlists(batch())
    assert sorted(rig.keys_sent()) == all_keys()
    assert len(rig.keys_sent()) == len(all_keys())
    assert set(states(rig).values()) == {(State.SENT, None)}


@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied-reply-lost"])
def test_a_failed_committing_item_is_retried_with_backoff_and_its_email_sent_once(rig: Rig, applied: bool) -> None:
    rig.store.faults = [WriteFault(State.COMMITTING, StoreUnavailable("bulk item: 503"), applied)]
    rig.notifier().alerts.handle_shortlists(batch())
    assert sorted(rig.keys_sent()) == all_keys()
    assert set(states(rig).values()) == {(State.SENT, None)}
    assert len(rig.sleeps) == 1  # one backoff before the item's retry


def test_a_committing_item_failing_for_good_stops_the_worker_and_its_email_is_sent_after_restart(rig: Rig) -> None:
    rig.store.faults = [WriteFault(State.COMMITTING, StoreUnavailable("connection refused"))] * 50
    with pytest.raises(StoreUnavailable):
        rig.notifier().alerts.handle_shortlists(batch())
    assert rig.mail.sent == []  # no "." without a stored "committing"
    assert {s for s, _ in states(rig).values()} == {State.SENDING}
    rig.store.faults = []
    rig.notifier().alerts.handle_shortlists(batch())
    assert sorted(rig.keys_sent()) == all_keys()


def test_a_failed_sent_item_is_retried_never_resent(rig: Rig) -> None:
    rig.store.faults = [WriteFault(State.SENT, StoreUnavailable("bulk item: 503"))] * 2
    rig.notifier().alerts.handle_shortlists(batch())
    rig.notifier().alerts.handle_shortlists(batch())
    assert sorted(rig.keys_sent()) == all_keys()
    assert set(states(rig).values()) == {(State.SENT, None)}


def test_transient_smtp_failures_in_a_round_are_retried_with_their_attempts_counted(rig: Rig) -> None:
    rig.mail.failures = [TransientMailError("smtp_421"), TransientMailError("smtp_451")]
    rig.notifier().alerts.handle_shortlists(batch())
    assert sorted(rig.keys_sent()) == all_keys()
    attempts = {k: r.attempt for k, (r, _) in rig.store.records.items()}
    assert sorted(attempts.values()) == [1, 1, 1, 2, 2]
    assert [s for _, s in rig.statuses()].count("failed") == 2

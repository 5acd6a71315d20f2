"""The state writes around the final "." when Elasticsearch fails or another instance takes over: an email the
SMTP server may have accepted is never sent again, one it cannot have accepted is sent (once).

A restart is a new ``Notifier`` over the same store (same instance id, nothing in flight); Elasticsearch going away is
a ``WriteFault`` of the in-memory store, before the write (not applied) or after it (applied, reply lost)."""

from __future__ import annotations

import contextlib
import socket
from datetime import timedelta

import pytest
from elasticsearch import Elasticsearch

from services.notifier.adapters.memory import WriteFault
from services.notifier.adapters.store import ElasticsearchNotificationStore
from services.notifier.exceptions import ShuttingDown, StoreUnavailable, TransientMailError
from services.notifier.ports import Record, State
from services.notifier.service import Notifier
from tests.unit.notifier.factories import notice, profile, shortlist
from tests.unit.notifier.rig import Rig, unit_settings

pytestmark = pytest.mark.unit

KEY = "a|ungm:1001|1|new_match"


@pytest.fixture
def rig() -> Rig:
    r = Rig(unit_settings(notifier_lease_s=30.0, notifier_store_retry_s=20.0))
    r.add(profile("a"))
    return r


def down(state: State, times: int = 1, *, applied: bool = False) -> list[WriteFault]:
    return [WriteFault(state, StoreUnavailable(f"{state.value} write: connection refused"), applied)] * times


def stored(rig: Rig) -> Record:
    record = rig.store.get(KEY)
    assert record is not None
    return record


def events(rig: Rig) -> list[tuple[str, str | None]]:
    return [(e.status.value, e.reason) for e in rig.events()]


# -- before the final "." ---------------------------------------------------------------------------------------


def test_committing_write_failing_is_retried_and_the_email_sent_once(rig: Rig) -> None:
    rig.store.faults = down(State.COMMITTING, 2)
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.keys_sent() == [KEY]
    assert (stored(rig).state, stored(rig).reason) == (State.SENT, None)
    assert events(rig) == [("sent", None)]
    assert len(rig.sleeps) == 2


def test_committing_write_applied_but_its_reply_lost_is_recognised_as_ours(rig: Rig) -> None:
    # Without recognising it, the retry conflicts with our own write; and a crash there leaves "committing" with
    # no "." written, which a restart presumes delivered: the email would never reach the supplier.
    rig.store.faults = down(State.COMMITTING, applied=True)
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))  # a redelivery after the restart
    assert rig.keys_sent() == [KEY]
    assert events(rig) == [("sent", None)]


def test_store_gone_for_good_before_the_dot_sends_nothing_and_the_restart_sends_once(rig: Rig) -> None:
    rig.store.faults = down(State.COMMITTING, 1000)
    with pytest.raises(StoreUnavailable):
        rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.sent == []
    assert stored(rig).state == State.SENDING
    message_id = stored(rig).message_id
    rig.store.faults = []
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.keys_sent() == [KEY]
    assert str(rig.mail.sent[0]["Message-ID"]) == message_id


def test_a_store_restart_losing_our_last_write_before_the_dot_is_not_taken_for_a_takeover(rig: Rig) -> None:
    # The SMTP server said 421 (nothing delivered); the store then loses the "retrying" write while it restarts.
    # Our own older version is still ours: the email is sent, not abandoned as if another instance had it.
    rig.mail.failures = [TransientMailError("smtp_421")]
    rig.store.faults = [WriteFault(State.SENDING, StoreUnavailable("sending write: connection refused"), forget=True)]
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.keys_sent() == [KEY]
    assert (stored(rig).state, stored(rig).attempt) == (State.SENT, 2)
    assert events(rig) == [("failed", "smtp_421"), ("sent", None)]


# -- after the final "." ----------------------------------------------------------------------------------------


def test_sent_write_failing_after_acceptance_is_retried_never_resent(rig: Rig) -> None:
    rig.store.faults = down(State.SENT, 3)
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))  # redelivered after a restart: nothing more
    assert rig.mail.calls == 1
    assert (stored(rig).state, stored(rig).reason) == (State.SENT, None)
    assert events(rig) == [("sent", None)]


def test_store_restart_losing_committing_then_failing_the_sent_write_does_not_resend(rig: Rig) -> None:
    # The e2e duplicate (Kafka + Elasticsearch restarted mid-stream): the broker acknowledged "committing" in its
    # last moments and lost it, the "." went out and was accepted, the "sent" write found the broker gone. Crashing
    # there left "sending" behind, which the restarted notifier took over: the same email (same Message-ID) again.
    rig.store.faults = [WriteFault(State.SENT, StoreUnavailable("sent write: connection refused"), forget=True)]
    with contextlib.suppress(StoreUnavailable):  # if it crashes, the supervisor restarts it
        rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))  # the redelivery after the restart
    assert rig.keys_sent() == [KEY]
    assert rig.mail.calls == 1
    assert (stored(rig).state, stored(rig).reason) == (State.SENT, None)
    assert events(rig) == [("sent", None)]


def test_sent_write_applied_but_its_reply_lost_is_recorded_once(rig: Rig) -> None:
    rig.store.faults = down(State.SENT, applied=True)
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.calls == 1
    assert stored(rig).state == State.SENT
    assert events(rig) == [("sent", None)]


def test_sent_write_failing_for_good_stops_the_worker_and_the_restart_does_not_resend(rig: Rig) -> None:
    rig.store.faults = down(State.SENT, 1000)
    with pytest.raises(StoreUnavailable):
        rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.calls == 1
    assert stored(rig).state == State.COMMITTING
    rig.store.faults = []
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.calls == 1
    assert (stored(rig).state, stored(rig).reason) == (State.SENT, "unconfirmed")
    assert events(rig) == [("sent", "unconfirmed")]


def test_a_stop_request_while_the_sent_write_is_retried_does_not_resend(rig: Rig) -> None:
    def stopping(seconds: float) -> None:
        raise ShuttingDown("stop requested during a retry backoff")

    rig.store.faults = down(State.SENT, 1000)
    n = rig.notifier("n1", sleep=stopping)
    with pytest.raises(ShuttingDown):
        n.alerts.handle_shortlist(shortlist(notice(), ["a"]))
    rig.store.faults = []
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.calls == 1
    assert events(rig) == [("sent", "unconfirmed")]


# -- another instance took over meanwhile -----------------------------------------------------------------------


def _instance_taking_over_during_first_sleep(rig: Rig) -> Notifier:
    """n1, whose first sleep (a retry backoff or a store retry) lasts past its lease, while n2 gets the shortlist
    (a rebalance) and takes the email over."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        rig.now += timedelta(seconds=seconds)
        if len(slept) == 1:
            rig.now += timedelta(seconds=rig.settings.notifier_lease_s + 1)
            rig.notifier("n2").alerts.handle_shortlist(shortlist(notice(), ["a"]))

    return rig.notifier("n1", sleep=sleep)


def test_an_email_taken_over_during_a_retry_backoff_is_not_sent_again_by_its_first_owner(rig: Rig) -> None:
    rig.mail.failures = [TransientMailError("smtp_421")]
    _instance_taking_over_during_first_sleep(rig).alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.keys_sent() == [KEY]
    assert (stored(rig).state, stored(rig).owner) == (State.SENT, "n2")


def test_an_email_taken_over_while_its_committing_write_is_retried_gets_no_final_dot(rig: Rig) -> None:
    rig.store.faults = down(State.COMMITTING)
    _instance_taking_over_during_first_sleep(rig).alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.keys_sent() == [KEY]
    assert (stored(rig).state, stored(rig).owner) == (State.SENT, "n2")
    assert [s for s, _ in events(rig)] == ["sent"]


# -- the Elasticsearch adapter ----------------------------------------------------------------------------------


def test_an_unreachable_elasticsearch_is_store_unavailable_not_a_crash_of_another_kind() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    es = Elasticsearch(f"http://127.0.0.1:{port}", max_retries=0, request_timeout=2)
    store = ElasticsearchNotificationStore(es, "unit-notifications", "unit-unsubscribes")
    record = Record(KEY, State.COMMITTING, "new_match", "a")
    with pytest.raises(StoreUnavailable):
        store.replace(record)
    with pytest.raises(StoreUnavailable):
        store.get(KEY)
    with pytest.raises(StoreUnavailable):
        store.claim(record)
    es.close()

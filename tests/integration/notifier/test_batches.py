"""The batched path on real servers: the SMTP adapter's rounds over several connections against aiosmtpd, the
Elasticsearch store's bulk claim and bulk writes, and a notifier that dies between two bulk steps, rebuilt on the
same index: every email arrives exactly once."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import pytest
from elasticsearch import Elasticsearch

from contracts import NoticeStatus
from services.notifier.adapters.mail import SmtpMailSender
from services.notifier.adapters.store import ElasticsearchNotificationStore
from services.notifier.bootstrap import bootstrap_in_memory, smtp_sender
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.exceptions import PermanentMailError, StoreUnavailable, TransientMailError
from services.notifier.ports import Record, State
from services.notifier.service import Notifier
from services.notifier.settings import Settings
from tests.conftest import Endpoints
from tests.integration.notifier.helpers import Sink, isolated_settings, message
from tests.unit.notifier.factories import notice, profile, shortlist

pytestmark = pytest.mark.integration


class Crash(BaseException):
    """The process dies here (kill -9): nothing after this line runs."""


@pytest.fixture(params=[False, True], ids=["stepwise", "pipelined"])
def sink(request: pytest.FixtureRequest) -> Iterator[Sink]:
    s = Sink(pipelining=request.param).start()
    yield s
    s.stop()


# -- SMTP: rounds over several connections -------------------------------------------------------------------------


def test_rounds_over_several_connections_deliver_every_message_once(sink: Sink) -> None:
    sender = SmtpMailSender("127.0.0.1", sink.port, timeout_s=5, connections=4)
    rounds: list[list[int]] = []

    def commit(indexes: list[int]) -> list[int]:
        rounds.append(indexes)
        return indexes

    outcomes = sender.send_many([message(i) for i in range(10)], commit)
    outcomes += sender.send_many([message(i) for i in range(10, 13)], commit)  # the same connections, reused
    sender.close()
    sink.wait_for(13)
    assert outcomes == [None] * 13
    assert rounds == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2]]
    assert sender.connections_opened == 4
    assert sorted(sink.keys()) == sorted(f"k{i}" for i in range(13))


def test_a_message_withheld_at_commit_is_discarded_by_the_server_and_the_others_arrive(sink: Sink) -> None:
    sender = SmtpMailSender("127.0.0.1", sink.port, timeout_s=5, connections=3)
    outcomes = sender.send_many([message(i) for i in range(3)], lambda indexes: [i for i in indexes if i != 1])
    assert [o is None for o in outcomes] == [True, False, True]
    assert isinstance(outcomes[1], TransientMailError)
    # The connection of the withheld message was dropped mid-DATA: the next round opens a fresh one, cleanly.
    assert sender.send_many([message(3)], lambda indexes: indexes) == [None]
    sender.close()
    sink.wait_for(3)
    assert sorted(sink.keys()) == ["k0", "k2", "k3"]


def test_a_rejected_recipient_in_a_round_fails_alone(sink: Sink) -> None:
    sender = SmtpMailSender("127.0.0.1", sink.port, timeout_s=5, connections=3)
    messages = [message(0), message(1, to="reject@example.com"), message(2)]
    outcomes = sender.send_many(messages, lambda indexes: indexes)
    sender.close()
    assert isinstance(outcomes[1], PermanentMailError)
    assert outcomes[0] is None
    assert outcomes[2] is None
    sink.wait_for(2)
    assert sorted(sink.keys()) == ["k0", "k2"]


def test_commit_failing_writes_no_final_dot_and_the_connections_recover() -> None:
    sink = Sink().start()
    try:
        sender = SmtpMailSender("127.0.0.1", sink.port, timeout_s=5, connections=2)

        def store_down(indexes: list[int]) -> list[int]:
            raise StoreUnavailable("committing: connection refused")

        with pytest.raises(StoreUnavailable):
            sender.send_many([message(0), message(1)], store_down)
        assert sender.send_many([message(2), message(3)], lambda indexes: indexes) == [None, None]
        sender.close()
        sink.wait_for(2)
        assert sorted(sink.keys()) == ["k2", "k3"]
    finally:
        sink.stop()


# -- Elasticsearch: bulk claim and bulk writes ---------------------------------------------------------------------


@contextlib.contextmanager
def es_store(url: str, notifications: str, unsubscribes: str) -> Iterator[ElasticsearchNotificationStore]:
    """A store on fresh indexes of the local Elasticsearch, removed afterwards."""
    es = Elasticsearch(url, request_timeout=30)
    s = ElasticsearchNotificationStore(es, notifications, unsubscribes)
    s.ensure_indexes()
    try:
        yield s
    finally:
        es.indices.delete(index=f"{notifications},{unsubscribes}", ignore_unavailable=True)
        es.close()


def settings_store(settings: Settings) -> contextlib.AbstractContextManager[ElasticsearchNotificationStore]:
    return es_store(settings.elasticsearch_url, settings.notifications_index, settings.unsubscribes_index)


@pytest.fixture
def store(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[ElasticsearchNotificationStore]:
    prefix = unique("tb")
    with es_store(endpoints.elasticsearch_url, f"{prefix}-notifications", f"{prefix}-notifier-unsubscribes") as s:
        yield s


def test_bulk_claim_creates_new_keys_and_returns_the_stored_record_of_the_others(
    store: ElasticsearchNotificationStore,
) -> None:
    assert store.claim(Record("k1", State.SENT, "new_match", "a", owner="earlier")) is None
    records = [Record(f"k{i}", State.SENDING, "new_match", "a", owner="n1") for i in range(3)]
    out = store.claim_many(records)
    assert out[0] is None
    assert out[2] is None
    assert isinstance(out[1], Record)
    assert (out[1].state, out[1].owner) == (State.SENT, "earlier")
    assert records[0].token is not None
    got = store.get("k2")
    assert got is not None
    assert got.state == State.SENDING


def test_bulk_writes_compare_and_set_each_item(store: ElasticsearchNotificationStore) -> None:
    records = [Record(f"k{i}", State.SENDING, "new_match", "a", owner="n1") for i in range(3)]
    assert store.claim_many(records) == [None, None, None]
    stale = Record("k1", State.COMMITTING, "new_match", "a", owner="other", token=records[1].token)
    assert store.replace(stale)  # someone else wrote k1 after our claim
    for r in records:
        r.state = State.COMMITTING
    assert store.replace_many(records) == [True, False, True]
    for r in records:
        r.state = State.SENT
    assert store.replace_many([records[0], records[2]]) == [True, True]
    got = store.get("k2")
    assert got is not None
    assert got.state == State.SENT  # readable by id at once
    store.make_searchable()
    assert sorted(r.key for r in store.find(states=[State.SENT])) == ["k0", "k2"]


def test_searches_see_this_stores_writes_without_a_refresh_per_write(
    store: ElasticsearchNotificationStore, endpoints: Endpoints
) -> None:
    # No write refreshes; a search after writes refreshes first (the server is near-real-time: without it the
    # search right after the write would miss it), so who was alerted and what is queued are never stale here.
    store.claim(Record("q1", State.QUEUED, "new_match", "a", ["n1"], 1))
    assert [r.key for r in store.find(states=[State.QUEUED])] == ["q1"]
    sent = Record("s1", State.SENDING, "new_match", "b", ["n1"], 1, owner="n1")
    store.claim_many([sent])
    sent.state = State.SENT
    assert store.replace(sent)
    assert store.alerted_suppliers("n1", before_version=2) == {"b"}
    # Another process's view (its own client) sees them once this store made its writes searchable.
    other = ElasticsearchNotificationStore(
        Elasticsearch(endpoints.elasticsearch_url, request_timeout=30), store._index, store._unsub
    )
    sent.state, sent.owner = State.SENT, "again"
    assert store.replace(sent)
    store.make_searchable()
    got = other.find(states=[State.SENT])
    assert [(r.key, r.owner) for r in got] == [("s1", "again")]


# -- a notifier dying between two bulk steps, rebuilt on the same index ----------------------------------------


class CrashingStore(ElasticsearchNotificationStore):
    """The real store, dying (``Crash``) at the first bulk write of ``state``: before it when ``before``, else
    right after it was applied."""

    def __init__(self, inner: ElasticsearchNotificationStore, state: State, before: bool) -> None:
        super().__init__(inner._es, inner._index, inner._unsub)
        self.state, self.before, self.armed = state, before, True

    def replace_many(self, records: Sequence[Record]) -> list[bool | StoreUnavailable]:
        hit = self.armed and any(r.state == self.state for r in records)
        if hit and self.before:
            self.armed = False
            raise Crash
        out = super().replace_many(records)
        if hit:
            self.armed = False
            raise Crash
        return out


def notifier(settings: Settings, store: ElasticsearchNotificationStore, directory: ProfileDirectory) -> Notifier:
    return bootstrap_in_memory(
        settings, instance_id="n1", store=store, mail=smtp_sender(settings), profiles=directory
    ).notifier


@pytest.mark.parametrize(
    ("state", "before"),
    [(State.COMMITTING, True), (State.COMMITTING, False), (State.SENT, True)],
    ids=["after-claim", "after-committing", "after-the-dots"],
)
def test_a_crash_between_bulk_steps_never_sends_twice(
    endpoints: Endpoints, unique: Callable[[str], str], state: State, before: bool
) -> None:
    sink = Sink().start()
    try:
        settings = isolated_settings(endpoints, unique, sink.port, notifier_smtp_connections=3)
        with settings_store(settings) as store:
            directory = ProfileDirectory()
            suppliers = [f"s{i}" for i in range(7)]
            for s in suppliers:
                directory.put(profile(s))
            batch = [shortlist(notice("1"), suppliers[:4]), shortlist(notice("2"), suppliers[4:])]
            first = notifier(settings, CrashingStore(store, state, before), directory)
            with pytest.raises(Crash):
                first.alerts.handle_shortlists(batch)
            first.delivery.mail.close()
            restarted = notifier(settings, store, directory)  # the same instance id, on the same index
            restarted.alerts.handle_shortlists(batch)
            restarted.delivery.mail.close()
            expected = 7 if (state, before) == (State.COMMITTING, True) else 4  # 3 presumed delivered, not resent
            sink.wait_for(expected)
            keys = Counter(sink.keys())
            assert max(keys.values()) == 1
            records = {r.key: r for r in store.find(states=[State.SENT])}
            assert len(records) == 7  # every email settled
            unconfirmed = sorted(k for k, r in records.items() if r.reason == "unconfirmed")
            if (state, before) == (State.COMMITTING, True):
                assert unconfirmed == []
                assert len(keys) == 7
            else:
                assert len(unconfirmed) == 3  # the first round: committing when the process died
                assert set(keys) | set(unconfirmed) == set(records)
    finally:
        sink.stop()


def test_an_amendment_in_the_same_batch_reaches_who_its_first_version_alerted(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    # The "sent" writes of a round are not refreshed one by one: the store must refresh before the amendment (cut
    # into a segment of its own) searches who was alerted, or it would find nobody.
    sink = Sink().start()
    try:
        settings = isolated_settings(endpoints, unique, sink.port, notifier_smtp_connections=2)
        with settings_store(settings) as store:
            directory = ProfileDirectory()
            for s in ("a", "b", "c"):
                directory.put(profile(s))
            v2 = notice("1", version=2, status=NoticeStatus.AMENDED, changes=["deadline moved"])
            n = notifier(settings, store, directory)
            n.alerts.handle_shortlists(
                [shortlist(notice("1"), ["a", "b"]), shortlist(v2, ["c"], previously=["a", "b"])]
            )
            n.delivery.mail.close()
            sink.wait_for(5)
            assert sorted(sink.keys()) == [
                "a|ungm:1|1|new_match",
                "a|ungm:1|2|amendment",
                "b|ungm:1|1|new_match",
                "b|ungm:1|2|amendment",
                "c|ungm:1|2|new_match",
            ]
    finally:
        sink.stop()

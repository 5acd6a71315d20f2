"""The notifier on real Kafka, Elasticsearch and SMTP (aiosmtpd): shortlists on a topic become the right emails,
once, in both languages, through redeliveries, restarts, an SMTP outage and a permanent rejection."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

from contracts import AlertFrequency, DeadLetter, NoticeStatus, NotificationEvent
from services.notifier.adapters.store import ElasticsearchNotificationStore
from services.notifier.ports import Record, State, Unsubscribe
from services.notifier.settings import Settings
from tests.conftest import Endpoints
from tests.integration.notifier.helpers import (
    Sink,
    counter,
    free_port,
    isolated_settings,
    prepare,
    publish,
    read_topic,
    running,
    wait_until,
)
from tests.unit.notifier.factories import NOW, notice, profile, shortlist

pytestmark = pytest.mark.integration


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink().start()
    yield s
    s.stop()


def events(settings: Settings) -> list[NotificationEvent]:
    return [e for _, e in read_topic(settings.kafka_bootstrap_servers, settings.topic_notifications, NotificationEvent)]


def test_shortlists_become_bilingual_emails_exactly_once_across_redelivery_and_restart(
    endpoints: Endpoints, unique: Callable[[str], str], sink: Sink
) -> None:
    settings = isolated_settings(endpoints, unique, sink.port)
    prepare(settings)
    publish(
        settings,
        profile("a", language="en", timezone="Europe/Paris"),
        profile("b", language="zh-Hans", timezone="Asia/Shanghai"),
        profile("gone", unsubscribed=True),
    )
    v1 = shortlist(notice("77", title="Nitrile gloves <x-ray> & masks"), ["a", "b", "gone", "unknown"])
    with running(settings, "it-1") as runtime:
        publish(settings, v1)
        emails = sink.wait_for(2)
        by_key = {str(m["X-Tenderbridge-Key"]): m for m in emails}
        assert set(by_key) == {"a|ungm:77|1|new_match", "b|ungm:77|1|new_match"}
        for msg in emails:
            assert msg.get_content_type() == "multipart/alternative"
            assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
            assert str(msg["List-Unsubscribe"]).startswith("<http://127.0.0.1:8002/unsubscribe?token=")
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        for raw in sink.handler.messages:  # literal in the raw header, as mail clients read it (RFC 2369)
            assert b"\nList-Unsubscribe: <http://127.0.0.1:8002/unsubscribe?token=" in raw
        zh = by_key["b|ungm:77|1|new_match"]
        assert str(zh["Subject"]).startswith("新的招标匹配")
        html = zh.get_body(("html",))
        assert html is not None
        assert "&lt;x-ray&gt; &amp; masks" in html.get_content()
        assert "（Asia/Shanghai，UTC+08:00）" in html.get_content()
        en = by_key["a|ungm:77|1|new_match"].get_body(("plain",))
        assert en is not None
        assert "(Europe/Paris, UTC+01:00)" in en.get_content()

        # The same shortlist again (a redelivery): handled, nothing new sent.
        publish(settings, v1)
        wait_until(lambda: counter(runtime, "notifier_shortlists_total") >= 2, 60, "the redelivered shortlist")
        assert len(sink.handler.messages) == 2, sink.keys()

    # The notifier restarted (same instance, new process) gets an amendment and a newcomer published just before.
    publish(settings, profile("c", language="zh-Hans"))
    v2 = notice("77", version=2, status=NoticeStatus.AMENDED, changes=["deadline moved to 2026-12-20"])
    with running(settings, "it-1"):
        publish(settings, shortlist(v2, ["a", "c"], previously=["a", "b", "gone"]), v1)
        sink.wait_for(5)
    assert Counter(sink.keys()) == Counter(
        {
            "a|ungm:77|1|new_match": 1,
            "b|ungm:77|1|new_match": 1,
            "a|ungm:77|2|amendment": 1,
            "b|ungm:77|2|amendment": 1,
            "c|ungm:77|2|new_match": 1,
        }
    )
    amendment = next(m for m in sink.emails() if m["X-Tenderbridge-Key"] == "b|ungm:77|2|amendment")
    body = amendment.get_body(("plain",))
    assert body is not None
    assert "deadline moved to 2026-12-20" in body.get_content()
    seen = events(settings)
    sent = Counter(e.idempotency_key for e in seen if e.status == "sent")
    assert set(sent.values()) == {1}
    assert len(sent) == 5
    skipped = {(e.supplier_id, e.reason) for e in seen if e.status == "skipped"}
    assert {("gone", "unsubscribed"), ("unknown", "unknown_supplier")} <= skipped


def test_smtp_down_for_a_while_then_up_every_email_arrives_exactly_once(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    sink = Sink()  # the port is chosen, the server not started yet: SMTP is down
    settings = isolated_settings(endpoints, unique, sink.port)
    prepare(settings)
    suppliers = [profile(f"s{i}") for i in range(6)]
    publish(settings, *suppliers)
    try:
        with running(settings, "it-down") as runtime:
            publish(settings, shortlist(notice("5"), [p.supplier_id for p in suppliers]))
            wait_until(
                lambda: counter(runtime, "notifier_emails_total", kind="new_match", status="failed") >= 3,
                60,
                "failed attempts while SMTP is down",
            )
            sink.start()
            sink.wait_for(6)
            wait_until(
                lambda: counter(runtime, "notifier_emails_total", kind="new_match", status="sent") >= 6, 30, "6 sent"
            )
        assert Counter(sink.keys()) == Counter({f"s{i}|ungm:5|1|new_match": 1 for i in range(6)})
        statuses = Counter(e.status.value for e in events(settings))
        assert statuses["sent"] == 6
        assert statuses["failed"] >= 3
        assert statuses["parked"] == 0
    finally:
        sink.stop()


def test_a_550_rejection_is_parked_on_the_dead_letter_topic(
    endpoints: Endpoints, unique: Callable[[str], str], sink: Sink
) -> None:
    settings = isolated_settings(endpoints, unique, sink.port)
    prepare(settings)
    publish(settings, profile("bad", emails=["reject-me@example.com"]), profile("good"))
    with running(settings, "it-550") as runtime:
        publish(settings, shortlist(notice("9"), ["bad", "good"]))
        sink.wait_for(1)
        wait_until(
            lambda: counter(runtime, "notifier_emails_total", kind="new_match", status="parked") >= 1, 30, "parking"
        )
    assert sink.keys() == ["good|ungm:9|1|new_match"]
    dead = read_topic(settings.kafka_bootstrap_servers, settings.topic_notifications_dlq, DeadLetter)
    assert [(key, d.reason, d.service) for key, d in dead] == [("bad|ungm:9|1|new_match", "smtp_permanent", "notifier")]
    assert "550" in dead[0][1].detail
    assert "reject-me@example.com" not in dead[0][1].payload
    parked = [e for e in events(settings) if e.status == "parked"]
    assert [(e.idempotency_key, e.reason) for e in parked] == [("bad|ungm:9|1|new_match", "smtp_permanent")]


def test_an_unreadable_shortlist_is_dead_lettered_and_the_next_one_still_handled(
    endpoints: Endpoints, unique: Callable[[str], str], sink: Sink
) -> None:
    settings = isolated_settings(endpoints, unique, sink.port)
    prepare(settings)
    publish(settings, profile("a"))
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    producer.send(settings.topic_shortlists, key=b"ungm:1", value=b'{"not": "a shortlist"}')
    producer.flush()
    producer.close()
    with running(settings, "it-bad"):
        publish(settings, shortlist(notice("1"), ["a"]))
        sink.wait_for(1)
    dead = read_topic(settings.kafka_bootstrap_servers, settings.topic_shortlists_dlq, DeadLetter)
    assert [(k, d.reason) for k, d in dead] == [("ungm:1", "invalid_shortlist")]
    assert dead[0][1].payload == '{"not": "a shortlist"}'


def test_elasticsearch_store_is_create_only_and_compare_and_set(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    es = Elasticsearch(endpoints.elasticsearch_url)
    store = ElasticsearchNotificationStore(es, unique("notifications"), unique("unsubscribes"))
    store.ensure_indexes()
    store.ensure_indexes()  # idempotent
    first = Record("a|ungm:1|1|new_match", State.SENDING, "new_match", "a", ["ungm:1"], 1, 1, "<m@x>", "n1", NOW)
    assert store.claim(first) is None
    again = Record("a|ungm:1|1|new_match", State.SENDING, "new_match", "a", ["ungm:1"], 1, 1, "<other@x>", "n2", NOW)
    stored = store.claim(again)
    assert stored is not None
    assert (stored.owner, stored.message_id) == ("n1", "<m@x>")
    stale = store.get(first.key)
    assert stale is not None
    first.state = State.SENT
    assert store.replace(first)  # first holds the token of its own write
    stale.state = State.PARKED
    assert not store.replace(stale)  # someone wrote since stale was read
    assert store.alerted_suppliers("ungm:1", 2) == {"a"}
    assert store.alerted_suppliers("ungm:1", 1) == set()
    assert [r.key for r in store.find(states=[State.SENT], supplier_id="a")] == [first.key]
    store.save_unsubscribe(Unsubscribe("a", NOW, synced=False))
    store.save_unsubscribe(Unsubscribe("a", NOW, synced=True))
    assert store.unsubscribes() == [Unsubscribe("a", NOW, True)]


def test_unsubscribe_is_forwarded_to_the_matcher_when_it_answers(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    """Against a stand-in for the matcher's PATCH endpoint (a real HTTP server on a free port)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[str, str, dict[str, object]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, self.headers.get("X-API-Key", ""), body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            return

    port = free_port()
    from services.notifier.adapters.matcher import HttpPreferencesClient
    from services.notifier.exceptions import MatcherUnavailable

    client = HttpPreferencesClient(f"http://127.0.0.1:{port}", "admin-key", timeout_s=2)
    with pytest.raises(MatcherUnavailable):
        client.unsubscribe("sup/1")  # nothing listens yet
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        client.unsubscribe("sup/1")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        client.close()
    assert received == [("/suppliers/sup%2F1/preferences", "admin-key", {"unsubscribed": True})]


def test_daily_digest_over_elasticsearch_and_smtp(
    endpoints: Endpoints, unique: Callable[[str], str], sink: Sink
) -> None:
    """Digest items are stored in Elasticsearch until the supplier's local hour, then go out as one email."""
    from datetime import datetime, timedelta

    from services.notifier.adapters.mail import SmtpMailSender
    from services.notifier.bootstrap import bootstrap_in_memory
    from services.notifier.domain.profiles import ProfileDirectory
    from services.notifier.service import Notifier

    settings = isolated_settings(endpoints, unique, sink.port)
    store = ElasticsearchNotificationStore(
        Elasticsearch(endpoints.elasticsearch_url), settings.notifications_index, settings.unsubscribes_index
    )
    store.ensure_indexes()
    profiles = ProfileDirectory()
    profiles.put(profile("d", frequency=AlertFrequency.DAILY_DIGEST, timezone="Asia/Kabul", digest_hour=9))
    clock = [datetime.fromisoformat("2026-11-26T03:00:00+00:00")]  # 07:30 in Kabul
    mail = SmtpMailSender("127.0.0.1", sink.port)

    def make() -> Notifier:
        return bootstrap_in_memory(
            settings, clock=lambda: clock[0], instance_id="it-digest", store=store, mail=mail, profiles=profiles
        ).notifier

    n = make()
    n.alerts.handle_shortlist(
        shortlist(notice("1", title="Closing tender", deadline=clock[0] + timedelta(days=2)), ["d"])
    )
    n.alerts.handle_shortlist(
        shortlist(notice("2", title="Open tender", deadline=clock[0] + timedelta(days=40)), ["d"])
    )
    assert n.digests.send_due_digests() == 0
    clock[0] += timedelta(hours=2)  # 09:30 in Kabul
    restarted = make()  # the queue is in Elasticsearch, not in the process
    assert restarted.digests.send_due_digests() == 1
    assert restarted.digests.send_due_digests() == 0
    mail.close()
    (digest,) = sink.wait_for(1)
    assert digest["X-Tenderbridge-Key"] == "d|digest|2026-11-26"
    body = digest.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert text.index("Closing soon") < text.index("Closing tender") < text.index("Open tender")
    assert store.find(states=[State.QUEUED], supplier_id="d") == []

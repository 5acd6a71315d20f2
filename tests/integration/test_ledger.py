"""The demo/e2e ledger on the local Kafka: a due email that is missing from the Maildir is lost, unless the notifier
reported it ``sent`` ``unconfirmed`` (its documented at-most-once window): then it is counted apart, not lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts import NotificationEvent, topics
from localrun.demo import Ledger
from services.infra.bus import KafkaPublisher, ensure_topics
from tests.conftest import Endpoints
from tests.unit.notifier.factories import notice, profile, shortlist

pytestmark = pytest.mark.integration


def test_a_missing_email_reported_unconfirmed_is_counted_apart_not_lost(
    endpoints: Endpoints, unique: Callable[[str], str], tmp_path: Path
) -> None:
    names = {
        name: unique(name)
        for name in ("notices", "notices_dlq", "shortlists", "shortlists_dlq", "profiles", "notifications")
    }
    names["notifications_dlq"] = unique("notifications_dlq")
    specs = [
        (names["notices"], topics.NOTICES),
        (names["notices_dlq"], topics.NOTICES_DLQ),
        (names["shortlists"], topics.SHORTLISTS),
        (names["shortlists_dlq"], topics.SHORTLISTS_DLQ),
        (names["profiles"], topics.PROFILES),
        (names["notifications"], topics.NOTIFICATIONS),
        (names["notifications_dlq"], topics.NOTIFICATIONS_DLQ),
    ]
    ensure_topics(endpoints.kafka_bootstrap, specs)
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id=unique("ledger"))
    for supplier_id in ("a", "b"):
        publisher.publish(names["profiles"], supplier_id, profile(supplier_id))
    v1 = notice("7")
    publisher.publish(names["notices"], v1.notice_id, v1)
    publisher.publish(names["shortlists"], v1.notice_id, shortlist(v1, ["a", "b"]))
    now = datetime.now(UTC)
    for supplier_id, reason in (("a", "unconfirmed"), ("b", None)):
        event = NotificationEvent(
            idempotency_key=f"{supplier_id}|{v1.notice_id}|1|new_match",
            supplier_id=supplier_id,
            notice_ids=[v1.notice_id],
            notice_version=1,
            kind="new_match",
            status="sent",
            reason=reason,
            occurred_at=now,
        )
        publisher.publish(names["notifications"], event.idempotency_key, event)
    publisher.flush()
    publisher.close()

    ledger = Ledger(endpoints.kafka_bootstrap, names, tmp_path / "maildir")  # an empty Maildir: nothing arrived
    try:
        ledger.refresh()
        summary = ledger.summary()
    finally:
        ledger.close()
    assert summary.due_emails == 2
    assert summary.unconfirmed_undelivered == ["a|ungm:7|1|new_match"]
    assert summary.lost_emails == ["b|ungm:7|1|new_match"]  # reported sent, yet missing, without the caveat: lost
    assert summary.lost == 1

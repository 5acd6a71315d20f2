"""Every Kafka topic: its default name, key, value model and retention. ``contracts/README.md`` mirrors this
table and a test keeps them in step. Services take the actual names from settings so tests can isolate them."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from contracts.award import AwardRecord
from contracts.dead_letter import DeadLetter
from contracts.feedback import ShortlistFeedback
from contracts.notice import TenderNotice
from contracts.notification import NotificationEvent
from contracts.shortlist import Shortlist
from contracts.supplier import SupplierProfile

DAY_MS = 24 * 3600 * 1000

#: The largest message the bus carries, in bytes: Kafka's defaults for the producer (``max.request.size``), the
#: broker (``message.max.bytes``, 1,048,588: one record plus its batch header) and the topics
#: (``max.message.bytes``). ``TB_KAFKA_MAX_MESSAGE_BYTES`` sets it; raise it only with the broker's and topics'.
MAX_MESSAGE_BYTES = 1_048_576
#: The largest ``TenderNotice`` (its JSON) ingest publishes: half a message, because the notice travels again inside
#: its ``Shortlist``, beside up to ``top_k`` ranked suppliers with their reasons (a few KB each) and, for a
#: cancellation, every supplier shortlisted before. A larger notice is dead-lettered (reason ``too_large``).
MAX_NOTICE_BYTES = MAX_MESSAGE_BYTES // 2
#: The part of a ``DeadLetter`` its payload may take (as JSON), in bytes: a longer payload is cut, on a character
#: boundary, with a marker saying how much was left out, so that the letter itself fits in a message.
DEAD_LETTER_PAYLOAD_BYTES = MAX_MESSAGE_BYTES // 2


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    value: type[BaseModel]
    #: ``delete`` with ``retention_ms``, or ``compact`` (latest value per key kept forever).
    cleanup_policy: str
    retention_ms: int | None
    partitions: int = 3

    def config(self) -> dict[str, str]:
        out = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        return out


NOTICES = TopicSpec("tenders.notices", "notice_id", TenderNotice, "delete", 30 * DAY_MS)
NOTICES_DLQ = TopicSpec("tenders.notices.dlq", "source record id", DeadLetter, "delete", 90 * DAY_MS, 1)
PROFILES = TopicSpec("suppliers.profiles", "supplier_id", SupplierProfile, "compact", None)
SHORTLISTS = TopicSpec("matches.shortlists", "notice_id", Shortlist, "delete", 30 * DAY_MS)
SHORTLISTS_DLQ = TopicSpec("matches.shortlists.dlq", "notice_id", DeadLetter, "delete", 90 * DAY_MS, 1)
FEEDBACK = TopicSpec("matches.feedback", "feedback_id", ShortlistFeedback, "compact", None)
FEEDBACK_DLQ = TopicSpec("matches.feedback.dlq", "feedback_id", DeadLetter, "delete", 90 * DAY_MS, 1)
NOTIFICATIONS = TopicSpec("notifications.events", "idempotency_key", NotificationEvent, "delete", 90 * DAY_MS)
NOTIFICATIONS_DLQ = TopicSpec("notifications.dlq", "idempotency_key", DeadLetter, "delete", 365 * DAY_MS, 1)
#: Awards are the supplier base's evidence, read again whenever entity resolution changes: compacted, the latest
#: version of each award kept forever.
AWARDS = TopicSpec("awards.records", "award_id", AwardRecord, "compact", None)
AWARDS_DLQ = TopicSpec("awards.records.dlq", "source record id", DeadLetter, "delete", 90 * DAY_MS, 1)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    NOTICES,
    NOTICES_DLQ,
    PROFILES,
    SHORTLISTS,
    SHORTLISTS_DLQ,
    FEEDBACK,
    FEEDBACK_DLQ,
    NOTIFICATIONS,
    NOTIFICATIONS_DLQ,
    AWARDS,
    AWARDS_DLQ,
)

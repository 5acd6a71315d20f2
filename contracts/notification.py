"""NotificationEvent: what happened to one email. Topic ``notifications.events``, key ``idempotency_key``."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.common import Model, NonEmptyStr


class NotificationKind(StrEnum):
    NEW_MATCH = "new_match"
    AMENDMENT = "amendment"
    CANCELLATION = "cancellation"
    DIGEST = "digest"


class NotificationStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"  #: a transient failure; it will be retried
    PARKED = "parked"  #: given up (permanent rejection or attempts exhausted); on the dead-letter topic
    SKIPPED = "skipped"  #: not sent on purpose (preferences, unsubscribed, never alerted)


class NotificationEvent(Model):
    schema_version: Literal[1] = 1
    #: ``<supplier_id>|<notice_id>|<notice_version>|<kind>`` (digests: ``<supplier_id>|digest|<local date>``).
    idempotency_key: NonEmptyStr
    supplier_id: NonEmptyStr
    notice_ids: list[str] = Field(default_factory=list)
    notice_version: int | None = None
    kind: NotificationKind
    status: NotificationStatus
    attempt: int = Field(default=1, ge=1)
    reason: str | None = None
    #: RFC 5322 Message-ID of the sent email.
    message_id: str | None = None
    occurred_at: AwareDatetime

    @staticmethod
    def make_key(supplier_id: str, notice_id: str, notice_version: int, kind: NotificationKind) -> str:
        return f"{supplier_id}|{notice_id}|{notice_version}|{kind.value}"

"""DeadLetter: a message that could not be handled, kept whole with the reason. Topics ``<topic>.dlq``."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from contracts.common import Model, NonEmptyStr


class DeadLetter(Model):
    schema_version: Literal[1] = 1
    #: The service that gave up (``ingest``, ``matcher``, ``notifier``).
    service: NonEmptyStr
    #: Where the payload came from: a topic, a source name, a file path or ``http``.
    origin: NonEmptyStr
    #: Machine-readable reason code (``invalid_json``, ``no_title``, ``smtp_permanent``...).
    reason: NonEmptyStr
    #: Human-readable explanation.
    detail: str = ""
    key: str | None = None
    #: The raw payload as text (undecodable bytes are replaced, so the payload is always kept).
    payload: str
    attempts: int = 1
    occurred_at: AwareDatetime

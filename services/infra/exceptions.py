"""Errors of the shared infrastructure (the Kafka publisher, request bodies).

    InfraError
     ├── PublishError                 a message did not reach Kafka
     │    ├── TransientPublishError   Kafka unreachable or too slow, still so after retries with back-off
     │    └── PermanentPublishError   Kafka refuses the message itself (too large, not serialisable, invalid topic)
     └── BodyError                    a request body the service will not read
          ├── BodyTooLarge            more bytes than the limit
          └── JsonRejected            not JSON, or JSON nested deeper than the limit

A transient error loses nothing: the caller has not committed, so the same messages are published again later (the
next poll, the client's retry). A permanent one would fail the same way every time: the caller dead-letters the
message with ``reason`` and ``detail`` instead of trying again.
"""

from __future__ import annotations

from dataclasses import dataclass


class InfraError(Exception):
    """Base of every infrastructure error."""


class PublishError(InfraError):
    """Base of the errors of ``EventPublisher.publish`` and ``flush``."""


class TransientPublishError(PublishError):
    """Raised if Kafka did not acknowledge messages (unreachable, timeouts, leader changes) after the publisher's
    retries with back-off; nothing is committed, so nothing is lost: publish the same messages again later."""


@dataclass(frozen=True)
class Refused:
    """One message Kafka refuses for what it is: the caller dead-letters it with ``reason`` and ``detail``."""

    topic: str
    key: str
    #: ``message_too_large``, ``unserializable``, ``invalid_topic``, ``refused_by_kafka``.
    reason: str
    detail: str


class PermanentPublishError(PublishError):
    """Raised if Kafka refuses messages for what they are (``MessageSizeTooLargeError``, a value that cannot be
    serialised, an invalid topic): trying again cannot help. ``refused`` lists them; the others of the flush were
    acknowledged."""

    def __init__(self, refused: list[Refused]) -> None:
        self.refused = refused
        first = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        super().__init__(f"Kafka refused {first.topic} key {first.key}: {first.reason}: {first.detail}{more}")


class BodyError(InfraError):
    """Base of the errors of ``limits.read_body`` and ``limits.loads_json``: the message says what the limit is."""


class BodyTooLarge(BodyError):
    """Raised if a request body is longer than the limit (said by its Content-Length or counted as it arrives)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the body is larger than the limit of {limit:,} bytes")


class JsonRejected(BodyError, ValueError):
    """Raised if a body is not JSON or nests deeper than the limit (a hostile document that would exhaust the
    recursion of whatever walks it)."""

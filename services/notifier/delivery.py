"""Delivery, shared by alerts, digests and confirmation emails: claim an email's idempotency key, send it over SMTP
with retries, record the outcome, park what cannot be sent, report it on ``notifications.events``; and settle the
records a dead process left behind.

Exactly-once, as far as SMTP allows. The order for every email:

1. render it (pure; a rendering failure parks it);
2. **claim** its idempotency key: create the record ``sending`` (attempt 1, a fresh Message-ID, owner, lease) with
   create-only semantics (Elasticsearch ``op_type=create``; 409 = already claimed);
3. SMTP transaction: MAIL, RCPT, DATA, the body; then, just before the final ``.`` (the byte that makes the server
   take the message), the record becomes ``committing``; then the ``.`` and the reply;
4. 250 -> record ``sent``, ``sent`` event. 4xx / refused / reset / timeout before the ``.`` -> ``failed`` event,
   record ``retrying``, exponential backoff with full jitter, next attempt (same Message-ID). After
   ``notifier_max_attempts`` attempts, or at once on a 5xx, the email is **parked**: record ``parked``, a DeadLetter
   on ``notifications.dlq`` (summary only: no body, no addresses) and a ``parked`` event;
5. the worker flushes events and only then commits the Kafka offsets (so a crash redelivers the shortlist).

An event or dead letter Kafka refuses for good (``PermanentPublishError``: too large, invalid topic), at ``publish``
or at the flush (``flush``), is dead-lettered on ``notifications.dlq`` with Kafka's reason, logged at ERROR and
counted (``notifier_publish_refused``); the worker goes on. Kafka away (``TransientPublishError``) is the worker's
to wait out: nothing is committed, the batch comes back.

What a later claimer (a redelivered shortlist after a crash, or another instance) does with an existing record:
``sent``/``parked``/``queued``/``withdrawn`` -> nothing (a duplicate). ``sending`` or ``retrying`` whose owner is
gone (lease expired, or it is this instance's own record and not in flight, i.e. left by its previous process) ->
the ``.`` was never written, so the message cannot have been delivered: take it over (compare-and-set) and send.
``committing`` whose owner is gone -> the ``.`` may have reached the server: it is **not** sent again; it is recorded
``sent`` with reason ``unconfirmed`` (and the same for a connection that broke after the ``.`` and before the reply).

The state writes around the ``.`` are retried, never mistaken for a failed send: the ``committing`` write (and
every write before it) is retried with backoff while Elasticsearch is away; if it still fails (after
``notifier_store_retry_s`` or a stop request) the ``.`` is not written, the connection is dropped (the server discards
the message) and the worker stops, so the redelivered shortlist sends it. A write whose reply was lost but that was
applied is recognised as our own on the retry. If the record turns out to have been taken over by another instance
(our lease ran out during a stall), this one stops before the ``.``. After the ``.``, the ``sent`` write is retried
the same way; if it cannot be made, the worker stops with the record at ``committing``, which is never sent again.

So the guarantee is: never two emails for one key; at-least-once for every failure that happens before the final
``.``; at-most-once only in the window between the final ``.`` and the server storing the message (a crash of
the SMTP server or of the notifier inside that window, microseconds to a few milliseconds), where an email is
presumed delivered, logged and reported with ``reason=unconfirmed``.

A poll batch (``handle_shortlists``) runs the same steps with fewer requests: one bulk claim for all its emails,
then rounds of ``notifier_smtp_connections`` emails, one per SMTP connection, whose bodies are written in lock step,
whose ``committing`` is one bulk write (carrying the previous round's ``sent`` too), then every final ``.``; one
refresh per batch. Whatever a bulk item cannot settle (claimed before, failed, taken over) goes through the
one-email rules above. The crash windows are those of one email, each holding up to one or two rounds' emails
(README: "A poll batch at once").
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from enum import Enum
from typing import TypeVar

from pydantic import BaseModel

from contracts import NotificationEvent, NotificationKind, NotificationStatus, Shortlist, SupplierProfile
from contracts.supplier import one_per_mailbox
from services.infra.bus import EventPublisher, dead_letter, flush_or_dead_letter
from services.infra.exceptions import PermanentPublishError, Refused
from services.notifier.domain.confirmation import CONFIRMATION
from services.notifier.domain.rendering import Envelope, Rendered, build_message, supplier_name
from services.notifier.domain.rules import backoff_delay
from services.notifier.domain.tokens import Signer
from services.notifier.exceptions import (
    ClaimLost,
    MailError,
    PermanentMailError,
    ShuttingDown,
    StoreUnavailable,
    UncertainDelivery,
)
from services.notifier.metrics import Metrics
from services.notifier.ports import FINAL, MailSender, NotificationStore, Record, State
from services.notifier.settings import Settings

log = logging.getLogger(__name__)

SERVICE = "notifier"

#: The kinds of emails ``notifications.events`` has a ``NotificationKind`` for (not confirmation emails).
_EVENT_KINDS = frozenset(kind.value for kind in NotificationKind)

#: ``_take_over``'s answer "its owner is still on it".
_WAIT = Record("", State.SENDING, "", "")


class _Again(Enum):
    """``_failed``'s answer "send it again"."""

    AGAIN = 1


_AGAIN = _Again.AGAIN

_T = TypeVar("_T")


@dataclass(frozen=True)
class Job:
    """One email to send (an alert, a digest, a confirmation), rendered and not yet claimed."""

    key: str
    #: A ``NotificationKind``, or ``CONFIRMATION``.
    kind: str
    profile: SupplierProfile
    notice_ids: list[str]
    notice_version: int | None
    rendered: Rendered


def _same_write(stored: Record, mine: Record) -> bool:
    """The stored version is the one this instance just wrote (the write went through though its reply was lost)."""
    return (
        stored.state == mine.state
        and stored.owner == mine.owner
        and stored.attempt == mine.attempt
        and stored.updated_at == mine.updated_at
    )


@dataclass
class Delivery:
    """Claim -> send -> record for every email of this instance (``instance_id`` names its records)."""

    settings: Settings
    store: NotificationStore
    mail: MailSender
    publisher: EventPublisher
    metrics: Metrics
    signer: Signer
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    rng: random.Random
    #: Identifies this deployment's records; a record of ours found "sending" and not in flight here was left by a
    #: previous process of this instance.
    instance_id: str
    _in_flight: set[str] = field(default_factory=set)

    def deliver(self, job: Job, item_keys: list[str] | None = None) -> State | None:
        """Claim, send with retries, record; returns the final state, or None when the key was already handled.
        ``item_keys``: the digest items a digest carries."""
        now = self.clock()
        record = self._new_record(job, item_keys, now)
        existing = self.store.claim(record)
        while existing is not None:
            taken = self._take_over(existing, now)
            if taken is None:
                self.metrics.duplicates.inc()
                return None
            if taken is not _WAIT:
                record = taken
                break
            # Another live instance holds it (a rebalance moved the shortlist while it was sending): wait for its
            # outcome or for its lease to run out, rather than commit past an email nobody may finish.
            assert existing.lease_until is not None
            self.sleep(max(0.05, min(1.0, (existing.lease_until - now).total_seconds())))
            now = self.clock()
            existing = self.store.get(record.key) or self.store.claim(record)
        return self._attempts(record, job.rendered, job.profile)

    def _take_over(self, existing: Record, now: datetime) -> Record | None:
        """What to do with a key someone claimed before: None = nothing (handled, or settled here), ``_WAIT`` =
        its owner is alive and on it, or the record, taken over, to send."""
        if existing.state in FINAL or existing.state == State.QUEUED:
            return None
        ours_abandoned = existing.owner == self.instance_id and existing.key not in self._in_flight
        expired = existing.lease_until is None or existing.lease_until <= now
        if not (ours_abandoned or expired):
            return _WAIT
        if existing.state == State.COMMITTING:
            self._presume_delivered(existing, "the previous process stopped after the final '.'")
            return None
        # sending / retrying: the final "." never left, so nothing was delivered; send it (once more).
        existing.state, existing.owner, existing.attempt = State.SENDING, self.instance_id, existing.attempt + 1
        existing.lease_until = now + timedelta(seconds=self.settings.notifier_lease_s)
        existing.updated_at = now
        return existing if self.store.replace(existing) else None

    def _presume_delivered(self, record: Record, why: str) -> None:
        record.state, record.reason, record.updated_at = State.SENT, "unconfirmed", self.clock()
        self._save(record)
        self.metrics.emails.labels(record.kind, "unconfirmed").inc()
        self.record_event(record, NotificationStatus.SENT, reason="unconfirmed")
        log.warning("%s presumed delivered, not sent again (Message-ID %s): %s", record.key, record.message_id, why)

    def _new_record(self, job: Job, item_keys: list[str] | None, now: datetime) -> Record:
        return Record(
            key=job.key,
            state=State.SENDING,
            kind=str(job.kind),
            supplier_id=job.profile.supplier_id,
            notice_ids=job.notice_ids,
            notice_version=job.notice_version,
            attempt=1,
            message_id=make_msgid(domain=self.settings.notifier_message_id_domain),
            owner=self.instance_id,
            lease_until=now + timedelta(seconds=self.settings.notifier_lease_s),
            item_keys=item_keys or [],
            updated_at=now,
        )

    def _message(self, record: Record, rendered: Rendered, profile: SupplierProfile) -> EmailMessage:
        # A confirmation email goes to its one address (the job's profile lists only it) and is on no list; an
        # alert goes to the addresses their owners confirmed (double opt-in), with one-click unsubscribe.
        confirming = record.kind == CONFIRMATION
        envelope = Envelope(
            from_address=self.settings.notifier_from_address,
            from_name=self.settings.notifier_from_name,
            to_addresses=one_per_mailbox(profile.emails if confirming else profile.alert_emails()),
            # The name is whatever a registrant typed: never beside an address its owner has not confirmed (a
            # confirmation email), shown as data otherwise (``supplier_name``).
            to_name="" if confirming else supplier_name(profile),
            message_id=record.message_id or make_msgid(domain=self.settings.notifier_message_id_domain),
            idempotency_key=record.key,
        )
        unsubscribe = None if confirming else self.signer.links(profile.supplier_id).unsubscribe_url
        return build_message(rendered, envelope, unsubscribe, self.clock())

    def _to_committing(self, record: Record) -> None:
        now = self.clock()
        record.state, record.updated_at = State.COMMITTING, now
        record.lease_until = now + timedelta(seconds=self.settings.notifier_lease_s)

    def _attempts(
        self, record: Record, rendered: Rendered, profile: SupplierProfile, failed: MailError | None = None
    ) -> State | None:
        """Send until sent or parked; None if another instance took the email over meanwhile (it finishes it).
        ``failed``: the outcome of the attempt already made (by the batched path), handled first."""
        self._in_flight.add(record.key)
        try:
            while True:
                if failed is None:
                    message = self._message(record, rendered, profile)
                    started = time.perf_counter()

                    def committing(record: Record = record) -> None:
                        # Before the final ".": must be stored (retried while the store is away) or the "." is not
                        # written; a record taken over by another instance meanwhile stops us here (ClaimLost).
                        self._to_committing(record)
                        self._write_owned(record)

                    try:
                        self.mail.send(message, committing)
                    except ClaimLost as exc:
                        self.metrics.duplicates.inc()
                        log.error("%s; not sent here", exc)
                        return None
                    except MailError as exc:
                        failed = exc
                    else:
                        self.metrics.send_seconds.observe(time.perf_counter() - started)
                        record.state, record.reason, record.updated_at = State.SENT, None, self.clock()
                        self._save(record)
                        self._sent(record)
                        return State.SENT
                outcome = self._failed(record, failed, rendered)
                failed = None
                if not isinstance(outcome, _Again):
                    return outcome
        finally:
            self._in_flight.discard(record.key)

    def _sent(self, record: Record) -> None:
        self.metrics.emails.labels(record.kind, "sent").inc()
        if record.kind == CONFIRMATION:
            self.metrics.confirmations_sent.inc()
        self.record_event(record, NotificationStatus.SENT)

    def _failed(self, record: Record, exc: MailError, rendered: Rendered) -> State | _Again | None:
        """What a failed attempt leads to: the final state, None (taken over by another instance), or ``_AGAIN``
        (a transient failure: recorded ``retrying``, waited for, recorded ``sending`` for the next attempt)."""
        if isinstance(exc, PermanentMailError):
            self._park(record, "smtp_permanent", exc.detail or exc.reason, rendered.subject)
            return State.PARKED
        if isinstance(exc, UncertainDelivery):
            self._presume_delivered(record, exc.detail or exc.reason)
            return State.SENT
        self.metrics.emails.labels(record.kind, "failed").inc()
        self.record_event(record, NotificationStatus.FAILED, reason=exc.reason)
        if record.attempt >= self.settings.notifier_max_attempts:
            detail = f"{record.attempt} attempts; last: {exc.detail or exc.reason}"
            self._park(record, "smtp_retries_exhausted", detail, rendered.subject)
            return State.PARKED
        log.info("transient SMTP failure for %s (attempt %d): %s", record.key, record.attempt, exc.reason)
        now = self.clock()
        record.state, record.reason, record.updated_at = State.RETRYING, exc.reason, now
        record.lease_until = now + timedelta(seconds=self.settings.notifier_lease_s)
        if not self._still_ours(record):
            return None
        self.sleep(
            backoff_delay(
                record.attempt,
                self.settings.notifier_backoff_base_s,
                self.settings.notifier_backoff_max_s,
                self.rng.random(),
            )
        )
        now = self.clock()
        record.state, record.attempt, record.updated_at = State.SENDING, record.attempt + 1, now
        record.lease_until = now + timedelta(seconds=self.settings.notifier_lease_s)
        if not self._still_ours(record):
            return None
        return _AGAIN

    def deliver_batch(self, jobs: list[Job], stop: Callable[[], bool], one_by_one: bool = False) -> None:
        """Claim every job's key in one request; send the newly claimed in rounds (``_send_round``); hand the rest
        (claimed before: a redelivery, another instance, an item the store did not confirm) to ``deliver``."""
        if one_by_one:
            for job in jobs:
                if stop():
                    raise ShuttingDown("stop requested in the middle of a batch")
                self.deliver(job)
            return
        if not jobs:
            return
        now = self.clock()
        records = [self._new_record(job, None, now) for job in jobs]
        claimed: list[tuple[Job, Record]] = []
        others: list[Job] = []
        for job, record, existing in zip(jobs, records, self.store.claim_many(records), strict=True):
            if existing is None:
                claimed.append((job, record))
            elif isinstance(existing, Record) and (existing.state in FINAL or existing.state == State.QUEUED):
                self.metrics.duplicates.inc()
            else:  # in flight elsewhere or abandoned (takeover rules), or the store did not answer for this item
                others.append(job)
        size = max(1, self.settings.notifier_smtp_connections)
        pending: list[Record] = []  # accepted by the server, "sent" not written yet
        for start in range(0, len(claimed), size):
            if stop():
                self._write_sent(pending)
                raise ShuttingDown("stop requested in the middle of a batch")
            pending = self._send_round(claimed[start : start + size], pending)
        self._write_sent(pending)
        for job in others:
            if stop():
                raise ShuttingDown("stop requested in the middle of a batch")
            self.deliver(job)

    def _write_sent(self, records: list[Record], results: Sequence[bool | StoreUnavailable] | None = None) -> None:
        """Record ``sent`` (``results``: already written in a request of their own, with what outcome); a failed
        item is written alone, with retries, over whatever another instance stored meanwhile; then the event."""
        if results is None:
            results = self.store.replace_many(records) if records else []
        for record, written in zip(records, results, strict=True):
            if written is not True:
                self._save(record, written if isinstance(written, StoreUnavailable) else None)
            self._sent(record)

    def _send_round(self, round_: list[tuple[Job, Record]], carried: list[Record]) -> list[Record]:
        """Claimed emails, one per SMTP connection: every body written, then one store request writes their
        ``committing`` together with the ``sent`` of the previous round's emails (``carried``), then every final
        ".". Returns the emails the server accepted, whose ``sent`` goes with the next round's request (or the
        batch's last one). Only the final "." separates ``committing`` from delivery, as for one email; a crash
        leaves this round's and the previous round's accepted emails ``committing``: presumed delivered, not resent.
        Failed attempts continue on the one-email path (``_attempts``)."""
        records = [record for _, record in round_]
        keys = {record.key for record in records}
        self._in_flight |= keys
        error: BaseException | None = None
        lost: set[int] = set()
        carried_results: list[bool | StoreUnavailable] | None = None

        def committing(indexes: list[int]) -> Collection[int]:
            nonlocal error, carried_results
            batch = [records[i] for i in indexes]
            for record in batch:
                self._to_committing(record)
            results = self.store.replace_many([*batch, *carried])
            # The carried "sent" items are settled after the "." (a retry here would hold the connections mid-DATA).
            carried_results = results[len(batch) :]
            allowed: list[int] = []
            for i, record, written in zip(indexes, batch, results[: len(batch)], strict=True):
                if written is True:
                    allowed.append(i)
                    continue
                if error is not None:
                    continue  # the store is gone: the rest of the round stays "sending" (not sent, taken over later)
                try:  # the one-record path: retries, a lost reply recognised, a takeover detected
                    self._write_owned(record, written if isinstance(written, StoreUnavailable) else None)
                except ClaimLost as exc:
                    lost.add(i)
                    self.metrics.duplicates.inc()
                    log.error("%s; not sent here", exc)
                except (StoreUnavailable, ShuttingDown) as exc:
                    error = exc
                else:
                    allowed.append(i)
            return allowed

        started = time.perf_counter()
        try:
            outcomes = self.mail.send_many([self._message(r, j.rendered, j.profile) for j, r in round_], committing)
        finally:
            self._in_flight -= keys
        elapsed = time.perf_counter() - started
        self._write_sent(carried, carried_results)
        accepted = [r for r, outcome in zip(records, outcomes, strict=True) if outcome is None]
        now = self.clock()
        for record in accepted:
            record.state, record.reason, record.updated_at = State.SENT, None, now
            self.metrics.send_seconds.observe(elapsed / len(records))
        if error is not None:
            self._write_sent(accepted)
            raise error  # after the others of the round are settled: the worker stops without committing
        for i, ((job, record), outcome) in enumerate(zip(round_, outcomes, strict=True)):
            if outcome is not None and i not in lost:
                self._attempts(record, job.rendered, job.profile, failed=outcome)
        return accepted

    def store_retry(self, what: str, operation: Callable[[], _T], failed: StoreUnavailable | None = None) -> _T:
        """``operation`` retried with backoff while the store is unavailable, for ``notifier_store_retry_s`` at most;
        then its ``StoreUnavailable`` is raised. A stop request ends the wait (the sleep raises ``ShuttingDown``).
        ``failed``: the first try already failed so (a bulk item): the backoff starts before the next one."""
        deadline = self.clock() + timedelta(seconds=self.settings.notifier_store_retry_s)
        failures = 0
        while True:
            try:
                if failed is not None:
                    raise failed
                return operation()
            except StoreUnavailable as exc:
                failed = None
                failures += 1
                if self.clock() >= deadline:
                    log.error("giving up on %s after %d failures: %s", what, failures, exc)
                    raise
                delay = backoff_delay(
                    failures,
                    min(0.5, self.settings.notifier_backoff_base_s),
                    min(5.0, self.settings.notifier_backoff_max_s),
                    self.rng.random(),
                )
                log.warning("%s failed (%s); retrying", what, exc)
                self.sleep(max(0.05, delay))

    def _write_owned(self, record: Record, failed: StoreUnavailable | None = None) -> None:
        """Write a state this instance reaches while it holds the email (``sending``, ``retrying``, ``committing``),
        retrying while the store is away; ``ClaimLost`` if someone else changed the record meanwhile. ``failed``:
        the first try (a bulk item) failed so."""

        def write() -> bool:
            if self.store.replace(record):
                return True
            stored = self.store.get(record.key)
            if stored is None:  # the store lost the record: create it again, unless another instance just did
                return self.store.claim(record) is None
            if _same_write(stored, record):
                record.token = stored.token  # our own write, applied although its reply was lost
                return True
            if stored.owner == record.owner and stored.state in (State.SENDING, State.RETRYING, State.COMMITTING):
                # Still ours, an older version: the store lost our latest writes (restarted without saving them).
                record.token = stored.token
                return self.store.replace(record)
            return False

        if not self.store_retry(f"writing {record.key} ({record.state.value})", write, failed):
            raise ClaimLost(f"{record.key} was taken over by another instance before {record.state.value}")

    def _still_ours(self, record: Record) -> bool:
        try:
            self._write_owned(record)
        except ClaimLost as exc:
            self.metrics.duplicates.inc()
            log.error("%s; not sent here", exc)
            return False
        return True

    def _save(self, record: Record, failed: StoreUnavailable | None = None) -> None:
        """Write a settled state (sent, parked): retried while the store is away (``StoreUnavailable`` once
        ``notifier_store_retry_s`` ran out; the worker then stops, the record keeps its earlier state), and written
        over whatever another instance stored meanwhile (it cannot have sent the email: see ``_write_owned``)."""

        def write() -> None:
            if self.store.replace(record):
                return
            stored = self.store.get(record.key)
            if stored is not None and _same_write(stored, record):
                record.token = stored.token
                return
            # Only possible if another instance changed the record although our lease was live (clock skew or a
            # lease shorter than a store outage): say so loudly, keep the outcome we know.
            log.error("record %s was changed by another instance while we held it", record.key)
            record.token = None
            self.store.replace(record)

        self.store_retry(f"writing {record.key} ({record.state.value})", write, failed)

    def _park(self, record: Record, reason: str, detail: str, subject: str | None = None) -> None:
        record.state, record.reason, record.updated_at = State.PARKED, reason, self.clock()
        self._save(record)
        summary = {
            "idempotency_key": record.key,
            "kind": record.kind,
            "supplier_id": record.supplier_id,
            "notice_ids": record.notice_ids,
            "notice_version": record.notice_version,
            "message_id": record.message_id,
            "subject": subject,
            "attempts": record.attempt,
            "digest_items": record.item_keys,
        }
        self.publish(
            self.settings.topic_notifications_dlq,
            record.key,
            dead_letter(
                SERVICE, "smtp", reason, detail, json.dumps(summary, ensure_ascii=False), record.key, record.attempt
            ),
        )
        self.metrics.emails.labels(record.kind, "parked").inc()
        self.record_event(record, NotificationStatus.PARKED, reason=reason)
        log.warning("parked %s: %s", record.key, reason)

    def park_unrendered(
        self,
        key: str,
        kind: str,
        profile: SupplierProfile,
        notice_ids: list[str],
        shortlist: Shortlist | None,
        exc: Exception,
    ) -> None:
        payload = shortlist.model_dump_json() if shortlist is not None else "{}"
        detail = f"{exc.__class__.__name__}: {exc}"[:500]
        self.park_unsent(key, kind, profile.supplier_id, notice_ids, "render", "render_failed", detail, payload)

    def park_unsent(
        self,
        key: str,
        kind: str,
        supplier_id: str,
        notice_ids: list[str],
        origin: str,
        reason: str,
        detail: str,
        payload: str,
    ) -> bool:
        """Record an email that will not be sent (``parked`` with ``reason``, so never claimed again), with its
        dead letter and its ``parked`` count and event; False if its key was handled before (nothing done)."""
        record = Record(key, State.PARKED, str(kind), supplier_id, notice_ids, None, attempt=1, reason=reason)
        if self.store_retry(f"parking {key}", lambda: self.store.claim(record)) is not None:
            return False
        self.publish(
            self.settings.topic_notifications_dlq, key, dead_letter(SERVICE, origin, reason, detail, payload, key)
        )
        self.metrics.emails.labels(str(kind), "parked").inc()
        self.record_event(record, NotificationStatus.PARKED, reason=reason)
        return True

    def record_event(self, record: Record, status: NotificationStatus, reason: str | None = None) -> None:
        if record.kind not in _EVENT_KINDS:
            return  # a confirmation email: the events' contract has no kind for it (metrics and the DLQ tell)
        self.publish_event(
            record.key,
            record.supplier_id,
            record.notice_ids,
            record.notice_version,
            NotificationKind(record.kind),
            status,
            attempt=max(record.attempt, 1),
            reason=reason,
            message_id=record.message_id,
        )

    def publish_event(
        self,
        key: str,
        supplier_id: str,
        notice_ids: list[str],
        notice_version: int | None,
        kind: NotificationKind,
        status: NotificationStatus,
        *,
        attempt: int = 1,
        reason: str | None = None,
        message_id: str | None = None,
    ) -> None:
        event = NotificationEvent(
            idempotency_key=key,
            supplier_id=supplier_id,
            notice_ids=notice_ids,
            notice_version=notice_version,
            kind=kind,
            status=status,
            attempt=attempt,
            reason=reason,
            message_id=message_id,
            occurred_at=self.clock(),
        )
        self.publish(self.settings.topic_notifications, key, event)

    def publish(self, topic: str, key: str, value: BaseModel) -> None:
        """Publish (not flushed); a message Kafka refuses for good at once is dead-lettered instead."""
        try:
            self.publisher.publish(topic, key, value)
        except PermanentPublishError as exc:
            for refused in exc.refused:
                self.dead_letter_refused(refused)

    def dead_letter_refused(self, refused: Refused) -> None:
        """Set aside a message Kafka refused for good (``ConsumerLoop``'s ``on_refused``): a dead letter naming its
        topic, key and Kafka's reason on ``notifications.dlq``, an ERROR line, ``notifier_publish_refused``."""
        self.metrics.publish_refused.labels(refused.topic, refused.reason).inc()
        log.error("Kafka refused a message for %s (key %s): %s: %s; dead-lettered", refused.topic, refused.key,
                  refused.reason, refused.detail)  # fmt: skip
        detail = f"Kafka refused the message for {refused.topic}: {refused.detail}"
        if refused.topic == self.settings.topic_notifications_dlq:
            raise PermanentPublishError([refused])  # the dead-letter topic itself refuses: a deployment error
        self.publisher.publish(
            self.settings.topic_notifications_dlq,
            refused.key,
            dead_letter(SERVICE, refused.topic, refused.reason, detail, "", refused.key),
        )

    def flush(self) -> None:
        """Flush the events and dead letters; what Kafka refuses for good is dead-lettered (``dead_letter_refused``)
        and flushed in turn. Raises ``TransientPublishError`` while Kafka is away."""
        flush_or_dead_letter(self.publisher, self.dead_letter_refused)

    def count_withheld(self, profile: SupplierProfile | None, as_of: datetime | None = None) -> None:
        """Count the addresses an alert leaves out because their owner has not confirmed them (double opt-in), or
        confirmed them only after the notice version was received (``as_of``)."""
        if profile is not None and (withheld := len(profile.emails) - len(profile.alert_emails(as_of))):
            self.metrics.alerts_withheld.inc(withheld)

    def resolve_abandoned(self) -> int:
        """Settle records whose owner's lease expired and that no redelivery came back to (their shortlist was
        committed by a process that then died, which the worker's order makes rare): ``committing`` is presumed
        delivered; ``sending``/``retrying`` were not delivered, but their content went with the process, so they
        are parked on the dead-letter topic with their keys. Nothing is left silently unsettled."""
        now = self.clock()
        settled = 0
        for record in self.store.find(states=[State.SENDING, State.RETRYING, State.COMMITTING]):
            if record.key in self._in_flight or (record.lease_until is not None and record.lease_until > now):
                continue
            if record.state == State.COMMITTING:
                self._presume_delivered(record, "lease expired after the final '.'")
            else:
                self._park(record, "retry_abandoned", f"lease expired in state {record.state.value}")
            settled += 1
        return settled

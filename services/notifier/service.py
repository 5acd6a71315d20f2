"""The notifier's handlers: a shortlist becomes emails, queued digest items become one digest per supplier and
day, an unsubscribe is recorded and forwarded, a change from the preferences page is forwarded and applied. They run
over the ports (store, mail, publisher, matcher client) and are exercised in unit tests against the in-memory fakes.

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

Double opt-in (README: "Double opt-in"): an address a buyer's key or the supplier's own key registered gets no alert
until its owner confirms it, and then none about a notice version received before; ``send_confirmations`` sends it
one confirmation email per registration (at most one per address and interval), through the same
claim-send-record path as alerts (so never twice, retried, parked), and ``confirm_email`` records the owner's
confirmation in the profile through the matcher.

Skips (unsubscribed, unknown supplier, preferences, no confirmed address) are reported as ``skipped`` events but not
recorded, so a later change (the profile arrives, preferences widen, the matcher republishes) can still produce the
email once.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from enum import Enum
from typing import TypeVar
from urllib.parse import quote

from jinja2 import TemplateError

from contracts import (
    CodeScheme,
    NoticeStatus,
    NotificationEvent,
    NotificationKind,
    NotificationStatus,
    Shortlist,
    ShortlistEntry,
    SupplierProfile,
    TenderNotice,
)
from contracts.api import PreferencesPatch, ProfileSaved
from contracts.supplier import one_per_mailbox
from services.infra.bus import EventPublisher, dead_letter
from services.notifier.adapters.mail import MailSender
from services.notifier.adapters.matcher import PreferencesClient
from services.notifier.adapters.store import FINAL, NotificationStore, Record, State, Unsubscribe
from services.notifier.domain import confirmation, profile_form, tokens
from services.notifier.domain.confirmation import CONFIRMATION
from services.notifier.domain.profile_form import FieldError
from services.notifier.domain.profiles import ProfileDirectory, preference_changes
from services.notifier.domain.rendering import (
    Envelope,
    Links,
    Rendered,
    build_message,
    language_of,
    render_confirmation,
    render_digest,
    render_notice_email,
)
from services.notifier.domain.rules import (
    DigestItem,
    backoff_delay,
    digest_day,
    digest_key,
    digest_sections,
    plan_shortlist,
    received_of,
    recipients,
    undeliverable,
)
from services.notifier.exceptions import (
    ClaimLost,
    MailError,
    MatcherUnavailable,
    PermanentMailError,
    ShuttingDown,
    StoreUnavailable,
    UncertainDelivery,
)
from services.notifier.metrics import Metrics
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


@dataclass(frozen=True)
class _Job:
    """One email a shortlist calls for, rendered and not yet claimed."""

    key: str
    #: A ``NotificationKind``, or ``CONFIRMATION``.
    kind: str
    profile: SupplierProfile
    notice_ids: list[str]
    notice_version: int | None
    rendered: Rendered


_T = TypeVar("_T")


@dataclass(frozen=True)
class PreferencesSaved:
    """A change of preferences applied: the profile as the notifier now treats it, and the fields changed."""

    profile: SupplierProfile
    changed: list[str]


def _same_write(stored: Record, mine: Record) -> bool:
    """The stored version is the one this instance just wrote (the write went through though its reply was lost)."""
    return (
        stored.state == mine.state
        and stored.owner == mine.owner
        and stored.attempt == mine.attempt
        and stored.updated_at == mine.updated_at
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Confirmed:
    """What a confirmation link's POST came to: ``status`` 200 (confirmed, now or before), 404 (no such supplier),
    410 (the address is no longer registered, or was registered again since the link was sent), 503 (the matcher
    did not answer or did not store it: nothing changed); the profile as the matcher holds it, when read."""

    status: int
    address: str
    profile: SupplierProfile | None = None
    #: The address was confirmed before this request (``status`` 200 only); a GET's "would the button work".
    already: bool = False


@dataclass
class ProfileChange:
    """What a save came to: ``status`` (200 saved or nothing to change, 404, 409, 422, 503), the matcher's profile
    (the saved one on 200, the current one on 409 and 422; None when it could not be read), and the details."""

    status: int
    profile: SupplierProfile | None = None
    saved: ProfileSaved | None = None
    changed: list[str] = field(default_factory=list)
    errors: dict[str, FieldError] = field(default_factory=dict)


class Notifier:
    def __init__(
        self,
        settings: Settings,
        store: NotificationStore,
        mail: MailSender,
        publisher: EventPublisher,
        profiles: ProfileDirectory,
        matcher: PreferencesClient,
        metrics: Metrics | None = None,
        *,
        code_titles: Mapping[tuple[CodeScheme, str], str] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        instance_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.mail = mail
        self.publisher = publisher
        self.profiles = profiles
        self.matcher = matcher
        self.metrics = metrics or Metrics()
        self.code_titles = code_titles or {}
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        #: Identifies this deployment's records; a record of ours found "sending" and not in flight here was left by
        #: a previous process of this instance.
        self.instance_id = instance_id or socket.gethostname()
        self._secret = settings.notifier_unsubscribe_secret.get_secret_value().encode()
        self._in_flight: set[str] = set()
        #: Keys of confirmation emails claimed by this process (sent, parked or found handled): not claimed again.
        self._confirmations_done: set[str] = set()
        #: Suppliers with a registration whose confirmation email waits for its address's turn, and when to look.
        self._confirmations_later: dict[str, datetime] = {}
        self._supplier_locks = [threading.RLock() for _ in range(16)]

    # -- tokens and links ------------------------------------------------------------------------------------

    def token(self, purpose: str, supplier_id: str) -> str:
        return tokens.sign(self._secret, purpose, supplier_id)

    def verify(self, purpose: str, token: str) -> str:
        return tokens.verify(self._secret, purpose, token)

    def links(self, supplier_id: str) -> Links:
        base = self.settings.notifier_public_url.rstrip("/")
        return Links(
            notice_url_template=self.settings.notifier_notice_url_template,
            unsubscribe_url=f"{base}/unsubscribe?token={self.token(tokens.UNSUBSCRIBE, supplier_id)}",
            preferences_url=f"{base}/preferences?token={self.token(tokens.PREFERENCES, supplier_id)}",
        )

    # -- shortlists ------------------------------------------------------------------------------------------

    def handle_shortlist(self, shortlist: Shortlist) -> None:
        """Every email this shortlist calls for, each at most once. Events are published, not flushed."""
        self.handle_shortlists([shortlist])

    def handle_shortlists(
        self, shortlists: Sequence[Shortlist], stop: Callable[[], bool] = lambda: False, *, one_by_one: bool = False
    ) -> None:
        """The emails of a poll batch of shortlists, each at most once: claimed in one store request, sent in rounds
        over ``notifier_smtp_connections`` connections, each round's state writes made in one request per step.
        Shortlists of the same notice are handled in order (each sees who the previous one alerted): the batch is
        cut before a notice comes back. ``stop`` is checked between rounds (``ShuttingDown``: the rest of the batch
        stays unhandled and uncommitted). ``one_by_one``: the earlier path, one claim, send and three state writes
        after the other per email (the benchmark's baseline; the batched path falls back to it for the emails it
        cannot handle in bulk)."""
        segment: list[Shortlist] = []
        for shortlist in shortlists:
            if any(s.notice_id == shortlist.notice_id for s in segment):
                self._deliver_batch([job for s in segment for job in self._plan(s)], stop, one_by_one)
                segment = []
            segment.append(shortlist)
        if segment:
            self._deliver_batch([job for s in segment for job in self._plan(s)], stop, one_by_one)
        # The batch's writes (sent records, queued digest items) become searchable for every process before the
        # batch is committed: one refresh per batch, none when nothing was written. (This process's own searches,
        # such as the next segment's "already alerted", need none: the store refreshes before a search that follows
        # its writes. After a crash the server's own refresh, within a second, does it.)
        self._store_retry("making the batch's writes searchable", self.store.make_searchable)

    def _plan(self, shortlist: Shortlist) -> list[_Job]:
        """Skips reported, cancelled digest items withdrawn, digest items queued; the emails to send, rendered
        (an email that cannot be rendered is parked here)."""
        jobs: list[_Job] = []
        self.metrics.shortlists.inc()
        cancelled = shortlist.notice_status == NoticeStatus.CANCELLED
        before = shortlist.notice_version + 1 if cancelled else shortlist.notice_version
        # Everyone alerted about the notice is told of a change or a cancellation, on a shortlist still or not.
        alerted = self.store.alerted_suppliers(shortlist.notice_id, before) if before > 1 else set()
        ids = {e.supplier_id for e in shortlist.entries} | set(shortlist.previously_shortlisted) | alerted
        profiles = {sid: self.profiles.get(sid) for sid in ids}
        plan = plan_shortlist(shortlist, profiles, alerted)
        as_of = received_of(shortlist.notice)
        for supplier_id in {d.supplier_id for d in plan.send} | {
            s.supplier_id for s in plan.skip if s.reason in ("unconfirmed_email", "confirmed_after_notice")
        }:
            self._withhold(profiles[supplier_id], as_of)
        for skip in plan.skip:
            self.metrics.skipped.labels(skip.reason).inc()
            self._publish_event(
                skip.key,
                skip.supplier_id,
                [skip.notice_id],
                skip.notice_version,
                skip.kind,
                NotificationStatus.SKIPPED,
                reason=skip.reason,
            )
        if cancelled:
            # Every queued digest item of a cancelled notice goes, whoever it was queued for (on a shortlist still
            # or ranked out since: ``plan.withdraw`` names only the former).
            self._withdraw(None, shortlist.notice_id, "notice_cancelled")
        for delivery in plan.queue:
            payload = json.dumps(
                {
                    "notice": shortlist.notice.model_dump(mode="json"),
                    "entry": delivery.entry.model_dump(mode="json") if delivery.entry else None,
                }
            )
            now = self._clock()
            record = Record(
                delivery.key,
                State.QUEUED,
                delivery.kind.value,
                delivery.supplier_id,
                [delivery.notice_id],
                delivery.notice_version,
                payload=payload,
                updated_at=now,
            )
            if self.store.claim(record) is None:
                self.metrics.queued.inc()
            else:
                self.metrics.duplicates.inc()
        for delivery in plan.send:
            known = profiles[delivery.supplier_id]
            assert known is not None  # the plan sends only to known, deliverable suppliers
            profile = recipients(known, as_of)  # the addresses confirmed by the time this version was received
            try:
                rendered = render_notice_email(
                    delivery.kind,
                    profile,
                    shortlist.notice,
                    delivery.entry,
                    self.links(profile.supplier_id),
                    self.code_titles,
                )
            except (TemplateError, ValueError, KeyError) as exc:
                self._park_unrendered(delivery.key, delivery.kind, profile, [delivery.notice_id], shortlist, exc)
                continue
            jobs.append(
                _Job(delivery.key, delivery.kind, profile, [delivery.notice_id], delivery.notice_version, rendered)
            )
        return jobs

    def _withhold(self, profile: SupplierProfile | None, as_of: datetime | None = None) -> None:
        """Count the addresses an alert leaves out because their owner has not confirmed them (double opt-in), or
        confirmed them only after the notice version was received (``as_of``)."""
        if profile is not None and (withheld := len(profile.emails) - len(profile.alert_emails(as_of))):
            self.metrics.alerts_withheld.inc(withheld)

    def _skip_items(self, items: Iterable[Record], reason: str, now: datetime) -> None:
        """Queued digest items no email can carry (``reason``, from ``undeliverable``): withdrawn, counted and
        reported ``skipped``."""
        for item in items:
            item.state, item.reason, item.updated_at = State.WITHDRAWN, reason, now
            self.store.replace(item)
            self.metrics.skipped.labels(reason).inc()
            self._record_event(item, NotificationStatus.SKIPPED, reason=reason)

    def _withdraw(self, supplier_id: str | None, notice_id: str, reason: str) -> None:
        for record in self.store.find(states=[State.QUEUED], supplier_id=supplier_id, notice_id=notice_id):
            record.state, record.reason, record.updated_at = State.WITHDRAWN, reason, self._clock()
            self.store.replace(record)

    # -- one email -------------------------------------------------------------------------------------------

    def _deliver(
        self,
        key: str,
        kind: str,
        profile: SupplierProfile,
        notice_ids: list[str],
        notice_version: int | None,
        rendered: Rendered,
        item_keys: list[str] | None = None,
    ) -> State | None:
        """Claim, send with retries, record; returns the final state, or None when the key was already handled."""
        now = self._clock()
        record = self._new_record(key, kind, profile, notice_ids, notice_version, item_keys, now)
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
            self._sleep(max(0.05, min(1.0, (existing.lease_until - now).total_seconds())))
            now = self._clock()
            existing = self.store.get(record.key) or self.store.claim(record)
        return self._attempts(record, rendered, profile)

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
        record.state, record.reason, record.updated_at = State.SENT, "unconfirmed", self._clock()
        self._save(record)
        self.metrics.emails.labels(record.kind, "unconfirmed").inc()
        self._record_event(record, NotificationStatus.SENT, reason="unconfirmed")
        log.warning("%s presumed delivered, not sent again (Message-ID %s): %s", record.key, record.message_id, why)

    def _new_record(
        self,
        key: str,
        kind: str,
        profile: SupplierProfile,
        notice_ids: list[str],
        notice_version: int | None,
        item_keys: list[str] | None,
        now: datetime,
    ) -> Record:
        return Record(
            key=key,
            state=State.SENDING,
            kind=str(kind),
            supplier_id=profile.supplier_id,
            notice_ids=notice_ids,
            notice_version=notice_version,
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
            to_name=profile.names.get(language_of(profile)) or profile.display_name,
            message_id=record.message_id or make_msgid(domain=self.settings.notifier_message_id_domain),
            idempotency_key=record.key,
        )
        unsubscribe = None if confirming else self.links(profile.supplier_id).unsubscribe_url
        return build_message(rendered, envelope, unsubscribe, self._clock())

    def _to_committing(self, record: Record) -> None:
        now = self._clock()
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
                        record.state, record.reason, record.updated_at = State.SENT, None, self._clock()
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
        self._record_event(record, NotificationStatus.SENT)

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
        self._record_event(record, NotificationStatus.FAILED, reason=exc.reason)
        if record.attempt >= self.settings.notifier_max_attempts:
            detail = f"{record.attempt} attempts; last: {exc.detail or exc.reason}"
            self._park(record, "smtp_retries_exhausted", detail, rendered.subject)
            return State.PARKED
        log.info("transient SMTP failure for %s (attempt %d): %s", record.key, record.attempt, exc.reason)
        now = self._clock()
        record.state, record.reason, record.updated_at = State.RETRYING, exc.reason, now
        record.lease_until = now + timedelta(seconds=self.settings.notifier_lease_s)
        if not self._still_ours(record):
            return None
        self._sleep(
            backoff_delay(
                record.attempt,
                self.settings.notifier_backoff_base_s,
                self.settings.notifier_backoff_max_s,
                self._rng.random(),
            )
        )
        now = self._clock()
        record.state, record.attempt, record.updated_at = State.SENDING, record.attempt + 1, now
        record.lease_until = now + timedelta(seconds=self.settings.notifier_lease_s)
        if not self._still_ours(record):
            return None
        return _AGAIN

    # -- a batch of emails -----------------------------------------------------------------------------------

    def _deliver_batch(self, jobs: list[_Job], stop: Callable[[], bool], one_by_one: bool = False) -> None:
        """Claim every job's key in one request; send the newly claimed in rounds (``_send_round``); hand the rest
        (claimed before: a redelivery, another instance, an item the store did not confirm) to ``_deliver``."""
        if one_by_one:
            for job in jobs:
                if stop():
                    raise ShuttingDown("stop requested in the middle of a batch")
                self._deliver(job.key, job.kind, job.profile, job.notice_ids, job.notice_version, job.rendered)
            return
        if not jobs:
            return
        now = self._clock()
        records = [self._new_record(j.key, j.kind, j.profile, j.notice_ids, j.notice_version, None, now) for j in jobs]
        claimed: list[tuple[_Job, Record]] = []
        others: list[_Job] = []
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
            self._deliver(job.key, job.kind, job.profile, job.notice_ids, job.notice_version, job.rendered)

    def _write_sent(self, records: list[Record], results: Sequence[bool | StoreUnavailable] | None = None) -> None:
        """Record ``sent`` (``results``: already written in a request of their own, with what outcome); a failed
        item is written alone, with retries, over whatever another instance stored meanwhile; then the event."""
        if results is None:
            results = self.store.replace_many(records) if records else []
        for record, written in zip(records, results, strict=True):
            if written is not True:
                self._save(record, written if isinstance(written, StoreUnavailable) else None)
            self._sent(record)

    def _send_round(self, round_: list[tuple[_Job, Record]], carried: list[Record]) -> list[Record]:
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
        now = self._clock()
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

    def _store_retry(self, what: str, operation: Callable[[], _T], failed: StoreUnavailable | None = None) -> _T:
        """``operation`` retried with backoff while the store is unavailable, for ``notifier_store_retry_s`` at most;
        then its ``StoreUnavailable`` is raised. A stop request ends the wait (the sleep raises ``ShuttingDown``).
        ``failed``: the first try already failed so (a bulk item): the backoff starts before the next one."""
        deadline = self._clock() + timedelta(seconds=self.settings.notifier_store_retry_s)
        failures = 0
        while True:
            try:
                if failed is not None:
                    raise failed
                return operation()
            except StoreUnavailable as exc:
                failed = None
                failures += 1
                if self._clock() >= deadline:
                    log.error("giving up on %s after %d failures: %s", what, failures, exc)
                    raise
                delay = backoff_delay(
                    failures,
                    min(0.5, self.settings.notifier_backoff_base_s),
                    min(5.0, self.settings.notifier_backoff_max_s),
                    self._rng.random(),
                )
                log.warning("%s failed (%s); retrying", what, exc)
                self._sleep(max(0.05, delay))

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

        if not self._store_retry(f"writing {record.key} ({record.state.value})", write, failed):
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

        self._store_retry(f"writing {record.key} ({record.state.value})", write, failed)

    def _park(self, record: Record, reason: str, detail: str, subject: str | None = None) -> None:
        record.state, record.reason, record.updated_at = State.PARKED, reason, self._clock()
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
        self.publisher.publish(
            self.settings.topic_notifications_dlq,
            record.key,
            dead_letter(
                SERVICE, "smtp", reason, detail, json.dumps(summary, ensure_ascii=False), record.key, record.attempt
            ),
        )
        self.metrics.emails.labels(record.kind, "parked").inc()
        self._record_event(record, NotificationStatus.PARKED, reason=reason)
        log.warning("parked %s: %s", record.key, reason)

    def _park_unrendered(
        self,
        key: str,
        kind: str,
        profile: SupplierProfile,
        notice_ids: list[str],
        shortlist: Shortlist | None,
        exc: Exception,
    ) -> None:
        record = Record(key, State.PARKED, str(kind), profile.supplier_id, notice_ids, None, attempt=1)
        if self.store.claim(record) is not None:
            return  # handled before
        payload = shortlist.model_dump_json() if shortlist is not None else "{}"
        self.publisher.publish(
            self.settings.topic_notifications_dlq,
            key,
            dead_letter(SERVICE, "render", "render_failed", f"{exc.__class__.__name__}: {exc}"[:500], payload, key),
        )
        self.metrics.emails.labels(str(kind), "parked").inc()
        self._record_event(record, NotificationStatus.PARKED, reason="render_failed")

    def _record_event(self, record: Record, status: NotificationStatus, reason: str | None = None) -> None:
        if record.kind not in _EVENT_KINDS:
            return  # a confirmation email: the events' contract has no kind for it (metrics and the DLQ tell)
        self._publish_event(
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

    def _publish_event(
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
            occurred_at=self._clock(),
        )
        self.publisher.publish(self.settings.topic_notifications, key, event)

    # -- digests ---------------------------------------------------------------------------------------------

    def send_due_digests(self) -> int:
        """One digest per supplier whose local digest hour has come today and who has queued matches; returns how
        many were sent."""
        now = self._clock()
        by_supplier: dict[str, list[Record]] = defaultdict(list)
        for record in self.store.find(states=[State.QUEUED]):
            by_supplier[record.supplier_id].append(record)
        if not by_supplier:
            return 0
        # Items an earlier digest carried (its record lists them) but that a crash left "queued": read once for all
        # suppliers (one search, not one per supplier).
        carried: dict[str, Record] = {}
        for digest in self.store.find(states=[State.SENT, State.PARKED], kind=NotificationKind.DIGEST.value):
            carried.update(dict.fromkeys(digest.item_keys, digest))
        sent = 0
        for supplier_id, items in sorted(by_supplier.items()):
            profile = self.profiles.get(supplier_id)
            if profile is None:
                continue  # not known (yet): the items wait
            if reason := undeliverable(profile):
                if reason == "unconfirmed_email":
                    self._withhold(profile)
                self._skip_items(items, reason, now)
                continue
            day = digest_day(profile.preferences, now)
            if day is None:
                continue
            if self._send_digest(profile, digest_key(supplier_id, day), items, now, day, carried) == State.SENT:
                sent += 1
        self._store_retry("making the digests' writes searchable", self.store.make_searchable)
        return sent

    def _send_digest(
        self,
        profile: SupplierProfile,
        key: str,
        items: list[Record],
        now: datetime,
        day: date,
        carried: dict[str, Record],
    ) -> State | None:
        # Items an earlier digest carried but that a crash left "queued": settle them now.
        pending: list[Record] = []
        for item in items:
            if item.key in carried:
                self._settle(item, carried[item.key])
            else:
                pending.append(item)
        today = self.store.get(key)
        if not pending or (today is not None and today.state in FINAL):
            return None  # nothing new, or today's digest is out: the rest waits for tomorrow
        by_key = {item.key: item for item in pending}
        digest_items = []
        for item in pending:
            data = json.loads(item.payload or "{}")
            entry = ShortlistEntry.model_validate(data["entry"]) if data.get("entry") else None
            digest_items.append(DigestItem(item.key, TenderNotice.model_validate(data["notice"]), entry))
        sections = digest_sections(digest_items, now, self.settings.notifier_closing_soon_days)
        for dropped in sections.dropped:
            item = by_key[dropped.key]
            item.state, item.reason, item.updated_at = State.WITHDRAWN, "expired_or_superseded", now
            self.store.replace(item)
        included = sections.closing_soon + sections.others
        if not included:
            return None
        # One digest for all its addresses: those confirmed by the time its earliest version was received.
        stamps = [at for i in included if (at := received_of(i.notice)) is not None]
        as_of = min(stamps) if stamps else None
        if reason := undeliverable(profile, as_of):
            # Rare (an address confirmed then removed, another confirmed since): not for these items.
            self._skip_items([by_key[i.key] for i in included], reason, now)
            return None
        self._withhold(profile, as_of)
        profile = recipients(profile, as_of)
        rendered = render_digest(
            profile,
            sections,
            day,
            self.links(profile.supplier_id),
            self.code_titles,
            self.settings.notifier_closing_soon_days,
        )
        notice_ids = [i.notice.notice_id for i in included]
        state = self._deliver(
            key, NotificationKind.DIGEST, profile, notice_ids, None, rendered, item_keys=[i.key for i in included]
        )
        outcome = self.store.get(key)
        if outcome is not None and outcome.state in (State.SENT, State.PARKED):
            for i in included:
                self._settle(by_key[i.key], outcome)
        return state

    def _settle(self, item: Record, digest: Record) -> None:
        item.state, item.digest_key, item.updated_at = digest.state, digest.key, self._clock()
        self.store.replace(item)

    # -- double opt-in ---------------------------------------------------------------------------------------

    def confirmation_url(self, item: confirmation.Pending) -> str:
        base = self.settings.notifier_public_url.rstrip("/")
        return f"{base}/confirm?token={quote(self.token(tokens.CONFIRM, item.subject), safe='')}"

    def send_confirmations(self, stop: Callable[[], bool] = lambda: False) -> int:
        """One confirmation email to each registration waiting for it, among the suppliers put in the directory since
        the last call (a restart reads every profile again). Each is claimed in the store under its key and sent,
        retried and parked as alerts are, so never twice. An address whose turn another registration had within
        ``notifier_confirmation_min_interval_days`` (``_address_turn``) waits: its supplier is looked at again when
        the interval has passed. An unsubscribed supplier's addresses get nothing (its profile, subscribed again, is
        looked at again). Returns how many emails were asked for (sent, parked or found handled before)."""
        jobs: list[_Job] = []
        now = self._clock()
        due = [s for s, at in self._confirmations_later.items() if at <= now]
        for supplier_id in due:
            del self._confirmations_later[supplier_id]
        for supplier_id in dict.fromkeys([*self.profiles.take_unconfirmed(), *due]):
            profile = self.profiles.get(supplier_id)
            if profile is None or profile.preferences.unsubscribed:
                continue
            for item in confirmation.pending(profile):
                if item.key in self._confirmations_done:
                    continue
                later = self._address_turn(item, now)
                if later is not None:
                    # The address had a confirmation email (another registration) within the interval: this one
                    # waits for its turn, looked at again then (and at every restart).
                    held = self._confirmations_later.get(supplier_id)
                    self._confirmations_later[supplier_id] = later if held is None else min(held, later)
                    self.metrics.confirmations_held.inc()
                    log.info("confirmation email for an address of %s held until %s: the address had one within "
                             "%g days", supplier_id, later.isoformat(),
                             self.settings.notifier_confirmation_min_interval_days)  # fmt: skip
                    continue
                one = profile.model_copy(update={"emails": [item.address]})
                try:
                    url = self.confirmation_url(item)
                    rendered = render_confirmation(
                        profile,
                        item.address,
                        item.registered_by,
                        url,
                        self.settings.notifier_confirmation_min_interval_days,
                    )
                except (TemplateError, ValueError, KeyError) as exc:
                    self._park_unrendered(item.key, CONFIRMATION, one, [], None, exc)
                    continue
                jobs.append(_Job(item.key, CONFIRMATION, one, [], None, rendered))
        if jobs:
            self._deliver_batch(jobs, stop)
            self._confirmations_done.update(job.key for job in jobs)
        return len(jobs)

    @property
    def _confirmation_gap(self) -> timedelta:
        return timedelta(days=self.settings.notifier_confirmation_min_interval_days)

    def _address_turn(self, item: confirmation.Pending, now: datetime) -> datetime | None:
        """None if this registration may have its confirmation email now (the address's gate record, created or
        taken over with compare-and-set, names it: across instances and restarts, one registration per address
        and interval), else when to look again."""
        gap = self._confirmation_gap
        if not gap:
            return None
        mine = Record(
            confirmation.gate_key(item.address), State.SENT, confirmation.CONFIRMATION_GATE, item.supplier_id,
            item_keys=[item.key], updated_at=now,
        )  # fmt: skip
        existing = self._store_retry(f"claiming {mine.key}", lambda: self.store.claim(mine))
        if existing is None or item.key in existing.item_keys:
            return None  # the address's first, or this registration has the turn already (a restart, a retry)
        if existing.updated_at is not None and existing.updated_at + gap > now:
            return existing.updated_at + gap
        mine.token = existing.token
        if self._store_retry(f"taking {mine.key}", lambda: self.store.replace(mine)):
            return None
        return now + timedelta(seconds=self.settings.notifier_confirmation_interval_s)  # another took it meanwhile

    def confirm_email(self, subject: str) -> Confirmed:
        """Record that an address's owner confirmed it (the POST of its confirmation link; ``subject``: the verified
        token's, naming supplier, address and registration): the matcher's profile is read, the address's entry
        gets ``confirmed_at`` and the profile is stored back whole (``PUT``, as the profile page saves), under the
        supplier's lock; the saved profile is used here at once and reaches other instances on
        ``suppliers.profiles``. Confirming twice is harmless (200 again). ``InvalidToken`` if the subject is not a
        confirmation's."""
        supplier_id, address, _ = confirmation.read_subject(subject)
        with self._supplier_lock(supplier_id):
            state = self.confirmation_state(subject)
            if state.status != 200 or state.already:
                return state  # gone, unknown, unreadable, or confirmed before (this link, or an admin vouched)
            current = state.profile
            assert current is not None
            entry = current.email_confirmations[address]
            done = entry.model_copy(update={"confirmed_at": self._clock()})
            new = current.model_copy(update={"email_confirmations": {**current.email_confirmations, address: done}})
            try:
                saved = self.matcher.replace(new).profile
            except MatcherUnavailable as exc:
                log.warning("confirmation of an address of %s not recorded: %s", supplier_id, exc)
                return Confirmed(503, address, current)
            if address in saved.unconfirmed_emails():
                # Only an admin key's write is taken as stated (the matcher ignores what other keys say of consent).
                log.error("the matcher did not record the confirmation for %s: is TB_NOTIFIER_MATCHER_API_KEY an "
                          "admin key?", supplier_id)  # fmt: skip
                return Confirmed(503, address, current)
            self.profiles.put(saved)
            self.metrics.emails_confirmed.inc()
            log.info("an address of %s was confirmed by its owner", supplier_id)
            return Confirmed(200, address, saved)

    def confirmation_state(self, subject: str) -> Confirmed:
        """What a confirmation link's POST would come to, read from the matcher's profile and changing nothing (the
        GET of the link shows it): 200 (``already``: confirmed before), 404, 410 or 503, as ``confirm_email``
        answers. ``InvalidToken`` if the subject is not a confirmation's."""
        supplier_id, address, registered = confirmation.read_subject(subject)
        try:
            current = self.matcher.profile(supplier_id)
        except MatcherUnavailable as exc:
            log.warning("confirmation of an address of %s not read: %s", supplier_id, exc)
            return Confirmed(503, address, self.profiles.get(supplier_id))
        if current is None:
            return Confirmed(404, address)
        entry = current.email_confirmations.get(address)
        if address not in current.emails or (
            entry is not None and confirmation.micros(entry.registered_at) != registered
        ):
            return Confirmed(410, address, current)
        return Confirmed(200, address, current, already=entry is None or entry.confirmed_at is not None)

    # -- abandoned records -----------------------------------------------------------------------------------

    def resolve_abandoned(self) -> int:
        """Settle records whose owner's lease expired and that no redelivery came back to (their shortlist was
        committed by a process that then died, which the worker's order makes rare): ``committing`` is presumed
        delivered; ``sending``/``retrying`` were not delivered, but their content went with the process, so they
        are parked on the dead-letter topic with their keys. Nothing is left silently unsettled."""
        now = self._clock()
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

    # -- unsubscribes and preferences ------------------------------------------------------------------------

    def _supplier_lock(self, supplier_id: str) -> threading.RLock:
        """One of a few locks, by supplier: a change from the preferences page, a one-click unsubscribe and the
        periodic forwarding of pending unsubscribes of one supplier happen one after the other, never interleaved
        (so a pending unsubscribe listed before a resubscribe is not forwarded after it)."""
        return self._supplier_locks[zlib.crc32(supplier_id.encode()) % len(self._supplier_locks)]

    def load_unsubscribes(self) -> None:
        items = self.store.unsubscribes()
        self.profiles.load_unsubscribes((u.supplier_id, u.at, u.synced) for u in items)
        self.metrics.unsubscribes_pending.set(sum(not u.synced for u in items))

    def unsubscribe(self, supplier_id: str) -> bool:
        """Record the unsubscribe durably and apply it here at once, then tell the matcher; True if the matcher
        acknowledged it (otherwise ``sync_unsubscribes`` retries later)."""
        with self._supplier_lock(supplier_id):
            at = self._clock()
            self.store.save_unsubscribe(Unsubscribe(supplier_id, at, synced=False))
            self.profiles.mark_unsubscribed(supplier_id, at, synced=False)
            self.metrics.unsubscribes.inc()
            self.metrics.unsubscribes_pending.inc()
            return self._forward(supplier_id, at)

    def _forward(self, supplier_id: str, at: datetime) -> bool:
        try:
            self.matcher.unsubscribe(supplier_id)
        except MatcherUnavailable as exc:
            log.warning("unsubscribe of %s not yet forwarded to the matcher: %s", supplier_id, exc)
            return False
        self.store.save_unsubscribe(Unsubscribe(supplier_id, at, synced=True))
        self.profiles.mark_unsubscribed(supplier_id, at, synced=True)
        self.metrics.unsubscribes_pending.dec()
        return True

    def sync_unsubscribes(self) -> int:
        """Forward the unsubscribes the matcher has not acknowledged; returns how many are still pending.

        Each is read again under its supplier's lock before it is forwarded: one acknowledged or superseded since
        the listing (the supplier subscribed again from its preferences page) is not forwarded over the newer wish.
        That costs a search per pending unsubscribe, and there are few (none while the matcher answers)."""
        left = 0
        for u in [u for u in self.store.unsubscribes() if not u.synced]:
            with self._supplier_lock(u.supplier_id):
                if u not in self.store.unsubscribes():
                    continue
                left += not self._forward(u.supplier_id, u.at)
        self.metrics.unsubscribes_pending.set(left)
        return left

    def update_preferences(self, supplier_id: str, patch: PreferencesPatch) -> PreferencesSaved | None:
        """Apply a supplier's change of preferences (from its preferences page): forwarded to the matcher, which owns
        profiles; once it answers, the profile it stored is used here at once. None if the supplier is unknown here
        or at the matcher.

        Raises ``NotEditable`` or pydantic's ``ValidationError`` for a change that is not allowed or not valid,
        ``MatcherUnavailable`` if the matcher did not take it, and the store's errors if a resubscribe could not be
        recorded; in every case nothing changed here. Turning alerts off and nothing else is an unsubscribe, which
        needs only the store (README: "Preferences page")."""
        with self._supplier_lock(supplier_id):
            current = self.profiles.get(supplier_id)
            if current is None:
                return None
            changes = preference_changes(current.preferences, patch)
            if not changes:
                return PreferencesSaved(current, [])
            if changes == {"unsubscribed": True}:
                self.unsubscribe(supplier_id)
                self.metrics.preference_changes.labels("unsubscribed").inc()
                return PreferencesSaved(self.profiles.get(supplier_id) or current, ["unsubscribed"])
            saved = self.matcher.update(supplier_id, changes)
            if saved is None:
                log.info("matcher has no supplier %s; preferences not changed", supplier_id)
                return None
            local = self.profiles.local_unsubscribe(supplier_id)
            if changes.get("unsubscribed") is False and local is not None:
                self._supersede_unsubscribe(supplier_id, local, saved)
            self.profiles.put(saved)
            for name in changes:
                self.metrics.preference_changes.labels(name).inc()
            return PreferencesSaved(self.profiles.get(supplier_id) or saved, list(changes))

    def change_profile(self, supplier_id: str, fields: Mapping[str, object], version: str | None) -> ProfileChange:
        """Read the profile from the matcher, lay the form's fields over it and store it back whole (the matcher's API
        has no partial update of these fields). Under the supplier's lock, which the preferences page and unsubscribes
        take too: a change of preferences made here cannot land between the read and the write and be undone by it.
        A change made elsewhere (another notifier, an admin import) in that window can: the matcher's PUT has no
        condition to refuse it (README: "Matching profile page")."""
        with self._supplier_lock(supplier_id):
            try:
                current = self.matcher.profile(supplier_id)
            except MatcherUnavailable as exc:
                log.warning("profile of %s not read: %s", supplier_id, exc)
                return ProfileChange(503)
            if current is None:
                return ProfileChange(404)
            if version is not None and version != profile_form.version_of(current):
                return ProfileChange(409, current)
            edit, errors = profile_form.read_edit(fields, current)
            if edit is None:
                return ProfileChange(422, current, errors=errors)
            new = profile_form.apply_edit(current, edit)
            changed = profile_form.changed_fields(current, new)
            if not changed:
                return ProfileChange(200, current)
            # The supplier's own choice: an agency's roster re-import leaves these fields as they are now.
            chosen = {**new.set_by_supplier, **dict.fromkeys(changed, self._clock())}
            new = new.model_copy(update={"set_by_supplier": chosen})
            try:
                saved = self.matcher.replace(new)
            except MatcherUnavailable as exc:
                log.warning("profile of %s not saved: %s", supplier_id, exc)
                return ProfileChange(503, current)
            self.profiles.put(saved.profile)
            for name in changed:
                self.metrics.profile_changes.labels(name).inc()
            log.info("profile of %s saved (%s), %d notices re-matched", supplier_id, ", ".join(changed),
                     saved.rematched_notices)  # fmt: skip
            return ProfileChange(200, saved.profile, saved, changed)

    def _supersede_unsubscribe(self, supplier_id: str, local: tuple[datetime, bool], saved: SupplierProfile) -> None:
        """The supplier subscribed again after unsubscribing here: its stored unsubscribe is marked synced (so it is
        never forwarded over the newer wish) and dated just before the matcher's stamp of the saved profile (so
        ``ProfileDirectory.get`` lets that profile win, here and after a restart, whatever the two clocks say)."""
        at, synced = local
        if saved.updated_at is not None and saved.updated_at <= at:
            at = saved.updated_at - timedelta(microseconds=1)
        if synced and at == local[0]:
            return
        self.store.save_unsubscribe(Unsubscribe(supplier_id, at, synced=True))
        self.profiles.mark_unsubscribed(supplier_id, at, synced=True)
        if not synced:
            self.metrics.unsubscribes_pending.dec()

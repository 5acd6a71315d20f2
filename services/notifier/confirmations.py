"""Confirmations (double opt-in): one confirmation email per registration of an address (at most one per address
and interval), sent through ``delivery.py`` as alerts are, and the owner's confirmation recorded in the profile
through the matcher.

Double opt-in (README: "Double opt-in"): an address a buyer's key or the supplier's own key registered gets no alert
until its owner confirms it, and then none about a notice version received before; ``send_confirmations`` sends it
one confirmation email per registration (at most one per address and interval), through the same
claim-send-record path as alerts (so never twice, retried, parked), and ``confirm_email`` records the owner's
confirmation in the profile through the matcher.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jinja2 import TemplateError

from contracts import SupplierProfile
from services.notifier.delivery import Delivery, Job
from services.notifier.domain import confirmation, tokens
from services.notifier.domain.confirmation import CONFIRMATION
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.domain.rendering import render_confirmation
from services.notifier.domain.tokens import Signer
from services.notifier.exceptions import MatcherUnavailable
from services.notifier.metrics import Metrics
from services.notifier.ports import FINAL, NotificationStore, PreferencesClient, Record, State
from services.notifier.settings import Settings
from services.notifier.subscriptions import SupplierLocks

log = logging.getLogger(__name__)


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
class Confirmations:
    """Confirmation emails of registered addresses, and the owners' confirmations, through the matcher."""

    settings: Settings
    delivery: Delivery
    store: NotificationStore
    profiles: ProfileDirectory
    matcher: PreferencesClient
    metrics: Metrics
    signer: Signer
    locks: SupplierLocks
    clock: Callable[[], datetime]
    #: Keys of confirmation emails claimed by this process (sent, parked or found handled): not claimed again.
    _confirmations_done: set[str] = field(default_factory=set)
    #: Suppliers with a registration whose confirmation email waits for its address's turn, and when to look.
    _confirmations_later: dict[str, datetime] = field(default_factory=dict)

    def confirmation_url(self, item: confirmation.Pending) -> str:
        return self.signer.url("confirm", tokens.CONFIRM, item.subject)

    def send_confirmations(self, stop: Callable[[], bool] = lambda: False) -> int:
        """One confirmation email to each registration waiting for it, among the suppliers put in the directory since
        the last call (a restart reads every profile again). Each is claimed in the store under its key and sent,
        retried and parked as alerts are, so never twice. The limits, in this order:

        - at most ``notifier_confirmations_per_round`` emails per call: the rest (their suppliers) wait for the next
          call, so a flood of registrations never holds the alerts of the next poll batch back;
        - a registrant over its hour's or day's worth (``notifier_confirmations_per_registrant_hour`` / ``_day``,
          ``_registrant_quota``): the email is not sent, parked with the limit as its reason (counted, a dead
          letter, a log line), never tried again for this registration;
        - a mailbox (``confirmation.mailbox``) whose turn another registration had within
          ``notifier_confirmation_min_interval_days`` (``_address_turn``): this one waits, its supplier is looked
          at again when the interval has passed.

        An unsubscribed supplier's addresses get nothing (its profile, subscribed again, is looked at again). A
        registration whose email is settled in the store already (sent, parked: a restart) counts against no limit
        and is not asked for again. Returns how many emails were asked for (sent, parked, or found claimed by
        another process meanwhile)."""
        jobs: list[Job] = []
        now = self.clock()
        budget = self.settings.notifier_confirmations_per_round
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
                if len(jobs) >= budget:
                    # This round's worth is taken: the supplier is looked at again next round (alerts go between).
                    self._confirmations_later[supplier_id] = now
                    self.metrics.confirmations_deferred.inc()
                    continue
                before = self.delivery.store_retry(f"reading {item.key}", lambda: self.store.get(item.key))  # noqa: B023
                if before is not None and before.state in FINAL:
                    self._confirmations_done.add(item.key)  # sent, parked or refused before (a restart): no count
                    self.metrics.duplicates.inc()
                    continue
                if (limit := self._registrant_quota(item, now)) is not None:
                    self._refuse(item, limit)
                    continue
                later = self._address_turn(item, now)
                if later is not None:
                    # The mailbox had a confirmation email (another registration) within the interval: this one
                    # waits for its turn, looked at again then (and at every restart).
                    held = self._confirmations_later.get(supplier_id)
                    self._confirmations_later[supplier_id] = later if held is None else min(held, later)
                    self.metrics.confirmations_held.inc()
                    log.info("confirmation email for an address of %s held until %s: the mailbox had one within "
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
                    self.delivery.park_unrendered(item.key, CONFIRMATION, one, [], None, exc)
                    continue
                jobs.append(Job(item.key, CONFIRMATION, one, [], None, rendered))
        if jobs:
            self.delivery.deliver_batch(jobs, stop)
            self._confirmations_done.update(job.key for job in jobs)
        return len(jobs)

    def _registrant_quota(self, item: confirmation.Pending, now: datetime) -> str | None:
        """None if ``item``'s registrant may have one more confirmation email now (one is counted in its day's and
        its hour's counters, records in the store shared by every instance), else the limit it reached
        (``registrant_day_limit``, ``registrant_hour_limit``)."""
        hour_key, day_key = confirmation.quota_keys(item.registered_by, now)
        every = (
            (day_key, self.settings.notifier_confirmations_per_registrant_day, "registrant_day_limit"),
            (hour_key, self.settings.notifier_confirmations_per_registrant_hour, "registrant_hour_limit"),
        )
        limits = [x for x in every if x[1]]  # 0: no limit
        for key, limit, name in limits:  # both looked at first: a refusal by one takes nothing from the other
            counter = self.delivery.store_retry(f"reading {key}", lambda: self.store.get(key))  # noqa: B023
            if counter is not None and counter.attempt >= limit:
                return name
        for key, limit, name in limits:
            if not self._count(key, item.registered_by, limit, now):
                return name  # another instance took the last one meanwhile
        return None

    def _count(self, key: str, registrant: str, limit: int, now: datetime) -> bool:
        """Add one to the counter record ``key`` (its ``attempt``) unless it holds ``limit`` already; compare-and-set,
        so two instances never both take the last one. False: the limit is reached."""
        while True:
            mine = Record(key, State.SENT, confirmation.CONFIRMATION_QUOTA, registrant, attempt=1, updated_at=now)
            existing = self.delivery.store_retry(f"claiming {key}", lambda: self.store.claim(mine))  # noqa: B023
            if existing is None:
                return True
            if existing.attempt >= limit:
                return False
            existing.attempt, existing.updated_at = existing.attempt + 1, now
            if self.delivery.store_retry(f"counting {key}", lambda: self.store.replace(existing)):  # noqa: B023
                return True

    def _refuse(self, item: confirmation.Pending, limit: str) -> None:
        """A confirmation email over its registrant's limit: parked (never sent for this registration), counted,
        dead-lettered with the limit, logged."""
        summary = {"supplier_id": item.supplier_id, "registered_by": item.registered_by, "limit": limit}
        detail = (
            f"{item.registered_by!r} reached {limit.replace('_', ' ')} of confirmation emails "
            f"({self.settings.notifier_confirmations_per_registrant_hour}/hour, "
            f"{self.settings.notifier_confirmations_per_registrant_day}/day); not sent"
        )
        if self.delivery.park_unsent(
            item.key, CONFIRMATION, item.supplier_id, [], "confirmations", limit, detail, json.dumps(summary)
        ):
            self.metrics.confirmations_refused.labels(limit).inc()
            log.warning("confirmation email for an address of %s not sent: %s", item.supplier_id, detail)
        self._confirmations_done.add(item.key)

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
        existing = self.delivery.store_retry(f"claiming {mine.key}", lambda: self.store.claim(mine))
        if existing is None or item.key in existing.item_keys:
            return None  # the address's first, or this registration has the turn already (a restart, a retry)
        if existing.updated_at is not None and existing.updated_at + gap > now:
            return existing.updated_at + gap
        mine.token = existing.token
        if self.delivery.store_retry(f"taking {mine.key}", lambda: self.store.replace(mine)):
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
        with self.locks.of(supplier_id):
            state = self.confirmation_state(subject)
            if state.status != 200 or state.already:
                return state  # gone, unknown, unreadable, or confirmed before (this link, or an admin vouched)
            current = state.profile
            assert current is not None
            entry = current.email_confirmations[address]
            done = entry.model_copy(update={"confirmed_at": self.clock()})
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

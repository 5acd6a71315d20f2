"""Digests: the queued digest items of a supplier become one digest email a day, at its local digest hour
(``delivery.py`` sends it); items no email can carry are withdrawn and reported ``skipped``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from contracts import NotificationKind, NotificationStatus, ShortlistEntry, SupplierProfile, TenderNotice
from services.notifier.delivery import Delivery, Job
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.domain.reasons import CodeTitles
from services.notifier.domain.rendering import render_digest
from services.notifier.domain.rules import (
    DigestItem,
    digest_day,
    digest_key,
    digest_sections,
    received_of,
    recipients,
    undeliverable,
)
from services.notifier.domain.tokens import Signer
from services.notifier.metrics import Metrics
from services.notifier.ports import FINAL, NotificationStore, Record, State
from services.notifier.settings import Settings


@dataclass
class Digests:
    """Queued digest items out as one digest per supplier and local day."""

    settings: Settings
    delivery: Delivery
    store: NotificationStore
    profiles: ProfileDirectory
    metrics: Metrics
    signer: Signer
    code_titles: CodeTitles
    clock: Callable[[], datetime]

    def send_due_digests(self) -> int:
        """One digest per supplier whose local digest hour has come today and who has queued matches; returns how
        many were sent."""
        now = self.clock()
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
                    self.delivery.count_withheld(profile)
                self._skip_items(items, reason, now)
                continue
            day = digest_day(profile.preferences, now)
            if day is None:
                continue
            if self._send_digest(profile, digest_key(supplier_id, day), items, now, day, carried) == State.SENT:
                sent += 1
        self.delivery.store_retry("making the digests' writes searchable", self.store.make_searchable)
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
        self.delivery.count_withheld(profile, as_of)
        profile = recipients(profile, as_of)
        rendered = render_digest(
            profile,
            sections,
            day,
            self.signer.links(profile.supplier_id),
            self.code_titles,
            self.settings.notifier_closing_soon_days,
        )
        notice_ids = [i.notice.notice_id for i in included]
        job = Job(key, NotificationKind.DIGEST, profile, notice_ids, None, rendered)
        state = self.delivery.deliver(job, item_keys=[i.key for i in included])
        outcome = self.store.get(key)
        if outcome is not None and outcome.state in (State.SENT, State.PARKED):
            for i in included:
                self._settle(by_key[i.key], outcome)
        return state

    def _settle(self, item: Record, digest: Record) -> None:
        item.state, item.digest_key, item.updated_at = digest.state, digest.key, self.clock()
        self.store.replace(item)

    def _skip_items(self, items: Iterable[Record], reason: str, now: datetime) -> None:
        """Queued digest items no email can carry (``reason``, from ``undeliverable``): withdrawn, counted and
        reported ``skipped``."""
        for item in items:
            item.state, item.reason, item.updated_at = State.WITHDRAWN, reason, now
            self.store.replace(item)
            self.metrics.skipped.labels(reason).inc()
            self.delivery.record_event(item, NotificationStatus.SKIPPED, reason=reason)

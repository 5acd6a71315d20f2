"""Alerts: a shortlist becomes its emails (new match, amendment, cancellation), or digest items queued for the
supplier's daily digest, each at most once (``delivery.py``).

Skips (unsubscribed, unknown supplier, preferences, no confirmed address) are reported as ``skipped`` events but not
recorded, so a later change (the profile arrives, preferences widen, the matcher republishes) can still produce the
email once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import TemplateError

from contracts import NoticeStatus, NotificationStatus, Shortlist
from services.notifier.delivery import Delivery, Job
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.domain.reasons import CodeTitles
from services.notifier.domain.rendering import render_notice_email
from services.notifier.domain.rules import plan_shortlist, received_of, recipients
from services.notifier.domain.tokens import Signer
from services.notifier.metrics import Metrics
from services.notifier.ports import NotificationStore, Record, State


@dataclass
class Alerts:
    """Shortlists in, alert emails out (or digest items queued), over the store and the profile directory."""

    delivery: Delivery
    store: NotificationStore
    profiles: ProfileDirectory
    metrics: Metrics
    signer: Signer
    code_titles: CodeTitles
    clock: Callable[[], datetime]

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
                self.delivery.deliver_batch([job for s in segment for job in self._plan(s)], stop, one_by_one)
                segment = []
            segment.append(shortlist)
        if segment:
            self.delivery.deliver_batch([job for s in segment for job in self._plan(s)], stop, one_by_one)
        # The batch's writes (sent records, queued digest items) become searchable for every process before the
        # batch is committed: one refresh per batch, none when nothing was written. (This process's own searches,
        # such as the next segment's "already alerted", need none: the store refreshes before a search that follows
        # its writes. After a crash the server's own refresh, within a second, does it.)
        self.delivery.store_retry("making the batch's writes searchable", self.store.make_searchable)

    def _plan(self, shortlist: Shortlist) -> list[Job]:
        """Skips reported, cancelled digest items withdrawn, digest items queued; the emails to send, rendered
        (an email that cannot be rendered is parked here)."""
        jobs: list[Job] = []
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
            self.delivery.count_withheld(profiles[supplier_id], as_of)
        for skip in plan.skip:
            self.metrics.skipped.labels(skip.reason).inc()
            self.delivery.publish_event(
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
            now = self.clock()
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
                    self.signer.links(profile.supplier_id),
                    self.code_titles,
                )
            except (TemplateError, ValueError, KeyError) as exc:
                self.delivery.park_unrendered(
                    delivery.key, delivery.kind, profile, [delivery.notice_id], shortlist, exc
                )
                continue
            jobs.append(
                Job(delivery.key, delivery.kind, profile, [delivery.notice_id], delivery.notice_version, rendered)
            )
        return jobs

    def _withdraw(self, supplier_id: str | None, notice_id: str, reason: str) -> None:
        for record in self.store.find(states=[State.QUEUED], supplier_id=supplier_id, notice_id=notice_id):
            record.state, record.reason, record.updated_at = State.WITHDRAWN, reason, self.clock()
            self.store.replace(record)

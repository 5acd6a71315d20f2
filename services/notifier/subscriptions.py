"""Subscriptions: one-click unsubscribes (recorded here, forwarded to the matcher, retried until it acknowledges),
changes from the preferences page and the matching-profile page (forwarded to the matcher, which owns profiles,
then used here at once). A supplier's changes are made one after the other (``SupplierLocks``)."""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts import SupplierProfile
from contracts.api import PreferencesPatch, ProfileSaved
from services.notifier.domain import profile_form
from services.notifier.domain.profile_form import FieldError
from services.notifier.domain.profiles import ProfileDirectory, preference_changes
from services.notifier.exceptions import MatcherUnavailable
from services.notifier.metrics import Metrics
from services.notifier.ports import NotificationStore, PreferencesClient, Unsubscribe

log = logging.getLogger(__name__)


class SupplierLocks:
    """One of a few locks, by supplier: a change from the preferences page, a one-click unsubscribe, the periodic
    forwarding of pending unsubscribes and a confirmation of one supplier happen one after the other, never
    interleaved (so a pending unsubscribe listed before a resubscribe is not forwarded after it)."""

    def __init__(self, n: int = 16) -> None:
        self._locks = [threading.RLock() for _ in range(n)]

    def of(self, supplier_id: str) -> threading.RLock:
        return self._locks[zlib.crc32(supplier_id.encode()) % len(self._locks)]


@dataclass(frozen=True)
class PreferencesSaved:
    """A change of preferences applied: the profile as the notifier now treats it, and the fields changed."""

    profile: SupplierProfile
    changed: list[str]


@dataclass
class ProfileChange:
    """What a save came to: ``status`` (200 saved or nothing to change, 404, 409, 422, 503), the matcher's profile
    (the saved one on 200, the current one on 409 and 422; None when it could not be read), and the details."""

    status: int
    profile: SupplierProfile | None = None
    saved: ProfileSaved | None = None
    changed: list[str] = field(default_factory=list)
    errors: dict[str, FieldError] = field(default_factory=dict)


@dataclass
class Subscriptions:
    """Unsubscribes and the changes of the preferences and profile pages, forwarded to the matcher."""

    store: NotificationStore
    profiles: ProfileDirectory
    matcher: PreferencesClient
    metrics: Metrics
    locks: SupplierLocks
    clock: Callable[[], datetime]

    def load_unsubscribes(self) -> None:
        items = self.store.unsubscribes()
        self.profiles.load_unsubscribes((u.supplier_id, u.at, u.synced) for u in items)
        self.metrics.unsubscribes_pending.set(sum(not u.synced for u in items))

    def unsubscribe(self, supplier_id: str) -> bool:
        """Record the unsubscribe durably and apply it here at once, then tell the matcher; True if the matcher
        acknowledged it (otherwise ``sync_unsubscribes`` retries later)."""
        with self.locks.of(supplier_id):
            at = self.clock()
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
            with self.locks.of(u.supplier_id):
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
        with self.locks.of(supplier_id):
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
        with self.locks.of(supplier_id):
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
            chosen = {**new.set_by_supplier, **dict.fromkeys(changed, self.clock())}
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

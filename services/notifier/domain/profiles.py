"""The notifier's view of supplier profiles: the latest profile per supplier (from the compacted
``suppliers.profiles`` topic, or as the matcher answered a change made here) with local unsubscribes laid on top,
so an unsubscribe takes effect at once, before the matcher has confirmed it; and which preferences a supplier may
change from its preferences page."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from contracts import AlertPreferences, SupplierProfile
from contracts.api import PreferencesPatch

#: What the preferences page edits; codes, countries, agencies and min_value stay as the matcher has them.
EDITABLE = ("unsubscribed", "frequency", "language", "timezone", "digest_hour")


class NotEditable(ValueError):
    """Raised if a change asks for a preference the preferences page does not edit."""


def preference_changes(current: AlertPreferences, patch: PreferencesPatch) -> dict[str, Any]:
    """The fields of ``patch`` that change ``current``, as JSON values (what the matcher's PATCH takes).

    Raises ``NotEditable`` for fields outside ``EDITABLE`` and pydantic's ``ValidationError`` when the result is not
    valid preferences (the contract checks what the patch alone cannot: the time zone)."""
    sent = patch.model_dump(exclude_unset=True, exclude={"schema_version"})
    extra = sorted(set(sent) - set(EDITABLE))
    if extra:
        raise NotEditable(f"not editable here: {', '.join(extra)}")
    merged = AlertPreferences.model_validate({**current.model_dump(), **sent})
    new = merged.model_dump(mode="json", include=set(sent))
    old = current.model_dump(mode="json", include=set(sent))
    return {name: new[name] for name in EDITABLE if name in new and new[name] != old[name]}


class ProfileDirectory:
    """Thread-safe: the Kafka worker writes profiles while the HTTP app records unsubscribes and saved changes."""

    def __init__(self) -> None:
        self._profiles: dict[str, SupplierProfile] = {}
        #: supplier id -> (when it unsubscribed here, whether the matcher acknowledged it)
        self._unsubscribed: dict[str, tuple[datetime, bool]] = {}
        #: Suppliers put since the last ``take_unconfirmed`` with addresses that wait for their confirmation email.
        self._unconfirmed: dict[str, None] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._profiles)

    def put(self, profile: SupplierProfile) -> None:
        """Keep ``profile`` unless the one held is newer: the profile the matcher answered to a change made here can
        arrive before an older one still on its way through the topic."""
        with self._lock:
            held = self._profiles.get(profile.supplier_id)
            if (
                held is not None
                and held.updated_at is not None
                and profile.updated_at is not None
                and profile.updated_at < held.updated_at
            ):
                return
            self._profiles[profile.supplier_id] = profile
            if profile.unconfirmed_emails():
                self._unconfirmed[profile.supplier_id] = None

    def take_unconfirmed(self) -> list[str]:
        """The suppliers put since the last call whose profile had addresses waiting for confirmation (in order)."""
        with self._lock:
            out, self._unconfirmed = list(self._unconfirmed), {}
        return out

    def delete(self, supplier_id: str) -> None:
        with self._lock:
            self._profiles.pop(supplier_id, None)

    def mark_unsubscribed(self, supplier_id: str, at: datetime, synced: bool = False) -> None:
        with self._lock:
            self._unsubscribed[supplier_id] = (at, synced)

    def load_unsubscribes(self, items: Iterable[tuple[str, datetime, bool]]) -> None:
        with self._lock:
            for supplier_id, at, synced in items:
                self._unsubscribed[supplier_id] = (at, synced)

    def local_unsubscribe(self, supplier_id: str) -> tuple[datetime, bool] | None:
        """When the supplier unsubscribed here and whether the matcher has it (or it was superseded), if it did."""
        with self._lock:
            return self._unsubscribed.get(supplier_id)

    def get(self, supplier_id: str) -> SupplierProfile | None:
        """The profile as the notifier must treat it: unsubscribed if the supplier unsubscribed here, unless the
        matcher has acknowledged that and published a newer profile since (the supplier subscribed again)."""
        with self._lock:
            profile = self._profiles.get(supplier_id)
            local = self._unsubscribed.get(supplier_id)
        if profile is None or local is None or profile.preferences.unsubscribed:
            return profile
        at, synced = local
        if synced and profile.updated_at is not None and profile.updated_at > at:
            return profile
        prefs = profile.preferences.model_copy(update={"unsubscribed": True})
        return profile.model_copy(update={"preferences": prefs})

    def supplier_ids(self) -> list[str]:
        with self._lock:
            return list(self._profiles)

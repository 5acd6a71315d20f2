"""The notifier's view of supplier profiles: the latest profile per supplier (from the compacted
``suppliers.profiles`` topic) with local unsubscribes laid on top, so an unsubscribe takes effect at once, before
the matcher has confirmed it."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

from contracts import SupplierProfile


class ProfileDirectory:
    """Thread-safe: the Kafka worker writes profiles while the HTTP app records unsubscribes."""

    def __init__(self) -> None:
        self._profiles: dict[str, SupplierProfile] = {}
        #: supplier id -> (when it unsubscribed here, whether the matcher acknowledged it)
        self._unsubscribed: dict[str, tuple[datetime, bool]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._profiles)

    def put(self, profile: SupplierProfile) -> None:
        with self._lock:
            self._profiles[profile.supplier_id] = profile

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

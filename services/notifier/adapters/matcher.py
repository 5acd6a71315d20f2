"""Telling the matcher (which owns supplier profiles) about an unsubscribe or a change of preferences: the
``PreferencesClient`` port, its HTTP adapter (``PATCH /suppliers/{id}/preferences``) and its in-memory fake."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from contracts import AlertPreferences, SupplierProfile
from services.notifier.exceptions import MatcherUnavailable

log = logging.getLogger(__name__)


class PreferencesClient(Protocol):
    def unsubscribe(self, supplier_id: str) -> None:
        """Set ``unsubscribed: true`` on the supplier's preferences; raises ``MatcherUnavailable`` if not done."""

    def update(self, supplier_id: str, changes: Mapping[str, Any]) -> SupplierProfile | None:
        """Change these preference fields (JSON values, a ``PreferencesPatch``'s fields) and return the profile as
        the matcher stored it; None if the matcher does not know the supplier. Raises ``MatcherUnavailable`` if the
        change was not made (unreachable, refused, failed)."""


class HttpPreferencesClient:
    def __init__(
        self, base_url: str, api_key: str | None, timeout_s: float = 5.0, update_timeout_s: float = 30.0
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers)
        self._timeout_s = timeout_s
        #: A change that moves the supplier on shortlists (alerts back on) is re-matched by the matcher before it
        #: answers: seconds on a busy server. A timeout would tell the supplier "not saved" for a change that was.
        self._update_timeout_s = update_timeout_s

    def _patch(self, supplier_id: str, changes: Mapping[str, Any], timeout_s: float) -> httpx.Response:
        path = f"/suppliers/{quote(supplier_id, safe='')}/preferences"
        try:
            return self._client.patch(path, json=dict(changes), timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise MatcherUnavailable(f"matcher unreachable: {exc.__class__.__name__}") from exc

    def unsubscribe(self, supplier_id: str) -> None:
        resp = self._patch(supplier_id, {"unsubscribed": True}, self._timeout_s)
        if resp.status_code == 404:
            # The matcher no longer knows this supplier: there is nothing left to update there.
            log.info("matcher has no supplier %s; unsubscribe kept locally only", supplier_id)
            return
        if resp.status_code >= 300:
            raise MatcherUnavailable(f"matcher answered {resp.status_code}")

    def update(self, supplier_id: str, changes: Mapping[str, Any]) -> SupplierProfile | None:
        resp = self._patch(supplier_id, changes, self._update_timeout_s)
        if resp.status_code == 404:
            return None
        if resp.status_code >= 300:
            raise MatcherUnavailable(f"matcher answered {resp.status_code}")
        try:
            return SupplierProfile.model_validate_json(resp.content)
        except ValidationError as exc:
            # Applied there, but unreadable here: the profile arrives on suppliers.profiles anyway.
            raise MatcherUnavailable("matcher answered an unreadable profile") from exc

    def close(self) -> None:
        self._client.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class InMemoryPreferencesClient:
    """The fake: the matcher's profiles (``profiles``, optional: unknown ids answer like a 404), the unsubscribes
    and updates it received; while ``down`` is true every call fails like an unreachable matcher. A saved profile
    is stamped with ``clock()``, as the matcher stamps ``updated_at``."""

    unsubscribed: list[str] = field(default_factory=list)
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    profiles: dict[str, SupplierProfile] = field(default_factory=dict)
    down: bool = False
    clock: Callable[[], datetime] = _utcnow

    def unsubscribe(self, supplier_id: str) -> None:
        if self.down:
            raise MatcherUnavailable("matcher unreachable (fake)")
        self.unsubscribed.append(supplier_id)
        if supplier_id in self.profiles:
            self._save(supplier_id, {"unsubscribed": True})

    def update(self, supplier_id: str, changes: Mapping[str, Any]) -> SupplierProfile | None:
        if self.down:
            raise MatcherUnavailable("matcher unreachable (fake)")
        if supplier_id not in self.profiles:
            return None
        self.updates.append((supplier_id, dict(changes)))
        return self._save(supplier_id, changes)

    def _save(self, supplier_id: str, changes: Mapping[str, Any]) -> SupplierProfile:
        profile = self.profiles[supplier_id]
        merged = AlertPreferences.model_validate({**profile.preferences.model_dump(), **changes})
        saved = profile.model_copy(update={"preferences": merged, "updated_at": self.clock()})
        self.profiles[supplier_id] = saved
        return saved

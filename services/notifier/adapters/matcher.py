"""Telling the matcher (which owns supplier profiles) about an unsubscribe, a change of preferences or a change of
the matching profile: the ``PreferencesClient`` port, its HTTP adapter (``PATCH /suppliers/{id}/preferences``,
``GET`` and ``PUT /suppliers/{id}``) and its in-memory fake."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from contracts import AlertPreferences, SupplierProfile
from contracts.api import ProfileSaved
from services.notifier.exceptions import MatcherUnavailable

log = logging.getLogger(__name__)


class PreferencesClient(Protocol):
    def unsubscribe(self, supplier_id: str) -> None:
        """Set ``unsubscribed: true`` on the supplier's preferences; raises ``MatcherUnavailable`` if not done."""

    def update(self, supplier_id: str, changes: Mapping[str, Any]) -> SupplierProfile | None:
        """Change these preference fields (JSON values, a ``PreferencesPatch``'s fields) and return the profile as
        the matcher stored it; None if the matcher does not know the supplier. Raises ``MatcherUnavailable`` if the
        change was not made (unreachable, refused, failed)."""

    def profile(self, supplier_id: str) -> SupplierProfile | None:
        """The supplier's profile as the matcher holds it now (``GET /suppliers/{id}``); None if it does not know
        the supplier. Raises ``MatcherUnavailable`` if it cannot be read."""

    def replace(self, profile: SupplierProfile) -> ProfileSaved:
        """Store this whole profile (``PUT /suppliers/{id}``: the matcher stamps ``updated_at`` and re-matches open
        notices before it answers) and return what it stored with the number of notices re-matched. Raises
        ``MatcherUnavailable`` if it was not stored (unreachable, refused, failed, or an answer that cannot be read:
        then it may have been stored)."""


M = TypeVar("M", bound=BaseModel)


def _read_answer(resp: httpx.Response, model: type[M], what: str) -> M:
    """The ``model`` a matcher answer carries; MatcherUnavailable for an error status or an unreadable body."""
    if resp.status_code >= 300:
        raise MatcherUnavailable(f"matcher answered {resp.status_code}")
    try:
        return model.model_validate_json(resp.content)
    except ValidationError as exc:
        raise MatcherUnavailable(f"matcher answered an unreadable {what}") from exc


def _profile_or_none(resp: httpx.Response) -> SupplierProfile | None:
    """The profile a matcher answer carries; None for 404."""
    return None if resp.status_code == 404 else _read_answer(resp, SupplierProfile, "profile")


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

    def _send(self, method: str, path: str, timeout_s: float, body: Any = None) -> httpx.Response:
        try:
            return self._client.request(method, path, json=body, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise MatcherUnavailable(f"matcher unreachable: {exc.__class__.__name__}") from exc

    def _patch(self, supplier_id: str, changes: Mapping[str, Any], timeout_s: float) -> httpx.Response:
        return self._send("PATCH", f"/suppliers/{quote(supplier_id, safe='')}/preferences", timeout_s, dict(changes))

    def unsubscribe(self, supplier_id: str) -> None:
        resp = self._patch(supplier_id, {"unsubscribed": True}, self._timeout_s)
        if resp.status_code == 404:
            # The matcher no longer knows this supplier: there is nothing left to update there.
            log.info("matcher has no supplier %s; unsubscribe kept locally only", supplier_id)
            return
        if resp.status_code >= 300:
            raise MatcherUnavailable(f"matcher answered {resp.status_code}")

    def update(self, supplier_id: str, changes: Mapping[str, Any]) -> SupplierProfile | None:
        # Applied there but unreadable here: MatcherUnavailable, and the profile arrives on suppliers.profiles anyway.
        return _profile_or_none(self._patch(supplier_id, changes, self._update_timeout_s))

    def profile(self, supplier_id: str) -> SupplierProfile | None:
        return _profile_or_none(self._send("GET", f"/suppliers/{quote(supplier_id, safe='')}", self._timeout_s))

    def replace(self, profile: SupplierProfile) -> ProfileSaved:
        path = f"/suppliers/{quote(profile.supplier_id, safe='')}"
        body = profile.model_dump(mode="json", exclude={"updated_at"})
        # Re-matching every open notice against the changed profile happens before the answer: the long timeout.
        return _read_answer(self._send("PUT", path, self._update_timeout_s, body), ProfileSaved, "saved profile")

    def close(self) -> None:
        self._client.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class InMemoryPreferencesClient:
    """The fake: the matcher's profiles (``profiles``, optional: unknown ids answer like a 404), the unsubscribes,
    updates and whole profiles (``replaced``) it received; while ``down`` is true every call fails like an
    unreachable matcher. A saved profile is stamped with ``clock()``, as the matcher stamps ``updated_at``; a
    replaced one answers ``rematched`` re-matched notices."""

    unsubscribed: list[str] = field(default_factory=list)
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    replaced: list[SupplierProfile] = field(default_factory=list)
    profiles: dict[str, SupplierProfile] = field(default_factory=dict)
    down: bool = False
    rematched: int = 0
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

    def profile(self, supplier_id: str) -> SupplierProfile | None:
        if self.down:
            raise MatcherUnavailable("matcher unreachable (fake)")
        return self.profiles.get(supplier_id)

    def replace(self, profile: SupplierProfile) -> ProfileSaved:
        if self.down:
            raise MatcherUnavailable("matcher unreachable (fake)")
        self.replaced.append(profile)
        saved = profile.model_copy(update={"updated_at": self.clock()})
        self.profiles[profile.supplier_id] = saved
        return ProfileSaved(profile=saved, rematched_notices=self.rematched)

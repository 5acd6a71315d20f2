"""Telling the matcher (which owns supplier profiles) about an unsubscribe, a change of preferences or a change of
the matching profile: the HTTP adapter of the ``PreferencesClient`` port (``ports.py``): ``PATCH
/suppliers/{id}/preferences``, ``GET`` and ``PUT /suppliers/{id}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from contracts import SupplierProfile
from contracts.api import ProfileSaved
from services.notifier.exceptions import MatcherUnavailable

log = logging.getLogger(__name__)


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

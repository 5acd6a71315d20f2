"""Telling the matcher (which owns supplier profiles) about an unsubscribe: the ``PreferencesClient`` port, its
HTTP adapter (``PATCH /suppliers/{id}/preferences``) and its in-memory fake."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

import httpx

from services.notifier.exceptions import MatcherUnavailable

log = logging.getLogger(__name__)


class PreferencesClient(Protocol):
    def unsubscribe(self, supplier_id: str) -> None:
        """Set ``unsubscribed: true`` on the supplier's preferences; raises ``MatcherUnavailable`` if not done."""


class HttpPreferencesClient:
    def __init__(self, base_url: str, api_key: str | None, timeout_s: float = 5.0) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    def unsubscribe(self, supplier_id: str) -> None:
        try:
            resp = self._client.patch(
                f"/suppliers/{quote(supplier_id, safe='')}/preferences", json={"unsubscribed": True}
            )
        except httpx.HTTPError as exc:
            raise MatcherUnavailable(f"matcher unreachable: {exc.__class__.__name__}") from exc
        if resp.status_code == 404:
            # The matcher no longer knows this supplier: there is nothing left to update there.
            log.info("matcher has no supplier %s; unsubscribe kept locally only", supplier_id)
            return
        if resp.status_code >= 300:
            raise MatcherUnavailable(f"matcher answered {resp.status_code}")

    def close(self) -> None:
        self._client.close()


@dataclass
class InMemoryPreferencesClient:
    """The fake: records unsubscribes; while ``down`` is true every call fails like an unreachable matcher."""

    unsubscribed: list[str] = field(default_factory=list)
    down: bool = False

    def unsubscribe(self, supplier_id: str) -> None:
        if self.down:
            raise MatcherUnavailable("matcher unreachable (fake)")
        self.unsubscribed.append(supplier_id)

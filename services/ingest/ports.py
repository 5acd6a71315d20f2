"""Ingest's ports: one small Protocol each, with the values they carry. ``adapters/`` holds the real ones (HTTP,
sqlite3) and ``adapters/memory.py`` the one in-memory fake of each; the Kafka publisher's port is the shared
``services.infra.bus.EventPublisher``."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from contracts import AwardRecord, TenderNotice
from services.ingest.domain.versioning import Known, KnownAward


@dataclass(frozen=True)
class Fetched:
    """A response body, or ``not_modified`` when the server answered 304."""

    url: str
    body: bytes = b""
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None


class Fetcher(Protocol):
    def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None, json_body: object = None
    ) -> Fetched:
        """GET ``url`` conditional on the validators given, or POST ``json_body`` (search APIs such as TED's).
        Raises FetchError."""


@dataclass(frozen=True)
class Checkpoint:
    """Where a polled source stopped: HTTP validators, a hash of the last body, the next page to fetch."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    cursor: str | None = None


class StateStore(Protocol):
    def known(self, notice_id: str) -> Known | None:
        """The last published version of a notice, if any."""

    def known_award(self, award_id: str) -> KnownAward | None:
        """The last published version of an award, if any."""

    def rejection_seen(self, fingerprint: str) -> bool:
        """Whether this exact rejected record was already dead-lettered."""

    def commit(
        self,
        notices: Sequence[TenderNotice],
        rejections: Sequence[str],
        checkpoint: tuple[str, Checkpoint] | None = None,
        awards: Sequence[AwardRecord] = (),
    ) -> None:
        """Record published notices and awards, dead-lettered rejection fingerprints and a checkpoint, atomically."""

    def checkpoint(self, source: str) -> Checkpoint | None: ...

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Hold the state for one batch (read known versions, publish, flush, commit) against every other process
        and thread; waits while another holds it. Not reentrant."""

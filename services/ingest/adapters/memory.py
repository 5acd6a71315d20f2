"""The one in-memory fake of each ingest port, for unit tests and ``bootstrap_in_memory``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from contracts import AwardRecord, TenderNotice
from services.ingest.domain.versioning import Known, KnownAward
from services.ingest.exceptions import FetchError
from services.ingest.ports import Checkpoint, Fetched


@dataclass
class InMemoryFetcher:
    """The fake for unit tests: url -> (body, etag); answers 304 when the caller's ETag matches. A POST's JSON
    body is looked up as ``url + " " + its compact sorted JSON`` first."""

    pages: dict[str, tuple[bytes, str | None]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    bodies: list[object] = field(default_factory=list)

    def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None, json_body: object = None
    ) -> Fetched:
        self.requests.append((url, etag))
        self.bodies.append(json_body)
        if json_body is not None:
            keyed = f"{url} {json.dumps(json_body, sort_keys=True, separators=(',', ':'))}"
            if keyed in self.pages:
                url = keyed
        if url not in self.pages:
            raise FetchError(f"{url}: HTTP 404")
        body, current = self.pages[url]
        if etag is not None and etag == current:
            return Fetched(url, not_modified=True, etag=etag)
        return Fetched(url, body=body, etag=current)


@dataclass
class InMemoryStateStore:
    """The fake for unit tests."""

    notices: dict[str, TenderNotice] = field(default_factory=dict)
    awards: dict[str, AwardRecord] = field(default_factory=dict)
    rejections: set[str] = field(default_factory=set)
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    commits: int = 0
    #: Batches that held ``exclusive()``; ``holding`` tells whether one holds it now.
    batches: int = 0
    holding: bool = False

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        assert not self.holding, "exclusive() is not reentrant"
        self.batches += 1
        self.holding = True
        try:
            yield
        finally:
            self.holding = False

    def known(self, notice_id: str) -> Known | None:
        n = self.notices.get(notice_id)
        return None if n is None else Known(n.content_hash, n.version, n.status, n)

    def known_award(self, award_id: str) -> KnownAward | None:
        a = self.awards.get(award_id)
        return None if a is None else KnownAward(a.content_hash, a.version, a)

    def rejection_seen(self, fingerprint: str) -> bool:
        return fingerprint in self.rejections

    def commit(
        self,
        notices: Sequence[TenderNotice],
        rejections: Sequence[str],
        checkpoint: tuple[str, Checkpoint] | None = None,
        awards: Sequence[AwardRecord] = (),
    ) -> None:
        self.commits += 1
        self.notices.update((n.notice_id, n) for n in notices)
        self.awards.update((a.award_id, a) for a in awards)
        self.rejections.update(rejections)
        if checkpoint is not None:
            self.checkpoints[checkpoint[0]] = checkpoint[1]

    def checkpoint(self, source: str) -> Checkpoint | None:
        return self.checkpoints.get(source)

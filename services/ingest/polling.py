"""Configured sources and one poll of each: fetch (conditionally), parse, ingest, move the checkpoint.

The sources file (YAML)::

    sources:
      - name: ted-it            # checkpoint key; unique
        kind: ted               # ocds | ted | eforms | ungm | csv | jsonl
        url: https://...        # or path: a file or directory
        interval_s: 3600
        mapping: undp.yaml      # csv only, relative to the sources file
        query: {...}            # optional: POST this JSON (TED Search API v3); pages follow iterationNextToken
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.ingest.adapters.files import files_under, load_mapping_file
from services.ingest.domain import ocds
from services.ingest.domain.csvmap import CsvMapping
from services.ingest.domain.model import Context
from services.ingest.domain.sources import KINDS, context_for, parse_bytes
from services.ingest.exceptions import SourceConfigError
from services.ingest.ports import Checkpoint, Fetcher
from services.ingest.service import Ingestor, Stats

log = logging.getLogger(__name__)


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    kind: str
    url: str | None = None
    path: Path | None = None
    interval_s: float | None = Field(default=None, gt=0)
    mapping: Path | None = None
    #: ``notice.source`` override (an OCDS publisher without an ``ocds-`` ocid prefix, for example).
    source: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    #: JSON body to POST instead of a GET (the TED Search API v3 query).
    query: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_location(self) -> SourceSpec:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of url and path")
        if self.kind == "csv" and self.mapping is None:
            raise ValueError("a csv source needs a mapping file")
        if self.query is not None and self.url is None:
            raise ValueError("a query needs a url")
        return self


def load_sources(path: Path) -> list[SourceSpec]:
    data = load_mapping_file(path)
    entries = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SourceConfigError(f"{path}: expected a top-level 'sources' list")
    specs = []
    for i, entry in enumerate(entries):
        try:
            spec = SourceSpec.model_validate(entry)
        except ValidationError as exc:
            raise SourceConfigError(f"{path}: source #{i + 1}: {exc}") from exc
        base = path.parent
        update: dict[str, Path] = {}
        if spec.path is not None and not spec.path.is_absolute():
            update["path"] = base / spec.path
        if spec.mapping is not None and not spec.mapping.is_absolute():
            update["mapping"] = base / spec.mapping
        specs.append(spec.model_copy(update=update))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SourceConfigError(f"{path}: source names must be unique")
    return specs


class Poller:
    def __init__(
        self,
        spec: SourceSpec,
        ingestor: Ingestor,
        fetcher: Fetcher,
        base_context: Context,
        max_pages: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.ingestor = ingestor
        self.fetcher = fetcher
        self.max_pages = max_pages
        self.clock = clock
        self.mapping = CsvMapping.from_dict(load_mapping_file(spec.mapping)) if spec.mapping else None
        ctx = context_for(spec.kind, self.mapping)
        self.ctx = Context(
            source=spec.source or ctx.source,
            cpv_check_digits=base_context.cpv_check_digits,
            detect_language=base_context.detect_language,
        )
        self.last_success: float | None = None

    def poll_once(self, should_stop: Callable[[], bool] = lambda: False) -> Stats:
        stats = self._poll_url(should_stop) if self.spec.url else self._poll_path(should_stop)
        if not stats.stopped:
            self.last_success = self.clock()
            self.ingestor.metrics.last_success.labels(self.spec.name).set(self.last_success)
        self.update_lag()
        return stats

    def update_lag(self) -> None:
        if self.last_success is not None:
            self.ingestor.metrics.lag.labels(self.spec.name).set(self.clock() - self.last_success)

    def _ingest(self, body: bytes, origin: str, key: str, cp: Checkpoint, should_stop: Callable[[], bool]) -> Stats:
        outcomes = parse_bytes(self.spec.kind, body, self.ctx, self.mapping, origin)
        stats, _ = self.ingestor.ingest(outcomes, origin, (key, cp), should_stop)
        return stats

    def _poll_path(self, should_stop: Callable[[], bool]) -> Stats:
        assert self.spec.path is not None
        total = Stats()
        for file in files_under(self.spec.path):
            if should_stop():
                total.stopped = True
                break
            key = f"{self.spec.name}:{file}"
            body = file.read_bytes()
            digest = hashlib.sha256(body).hexdigest()
            previous = self.ingestor.state.checkpoint(key)
            if previous is not None and previous.body_hash == digest:
                continue
            total.add(self._ingest(body, str(file), key, Checkpoint(body_hash=digest), should_stop))
        return total

    def _poll_query(self, should_stop: Callable[[], bool]) -> Stats:
        """A search API (TED v3): POST the query, then follow ``iterationNextToken`` while pages come back full.
        The query itself bounds the window (``publication-date>=today(-2)``), and the notice hashes make the
        overlap between polls publish nothing."""
        assert self.spec.url is not None
        assert self.spec.query is not None
        total = Stats()
        query: dict[str, Any] = dict(self.spec.query)
        for _ in range(self.max_pages):
            if should_stop():
                total.stopped = True
                break
            fetched = self.fetcher.fetch(self.spec.url, json_body=query)
            digest = hashlib.sha256(fetched.body).hexdigest()
            total.add(
                self._ingest(fetched.body, self.spec.url, self.spec.name, Checkpoint(body_hash=digest), should_stop)
            )
            try:
                doc = ocds.decode(fetched.body)[0]
            except ValueError:
                break
            token = doc.get("iterationNextToken") if isinstance(doc, dict) else None
            if total.stopped or not token or not doc.get("notices"):
                break
            query = {**query, "iterationNextToken": token}
        return total

    def _poll_url(self, should_stop: Callable[[], bool]) -> Stats:
        assert self.spec.url is not None
        if self.spec.query is not None:
            return self._poll_query(should_stop)
        total = Stats()
        previous = self.ingestor.state.checkpoint(self.spec.name) or Checkpoint()
        url = previous.cursor or self.spec.url
        for _ in range(self.max_pages):
            if should_stop():
                total.stopped = True
                break
            same_page = url == (previous.cursor or self.spec.url)
            fetched = self.fetcher.fetch(
                url,
                previous.etag if same_page else None,
                previous.last_modified if same_page else None,
            )
            if fetched.not_modified:
                break
            digest = hashlib.sha256(fetched.body).hexdigest()
            if same_page and previous.body_hash == digest:
                break
            nxt = None
            if self.spec.kind == "ocds":
                try:
                    nxt = ocds.next_page(ocds.decode(fetched.body)[0])
                except ValueError:
                    nxt = None
            # A page with a next one moves the cursor there, so a stop between pages resumes at the next page (its
            # own validators would answer 304 and end the poll before it). The last page keeps the cursor with its
            # validators: a paginated feed grows at its end, so the next poll asks for that page again.
            cp = Checkpoint(fetched.etag, fetched.last_modified, digest, url) if nxt is None else Checkpoint(cursor=nxt)
            total.add(self._ingest(fetched.body, url, self.spec.name, cp, should_stop))
            if total.stopped or nxt is None:
                break
            previous, url = Checkpoint(cursor=nxt), nxt
        return total

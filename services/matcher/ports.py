"""The matcher's ports: one small Protocol each. Elasticsearch adapters live in ``adapters/elastic.py``; the one
in-memory fake of each lives in ``adapters/memory.py``."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from contracts import NoticeStatus, Shortlist, SupplierProfile, TenderNotice
from contracts.feedback import ShortlistFeedback
from services.matcher.domain.scoring import SupplierStats
from services.matcher.keys import ApiKey


@dataclass(frozen=True)
class NoticeFilter:
    """``GET /notices`` filters; ``None`` means no restriction. ``agency`` matches buyer id or name; ``open_at``
    keeps the notices still open for bids at that instant (``TenderNotice.is_open``): not cancelled, and a later
    deadline or none."""

    agency: str | None = None
    code: str | None = None
    country: str | None = None
    status: NoticeStatus | None = None
    deadline_from: datetime | None = None
    deadline_to: datetime | None = None
    open_at: datetime | None = None


@dataclass(frozen=True, order=True)
class NoticeCursor:
    """A place in the order ``NoticeStore.published_between`` pages in: publication time, then notice id."""

    published_at: datetime
    notice_id: str


class ProfileStore(Protocol):
    def get(self, supplier_id: str) -> SupplierProfile | None: ...

    def get_many(self, supplier_ids: list[str]) -> list[SupplierProfile]:
        """The profiles that exist among ``supplier_ids``, in that order."""

    def put(self, profile: SupplierProfile) -> None:
        """Create or replace; visible to reads and searches when it returns."""

    def put_many(self, profiles: list[SupplierProfile]) -> None:
        """``put`` for a batch (one round trip where the store allows)."""

    def stored_vector(self, profile: SupplierProfile) -> npt.NDArray[np.float32] | None:
        """The vector stored with ``profile`` when it was written (its ``semantic.semantic_text`` encoded), if this
        very object was read from the store with it: the matcher then needs not encode it again. ``None`` when the
        store does not hold it (no encoder at write time, another object, evicted)."""

    def stored_scoring(self, profile: SupplierProfile) -> SupplierStats | None:
        """The statistics scoring needs of ``profile`` (``scoring.supplier_stats``), computed when it was written and
        stored with it as ``SupplierStats.to_record``, if this very object was read from the store with them: the
        model then need not compute them. ``None`` when the store does not hold them (a document written before
        records, another ``scoring.RECORD_VERSION``, another object, evicted)."""

    def delete(self, supplier_id: str) -> bool:
        """``False`` when there was nothing to delete."""

    def candidates(
        self, notice: TenderNotice, config: Any, vector: npt.NDArray[np.float32] | None = None, hints: Any = None
    ) -> list[SupplierProfile]:
        """The profiles worth scoring for a notice (the domain's candidate query; with the notice's ``vector``, the
        kNN channel's nearest profiles too; with ``hints``, ``codes.CodeHints``: the crosswalk's counterparts of the
        notice's codes, codes suggested for it, and the codes suggested for code-less profiles, which the store
        indexes apart from their own when it writes them)."""

    def search(self, q: str | None, code: str | None, country: str | None, limit: int) -> list[SupplierProfile]: ...

    def all(self) -> Iterator[SupplierProfile]: ...

    def find_by_keys(self, keys: Sequence[str], *, prospects_only: bool = False) -> list[SupplierProfile]:
        """Every profile (``prospects_only``: every prospect) holding one of ``keys`` among its
        ``domain.awards.resolution_keys`` (identifiers, the resolver's name keys, award records), by supplier id:
        what a batch of award records or a registration is resolved against, instead of every profile."""

    def page(self, after: str | None, limit: int) -> list[SupplierProfile]:
        """Up to ``limit`` profiles by supplier id, those after ``after`` (``None``: from the first): a caller pages
        through every profile holding one page at a time (search_after, no result window)."""


class NoticeStore(Protocol):
    def get(self, notice_id: str) -> TenderNotice | None: ...

    def put(self, notice: TenderNotice) -> bool:
        """Store a version unless a newer one is stored; ``False`` when the stored version is newer."""

    def find(self, flt: NoticeFilter, offset: int, limit: int) -> tuple[list[TenderNotice], int]:
        """A page of notices (latest deadline last) and the total count."""

    def open_notices(self, now: datetime) -> Iterator[TenderNotice]:
        """Every notice open at ``now`` (not cancelled; a later deadline or none), by notice id, however many."""

    def open_for_profile(
        self, profile: SupplierProfile, now: datetime, limit: int, suggested: Sequence[str] = ()
    ) -> list[TenderNotice]:
        """Open notices that share a code (one level up or down) or a keyword with the profile, or whose codes
        reach one of ``suggested`` (``retrieval.suggested_prefixes`` of the codes suggested for a profile that
        states none): the notices whose forward retrieval would return the profile."""

    def published_between(
        self, since: datetime, until: datetime | None, after: NoticeCursor | None, limit: int
    ) -> list[TenderNotice]:
        """Up to ``limit`` notices published in ``[since, until)`` (``until`` None: no end) by publication time then
        notice id, those after ``after``. A notice without a publication time is in no period."""

    def count_published(self, since: datetime, until: datetime | None) -> int:
        """How many notices ``published_between`` pages through for the period."""


class ShortlistStore(Protocol):
    def get(self, notice_id: str, version: int) -> Shortlist | None: ...

    def latest(self, notice_id: str, before_version: int | None = None) -> Shortlist | None:
        """The highest version stored (strictly below ``before_version`` when given)."""

    def put(self, shortlist: Shortlist) -> None:
        """Idempotent: the id is ``<notice_id>@<version>``, a second write replaces the first."""

    def with_supplier(self, supplier_id: str, limit: int) -> list[Shortlist]:
        """Shortlists (any version) whose entries list the supplier."""


class Checkpoints(Protocol):
    """Where a long operator's run (a backfill) records how far it got, so a run killed midway resumes there."""

    def load(self) -> dict[str, Any] | None:
        """What was last saved; ``None`` when nothing was."""

    def save(self, state: dict[str, Any]) -> None:
        """Replace what was saved, whole (a kill while saving leaves the previous state or the new one)."""


class KeyStore(Protocol):
    """API keys by hash. Each request reads its key here (no cache), so a revocation applies to the next request."""

    def put(self, key: ApiKey) -> None: ...

    def find(self, key_hash: str) -> ApiKey | None: ...

    def all(self) -> list[ApiKey]:
        """Every stored key, revoked and expired ones too."""

    def with_prefix(self, prefix: str, limit: int) -> list[ApiKey]:
        """At most ``limit`` keys whose hash starts with ``prefix`` (lower-case hex)."""

    def revoke(self, key_hash: str, at: datetime, reason: str) -> None:
        """Set ``revoked_at`` and ``revoked_reason`` (the key stays, for audit); refused by ``find``'s callers from
        the moment this returns. ``NotFound`` if there is no such key."""

    def record_use(self, key_hash: str, at: datetime) -> None:
        """Set ``last_used_at`` alone (a partial write: it never undoes a revocation written meanwhile); a key
        deleted meanwhile is ignored."""


class FeedbackStore(Protocol):
    """Buyers' marks on shortlist entries, one per agency, notice and supplier (``feedback_id``), and suppliers' own
    "not relevant for me" marks (``by_supplier``, keyed apart). ``for_notice`` and ``for_agency`` read buyers' marks
    only; ``from_suppliers`` the suppliers' own."""

    def put(self, mark: ShortlistFeedback) -> None:
        """Create or replace (by ``feedback_id``); visible to ``for_notice`` when it returns."""

    def for_notice(self, notice_id: str, agency: str | None) -> list[ShortlistFeedback]:
        """Buyers' marks on a notice, of one agency (normalized) or, ``None``, of every agency; latest first."""

    def for_agency(self, agency: str | None, limit: int) -> list[ShortlistFeedback]:
        """An agency's latest marks on any notice (ranking weighs those of similar notices), latest first; ``None``:
        every agency's (pooled feedback)."""

    def from_suppliers(self, limit: int, supplier_ids: Collection[str] | None = None) -> list[ShortlistFeedback]:
        """Suppliers' own latest marks on any notice (they count for every agency), of ``supplier_ids`` only when
        given (a notice's candidates), latest first."""


class Encoder(Protocol):
    """Texts in any language -> one L2-normalised float32 row each (``len(texts) x dimension``), texts about the same
    goods close together whatever their language. ``model`` names the model and its version: vectors of different
    models must never be compared."""

    @property
    def dimension(self) -> int: ...

    @property
    def model(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...

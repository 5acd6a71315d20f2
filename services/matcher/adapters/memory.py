"""The one in-memory fake of each port, for unit tests and the offline ``match`` command."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from contracts import NoticeStatus, Shortlist, SupplierProfile, TenderNotice
from contracts.feedback import ShortlistFeedback
from services.matcher import documents
from services.matcher.adapters.encoder import Vectors, normalised, profile_vectors
from services.matcher.domain import InMemoryProfileIndex, ScoringConfig, build_candidate_query
from services.matcher.domain.awards import resolution_keys
from services.matcher.domain.codes import CodeHints
from services.matcher.domain.documents import code_prefixes as profile_code_prefixes
from services.matcher.domain.scoring import SupplierStats, supplier_stats
from services.matcher.domain.semantic import Vector
from services.matcher.exceptions import NotFound, StoreUnavailable
from services.matcher.keys import KEY_ID_LENGTH, ApiKey, normalize_agency, notice_agencies
from services.matcher.ports import Encoder, NoticeCursor, NoticeFilter
from services.matcher.suggestions import TextCodes


class InMemoryProfileStore:
    """With an ``encoder``, each profile's vector is indexed when it is written (the kNN candidate channel), and with
    ``text_codes`` too, the codes suggested from its description when it states none (apart from its own)."""

    def __init__(
        self,
        profiles: list[SupplierProfile] | None = None,
        encoder: Encoder | None = None,
        text_codes: TextCodes | None = None,
    ) -> None:
        self._profiles: dict[str, SupplierProfile] = {}
        self._index = InMemoryProfileIndex()
        self._encoder = encoder
        self._text_codes = text_codes
        self._keys_of: dict[str, tuple[SupplierProfile, frozenset[str]]] = {}
        self._vectors: dict[str, Vector] = {}
        #: Each profile's statistics, computed when it is written (as Elasticsearch stores its record).
        self._scoring: dict[str, SupplierStats] = {}
        self.put_many(list(profiles or []))

    def get(self, supplier_id: str) -> SupplierProfile | None:
        return self._profiles.get(supplier_id)

    def get_many(self, supplier_ids: list[str]) -> list[SupplierProfile]:
        return [p for sid in supplier_ids if (p := self._profiles.get(sid)) is not None]

    def put(self, profile: SupplierProfile) -> None:
        self.put_many([profile])

    def put_many(self, profiles: list[SupplierProfile]) -> None:
        vectors = profile_vectors(self._encoder, profiles)
        suggested = self._text_codes.for_profiles(profiles, vectors) if self._text_codes else [()] * len(profiles)
        for i, p in enumerate(profiles):
            self._profiles[p.supplier_id] = p
            self._scoring[p.supplier_id] = supplier_stats(p)
            self._index.upsert(p, None if vectors is None else vectors[i], suggested[i])
            if vectors is None:
                self._vectors.pop(p.supplier_id, None)
            else:
                self._vectors[p.supplier_id] = vectors[i]

    def stored_vector(self, profile: SupplierProfile) -> Vector | None:
        return self._vectors.get(profile.supplier_id) if self._profiles.get(profile.supplier_id) is profile else None

    def stored_scoring(self, profile: SupplierProfile) -> SupplierStats | None:
        return self._scoring.get(profile.supplier_id) if self._profiles.get(profile.supplier_id) is profile else None

    def delete(self, supplier_id: str) -> bool:
        if self._profiles.pop(supplier_id, None) is None:
            return False
        self._index.remove(supplier_id)
        self._vectors.pop(supplier_id, None)
        self._scoring.pop(supplier_id, None)
        return True

    def candidates(
        self, notice: TenderNotice, config: Any, vector: Vector | None = None, hints: CodeHints | None = None
    ) -> list[SupplierProfile]:
        # The stored objects themselves (a packed index would return decoded copies): ``stored_vector`` and
        # ``stored_scoring`` know them by identity.
        ids = self._index.candidate_ids(build_candidate_query(notice, config, vector, hints))
        return [self._profiles[sid] for sid in ids]

    def search(self, q: str | None, code: str | None, country: str | None, limit: int) -> list[SupplierProfile]:
        out = []
        for p in self._profiles.values():
            if country and p.country != country:
                continue
            if code and not set(documents.code_filter_tags(code)) & set(profile_code_prefixes(p)):
                continue
            if q:
                text = " ".join([*p.names.values(), *p.keywords, *p.description.values()]).casefold()
                if not all(word in text for word in q.casefold().split()):
                    continue
            out.append(p)
        return sorted(out, key=lambda p: p.supplier_id)[:limit]

    def all(self) -> Iterator[SupplierProfile]:
        return iter(list(self._profiles.values()))

    def find_by_keys(self, keys: Sequence[str], *, prospects_only: bool = False) -> list[SupplierProfile]:
        wanted = set(keys)
        found = [
            p
            for p in self._profiles.values()
            if (p.is_prospect or not prospects_only) and not wanted.isdisjoint(self._resolution_keys(p))
        ]
        return sorted(found, key=lambda p: p.supplier_id)

    def _resolution_keys(self, profile: SupplierProfile) -> frozenset[str]:
        """A profile's ``resolution_keys``, kept while the stored object is the same (as Elasticsearch indexes
        them when the profile is written)."""
        cached = self._keys_of.get(profile.supplier_id)
        if cached is None or cached[0] is not profile:
            cached = self._keys_of[profile.supplier_id] = (profile, frozenset(resolution_keys(profile)))
        return cached[1]

    def page(self, after: str | None, limit: int) -> list[SupplierProfile]:
        ids = sorted(sid for sid in self._profiles if after is None or sid > after)
        return [self._profiles[sid] for sid in ids[:limit]]


class InMemoryNoticeStore:
    """Set ``available = False`` to act like an Elasticsearch that does not answer. Keeps the vector each notice
    was stored with; ``open_for_profile`` compares a profile's with every open notice's (exact, as Elasticsearch's
    ``flat`` kNN)."""

    def __init__(self, config: ScoringConfig) -> None:
        self.notices: dict[str, TenderNotice] = {}
        self.available = True
        self._config = config
        self._keys: dict[str, tuple[set[str], set[str]]] = {}
        self.vectors: dict[str, Vector] = {}

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("the in-memory notice store is switched off")

    def get(self, notice_id: str) -> TenderNotice | None:
        self._check()
        return self.notices.get(notice_id)

    def put(self, notice: TenderNotice, vector: Vector | None = None) -> bool:
        self._check()
        stored = self.notices.get(notice.notice_id)
        if stored is not None and stored.version > notice.version:
            return False
        self.notices[notice.notice_id] = notice
        if vector is None:
            self.vectors.pop(notice.notice_id, None)
        else:
            self.vectors[notice.notice_id] = vector
        codes, terms = documents.notice_retrieval_keys(notice, self._config)
        self._keys[notice.notice_id] = (set(codes), set(terms))
        return True

    def find(self, flt: NoticeFilter, offset: int, limit: int) -> tuple[list[TenderNotice], int]:
        hits = [n for n in self.notices.values() if _matches(n, flt)]
        hits.sort(key=lambda n: (n.deadline_at is None, n.deadline_at or datetime.max, n.notice_id))
        return hits[offset : offset + limit], len(hits)

    def open_notices(self, now: datetime) -> Iterator[TenderNotice]:
        self._check()
        yield from sorted((n for n in self.notices.values() if n.is_open(now)), key=lambda n: n.notice_id)

    def open_for_profile(
        self,
        profile: SupplierProfile,
        now: datetime,
        limit: int,
        suggested: Sequence[str] = (),
        vector: Vector | None = None,
    ) -> list[TenderNotice]:
        self._check()
        codes, terms = (set(keys) for keys in documents.profile_retrieval_keys(profile))
        codes |= set(suggested)
        out = []
        open_now = [n for n in self.notices.values() if n.is_open(now)]
        for n in open_now:
            notice_codes, notice_terms = self._keys[n.notice_id]
            if codes & notice_codes or terms & notice_terms:
                out.append(n)
        matched = sorted(out, key=lambda n: n.notice_id)[:limit]
        k = min(self._config.retrieval_knn_k, limit)
        if vector is None or k <= 0:
            return matched
        # Brute force over the open notices stored with a vector: from ``REVERSE_KNN_FLOOR``, the ``k`` closest.
        close = [
            (cosine, n)
            for n in open_now
            if (v := self.vectors.get(n.notice_id)) is not None
            if (cosine := float(v @ vector)) >= documents.REVERSE_KNN_FLOOR
        ]
        close.sort(key=lambda c: (-c[0], c[1].notice_id))
        return documents.reverse_hits(matched, [n for _, n in close[:k]], limit)

    def _period(self, since: datetime, until: datetime | None) -> list[NoticeCursor]:
        self._check()
        return sorted(
            NoticeCursor(n.published_at, n.notice_id)
            for n in self.notices.values()
            if n.published_at is not None and since <= n.published_at and (until is None or n.published_at < until)
        )

    def published_between(
        self, since: datetime, until: datetime | None, after: NoticeCursor | None, limit: int
    ) -> list[TenderNotice]:
        page = [c for c in self._period(since, until) if after is None or c > after][:limit]
        return [self.notices[c.notice_id] for c in page]

    def count_published(self, since: datetime, until: datetime | None) -> int:
        return len(self._period(since, until))


def _matches(n: TenderNotice, flt: NoticeFilter) -> bool:
    if flt.agency and normalize_agency(flt.agency) not in notice_agencies(n):
        return False
    if (
        flt.code
        and flt.code not in documents.notice_code_prefixes(n)
        and flt.code not in {c.code for c in n.all_classifications()}
    ):
        return False
    if flt.country and flt.country not in {*n.delivery_countries, *n.beneficiary_countries}:
        return False
    if flt.status is not None and n.status != NoticeStatus(flt.status):
        return False
    if flt.deadline_from and (n.deadline_at is None or n.deadline_at < flt.deadline_from):
        return False
    if flt.open_at and not n.is_open(flt.open_at):
        return False
    return not (flt.deadline_to and (n.deadline_at is None or n.deadline_at > flt.deadline_to))


class InMemoryShortlistStore:
    def __init__(self) -> None:
        self.shortlists: dict[str, Shortlist] = {}

    def get(self, notice_id: str, version: int) -> Shortlist | None:
        return self.shortlists.get(Shortlist.make_id(notice_id, version))

    def latest(self, notice_id: str, before_version: int | None = None) -> Shortlist | None:
        versions = [
            s
            for s in self.shortlists.values()
            if s.notice_id == notice_id and (before_version is None or s.notice_version < before_version)
        ]
        return max(versions, key=lambda s: s.notice_version, default=None)

    def put(self, shortlist: Shortlist) -> None:
        self.shortlists[shortlist.shortlist_id] = shortlist

    def add(self, shortlist: Shortlist) -> Shortlist:
        return self.shortlists.setdefault(shortlist.shortlist_id, shortlist)

    def with_supplier(self, supplier_id: str, limit: int) -> list[Shortlist]:
        found = [s for s in self.shortlists.values() if any(e.supplier_id == supplier_id for e in s.entries)]
        return sorted(found, key=lambda s: s.shortlist_id)[:limit]


class InMemoryCheckpoints:
    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.saves = 0

    def load(self) -> dict[str, Any] | None:
        return None if self.state is None else json.loads(json.dumps(self.state))

    def save(self, state: dict[str, Any]) -> None:
        self.state = json.loads(json.dumps(state))  # as the file holds it: no object shared with the caller
        self.saves += 1


class InMemoryKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}

    def put(self, key: ApiKey) -> None:
        self.keys[key.key_hash] = key

    def find(self, key_hash: str) -> ApiKey | None:
        return self.keys.get(key_hash)

    def all(self) -> list[ApiKey]:
        return list(self.keys.values())

    def with_prefix(self, prefix: str, limit: int) -> list[ApiKey]:
        return sorted((k for h, k in self.keys.items() if h.startswith(prefix)), key=lambda k: k.key_hash)[:limit]

    def revoke(self, key_hash: str, at: datetime, reason: str) -> None:
        key = self.keys.get(key_hash)
        if key is None:
            raise NotFound(f"no API key {key_hash[:KEY_ID_LENGTH]}")
        self.keys[key_hash] = key.model_copy(update={"revoked_at": at, "revoked_reason": reason})

    def record_use(self, key_hash: str, at: datetime) -> None:
        key = self.keys.get(key_hash)
        if key is not None:
            self.keys[key_hash] = key.model_copy(update={"last_used_at": at})


class InMemoryFeedbackStore:
    def __init__(self) -> None:
        self.marks: dict[str, ShortlistFeedback] = {}

    def put(self, mark: ShortlistFeedback) -> None:
        self.marks[mark.feedback_id] = mark

    def _latest(self, keep: Callable[[ShortlistFeedback], bool], limit: int | None = None) -> list[ShortlistFeedback]:
        return sorted(filter(keep, self.marks.values()), key=lambda m: m.marked_at, reverse=True)[:limit]

    def for_notice(self, notice_id: str, agency: str | None) -> list[ShortlistFeedback]:
        return self._latest(lambda m: not m.by_supplier and m.notice_id == notice_id and agency in (None, m.agency))

    def for_agency(self, agency: str | None, limit: int) -> list[ShortlistFeedback]:
        return self._latest(lambda m: not m.by_supplier and agency in (None, m.agency), limit)

    def from_suppliers(self, limit: int, supplier_ids: Collection[str] | None = None) -> list[ShortlistFeedback]:
        return self._latest(lambda m: m.by_supplier and (supplier_ids is None or m.supplier_id in supplier_ids), limit)


class HashingEncoder:
    """The ``Encoder`` fake: character 1- to 3-grams of the lower-cased text, hashed (CRC-32, stable across runs
    and processes) into ``dimension`` signed buckets and L2-normalised. Texts sharing letters are close; nothing
    else is: it knows no meaning across languages (a Chinese and an English phrase share no n-gram), only the real
    encoder (``adapters/encoder.py``) does."""

    def __init__(self, dimension: int = 256) -> None:
        if dimension < 8:
            raise ValueError(f"dimension must be at least 8, got {dimension}")
        self.dimension = dimension

    @property
    def model(self) -> str:
        return f"hashing-ngrams-{self.dimension}"

    def encode(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = " ".join(text.lower().split())
            if not words:
                continue  # nothing to hash: the zero vector, close to nothing
            s = f" {words} "
            for n in (1, 2, 3):
                for i in range(len(s) - n + 1):
                    h = zlib.crc32(s[i : i + n].encode())
                    out[row, h % self.dimension] += 1.0 if (h >> 31) & 1 else -1.0
        return normalised(out)

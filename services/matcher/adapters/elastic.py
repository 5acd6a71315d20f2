"""Elasticsearch adapters of the matcher's stores.

Indexes (``<prefix>`` is ``TB_MATCHER_INDEX_PREFIX``):

- ``<prefix>-suppliers``: an alias over ``<prefix>-suppliers-v<N>``; the mapping is the domain's
  ``PROFILE_MAPPING`` plus the whole profile, unindexed, under ``profile``, and, with an encoder, the profile's
  vector as a ``dense_vector`` (``retrieval.VECTOR_FIELD``) for the kNN candidate channel, and, for a profile that
  states no codes, the codes suggested from its description (``retrieval.SUGGESTED_FIELD``), and what scoring
  needs of it, computed when it is written (``SupplierStats.to_record``), unindexed under ``scoring``.
  ``reindex`` builds v<N+1>, copies, and swaps the alias in one atomic ``_aliases`` call, so readers never see a
  missing or half-filled index.
- ``<prefix>-notices``: the latest version of each notice (external versioning refuses an older version), with,
  given an encoder, its vector (``documents.NOTICE_VECTOR_FIELD``): reverse matching's kNN channel finds the open
  notices nearest in meaning to a profile by it. ``ensure_indexes`` adds the field to an index created without it;
  ``backfill_notice_vectors`` (run by ``reindex``) gives the open notices stored without a vector theirs.
- ``<prefix>-shortlists``: one document per notice version, id ``<notice_id>@<version>`` (writes are idempotent).
- ``<prefix>-api-keys``: id = SHA-256 of the key; the key itself is never stored. Revocation, expiry and last use
  are optional fields added later: ``ensure_indexes`` adds them to the mapping of an index created before.

Every call goes through ``_guard`` so a connection failure or a 5xx becomes ``StoreUnavailable`` (the worker
backs off and retries; the API answers 503).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, BadRequestError, ConflictError, Elasticsearch, NotFoundError, helpers

from contracts import Shortlist, SupplierProfile, TenderNotice
from contracts.feedback import ShortlistFeedback
from contracts.supplier import ProfileOrigin
from services.matcher import documents
from services.matcher.adapters.encoder import profile_vectors
from services.matcher.domain import (
    PROFILE_MAPPING,
    ScoringConfig,
    build_candidate_query,
    candidate_query_to_es,
    profile_document,
)
from services.matcher.domain.awards import resolution_keys
from services.matcher.domain.codes import CodeHints
from services.matcher.domain.retrieval import (
    CODE_FIELD,
    SUGGESTED_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    CandidateQuery,
    knn_query_to_es,
    suggested_prefixes,
    union_candidates,
)
from services.matcher.domain.scoring import SupplierStats, fingerprint, supplier_stats
from services.matcher.domain.semantic import Vector, knn_to_es, notice_semantic_text, vector_mapping
from services.matcher.domain.suggest import SuggestedCode
from services.matcher.exceptions import InvalidInput, NotFound, StoreUnavailable
from services.matcher.keys import KEY_ID_LENGTH, ApiKey, normalize_agency
from services.matcher.ports import Encoder, NoticeCursor, NoticeFilter
from services.matcher.suggestions import TextCodes

log = logging.getLogger(__name__)

#: ``ShortlistStore.latest(before_version=v)`` multi-gets the ids of the versions below ``v`` up to this many
#: (notices are rarely amended more often); beyond it, a sorted search.
MGET_VERSIONS = 64


def make_client(url: str, timeout_seconds: float) -> Elasticsearch:
    return Elasticsearch(url, request_timeout=timeout_seconds, retry_on_timeout=False, max_retries=1)


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    try:
        yield
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise StoreUnavailable(f"Elasticsearch does not answer: {exc}") from exc
    except BadRequestError as exc:
        # An id or a query value Elasticsearch refuses (an id over 512 bytes...): bad input, not an outage. Its own
        # words (index names, parser internals) go to the log, never to a caller.
        log.warning("Elasticsearch refused a request: %s", exc.message)
        raise InvalidInput(
            "the store cannot read a value of this request (an id or a filter out of its range)"
        ) from exc
    except ApiError as exc:
        if exc.meta.status >= 500:
            raise StoreUnavailable(f"Elasticsearch error {exc.meta.status}: {exc}") from exc
        raise
    except TransportError as exc:
        raise StoreUnavailable(f"Elasticsearch transport error: {exc}") from exc


class IndexNames:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.suppliers = f"{prefix}-suppliers"
        self.notices = f"{prefix}-notices"
        self.shortlists = f"{prefix}-shortlists"
        self.keys = f"{prefix}-api-keys"

    def suppliers_version(self, n: int) -> str:
        return f"{self.suppliers}-v{n}"


#: The fields entity resolution and claims find profiles by (``ElasticProfileStore.find_by_keys``): the terms of
#: ``domain.awards.resolution_keys`` and the profile's origin. Added to the mapping of an index created before them
#: (``ensure_indexes``); its profiles are found by them once written again, or all at once after ``reindex``.
RESOLUTION_MAPPING: dict[str, Any] = {"resolution_keys": {"type": "keyword"}, "origin": {"type": "keyword"}}
#: Profiles ``find_by_keys`` reads per page of its scroll.
RESOLUTION_PAGE = 1000
#: Where a profile document keeps its scoring record (``SupplierStats.to_record``): an object Elasticsearch stores
#: and does not index (``enabled: false``), read back with the profile for the candidates.
SCORING_FIELD = "scoring"
SCORING_MAPPING: dict[str, Any] = {SCORING_FIELD: {"type": "object", "enabled": False}}


def profile_mapping(vector_dimension: int | None = None) -> dict[str, Any]:
    """The domain's mapping of the searchable fields plus the stored profile and the write time (and the profile
    vector's field, given the encoder's dimension)."""
    domain = dict(PROFILE_MAPPING)
    properties = dict(domain.get("properties", domain))
    properties["profile"] = {"type": "object", "enabled": False}
    properties.update(SCORING_MAPPING)
    properties["indexed_at"] = {"type": "date"}
    properties[SUGGESTED_FIELD] = {"type": "keyword"}
    properties.update(RESOLUTION_MAPPING)
    if vector_dimension is not None:
        properties[VECTOR_FIELD] = vector_mapping(vector_dimension)
    out: dict[str, Any] = {"properties": properties}
    if "properties" in domain:
        out.update({k: v for k, v in domain.items() if k != "properties"})
    return out


def profile_source(
    profile: SupplierProfile,
    indexed_at: datetime,
    vector: Vector | None = None,
    suggested: tuple[SuggestedCode, ...] = (),
) -> dict[str, Any]:
    doc = dict(profile_document(profile))
    if suggested:
        doc[SUGGESTED_FIELD] = suggested_prefixes(suggested)
    doc["profile"] = profile.model_dump(mode="json")
    doc[SCORING_FIELD] = supplier_stats(profile).to_record()
    doc["indexed_at"] = indexed_at.isoformat()
    doc["resolution_keys"] = resolution_keys(profile)
    doc["origin"] = profile.origin.value
    if vector is not None:
        doc[VECTOR_FIELD] = [float(x) for x in vector]
    return doc


def _sources(
    encoder: Encoder | None,
    profiles: list[SupplierProfile],
    indexed_at: datetime,
    text_codes: TextCodes | None = None,
) -> Iterator[tuple[SupplierProfile, dict[str, Any]]]:
    """Each profile with its document (its vector encoded, in one batch, when there is an encoder; with
    ``text_codes`` too, the codes suggested from that vector for a profile that states none)."""
    vectors = profile_vectors(encoder, profiles)
    suggested = text_codes.for_profiles(profiles, vectors) if text_codes is not None else [()] * len(profiles)
    for i, p in enumerate(profiles):
        yield p, profile_source(p, indexed_at, None if vectors is None else vectors[i], suggested[i])


def _create_index(
    es: Elasticsearch, name: str, mappings: dict[str, Any], aliases: dict[str, Any] | None = None
) -> None:
    # Two processes may start at once: the loser of the race finds the index there, which is what it wanted.
    with contextlib.suppress(InvalidInput), _guard():
        es.indices.create(index=name, mappings=mappings, aliases=aliases)


def ensure_indexes(es: Elasticsearch, names: IndexNames, vector_dimension: int | None = None) -> None:
    """Create the indexes that are missing; with ``vector_dimension``, add the vector's field to a suppliers or
    notices index created without it (its profiles get vectors when written again, or all at once by ``reindex``;
    its open notices when stored again, or all at once by ``reindex``: ``backfill_notice_vectors``)."""
    with _guard():
        if not es.indices.exists_alias(name=names.suppliers):
            _create_index(es, names.suppliers_version(1), profile_mapping(vector_dimension), {names.suppliers: {}})
        else:
            # Suggested codes are a field added since: in place (their profiles get them when written again).
            es.indices.put_mapping(index=names.suppliers, properties={SUGGESTED_FIELD: {"type": "keyword"}})
            es.indices.put_mapping(index=names.suppliers, properties=RESOLUTION_MAPPING)
            # Scoring records too (a profile written before them is scored from a record computed when ranked).
            es.indices.put_mapping(index=names.suppliers, properties=SCORING_MAPPING)
            if vector_dimension is not None:
                _add_vector_field(es, names.suppliers, vector_dimension)
        for index, mapping in (
            (names.notices, documents.notice_mapping(vector_dimension)),
            (names.shortlists, documents.SHORTLIST_MAPPING),
            (names.keys, documents.KEY_MAPPING),
        ):
            if es.indices.exists(index=index):
                if index == names.notices and vector_dimension is not None:
                    # Checked first, to say what to do: a field's dimension cannot change in place.
                    _add_vector_field(es, index, vector_dimension, documents.NOTICE_VECTOR_FIELD, _NOTICE_VECTORS)
                # Fields added since the index was created (adding fields is always allowed in place).
                es.indices.put_mapping(index=index, properties=mapping["properties"])
            else:
                _create_index(es, index, mapping)


#: What a vector field of another dimension than the encoder's says to do: profiles are rebuilt by ``reindex``;
#: notices (one unversioned index) are not, so their matcher must keep the encoder that wrote them.
_PROFILE_VECTORS = "profile vectors", "run `python -m services.matcher reindex` to rebuild them"
_NOTICE_VECTORS = (
    "notice vectors",
    "run the matcher with the encoder that wrote them (TB_MATCHER_ENCODER) or with a new TB_MATCHER_INDEX_PREFIX",
)


def _add_vector_field(
    es: Elasticsearch,
    index: str,
    dimension: int,
    field_name: str = VECTOR_FIELD,
    what: tuple[str, str] = _PROFILE_VECTORS,
) -> None:
    current = es.indices.get_mapping(index=index)
    for mapping in current.values():
        field = mapping.get("mappings", {}).get("properties", {}).get(field_name)
        if field is None:
            continue
        if field.get("dims") != dimension:
            raise InvalidInput(
                f"{index} holds {field.get('dims')}-dimensional {what[0]} and the encoder makes {dimension}: {what[1]}"
            )
        return
    es.indices.put_mapping(index=index, properties={field_name: vector_mapping(dimension)})


def supplier_versions(es: Elasticsearch, names: IndexNames) -> tuple[list[int], str | None]:
    """The existing ``-v<N>`` numbers and the index the alias points at."""
    pattern = re.compile(re.escape(names.suppliers) + r"-v(\d+)$")
    with _guard():
        indexes = es.indices.get(index=f"{names.suppliers}-v*")
        current = None
        if es.indices.exists_alias(name=names.suppliers):
            current = next(iter(es.indices.get_alias(name=names.suppliers)), None)
    versions = sorted(int(m.group(1)) for name in indexes if (m := pattern.match(name)))
    return versions, current


def reindex_suppliers(
    es: Elasticsearch,
    names: IndexNames,
    now: datetime,
    delete_old: bool = False,
    encoder: Encoder | None = None,
    text_codes: TextCodes | None = None,
) -> tuple[str, str | None, int]:
    """Build ``-v<N+1>`` with the current mapping, copy every profile (documents rebuilt from the stored profile,
    so mapping and document changes apply), swap the alias atomically, then copy again what was written to the old
    index while the first copy ran. Returns (new index, old index, documents copied).

    With an ``encoder``, every copied profile gets its vector (the kNN channel's field is in the new mapping), and
    with ``text_codes`` too, a profile that states no code its suggested codes.

    A profile deleted during the copy window can come back; run ``reindex`` when profile traffic is quiet.
    """
    versions, old = supplier_versions(es, names)
    new = names.suppliers_version((versions[-1] if versions else 0) + 1)
    _create_index(es, new, profile_mapping(encoder.dimension if encoder is not None else None))
    copied = _copy_profiles(es, old, new, now, since=None, encoder=encoder, text_codes=text_codes) if old else 0
    with _guard():
        actions: list[dict[str, Any]] = [{"add": {"index": new, "alias": names.suppliers}}]
        if old:
            actions.insert(0, {"remove": {"index": old, "alias": names.suppliers}})
        es.indices.update_aliases(actions=actions)
    if old:
        copied += _copy_profiles(es, old, new, now, since=now, encoder=encoder, text_codes=text_codes)
        if delete_old:
            with _guard():
                es.indices.delete(index=old)
    return new, old, copied


#: Profiles encoded together while ``reindex`` copies them.
REINDEX_BATCH = 256


def _copy_profiles(
    es: Elasticsearch,
    source: str,
    target: str,
    now: datetime,
    since: datetime | None,
    encoder: Encoder | None,
    text_codes: TextCodes | None = None,
) -> int:
    query: dict[str, Any] = {"match_all": {}}
    if since is not None:
        query = {"range": {"indexed_at": {"gte": since.isoformat()}}}
    with _guard():
        es.indices.refresh(index=source)

        def actions() -> Iterator[dict[str, Any]]:
            batch: list[SupplierProfile] = []
            for hit in helpers.scan(es, index=source, query={"query": query}):
                batch.append(SupplierProfile.model_validate(hit["_source"]["profile"]))
                if len(batch) >= REINDEX_BATCH:
                    yield from _bulk_actions(target, _sources(encoder, batch, now, text_codes))
                    batch = []
            yield from _bulk_actions(target, _sources(encoder, batch, now, text_codes))

        copied, _ = helpers.bulk(es, actions(), refresh=True)
    return int(copied)


class ProfileCache:
    """Parsed profiles by id, each with the stored version it was parsed from (index, ``_seq_no``,
    ``_primary_term``) and the vector and scoring record stored with it (if any): a search can then ask for ids and
    versions only and
    reuse what is already parsed, instead of fetching and validating 300 full profiles per notice. A hit whose
    version differs is fetched again (``mget``). Thread-safe (the worker, the API and a background refit share the
    store); least recently used evicted first.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, supplier_id: str, version: tuple[str, int, int]) -> SupplierProfile | None:
        with self._lock:
            item = self._items.get(supplier_id)
            if item is None or item[0] != version:
                return None
            self._items.move_to_end(supplier_id)
            return item[1]

    def vector(self, profile: SupplierProfile) -> Vector | None:
        """The vector read with this very profile object (``None``: another object, none stored, or evicted)."""
        with self._lock:
            item = self._items.get(profile.supplier_id)
            return item[2] if item is not None and item[1] is profile else None

    def scoring(self, profile: SupplierProfile) -> SupplierStats | None:
        """The scoring record read with this very profile object (``None``: as ``vector``)."""
        with self._lock:
            item = self._items.get(profile.supplier_id)
            return item[3] if item is not None and item[1] is profile else None

    def put(
        self,
        version: tuple[str, int, int],
        profile: SupplierProfile,
        vector: Vector | None = None,
        scoring: SupplierStats | None = None,
    ) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[profile.supplier_id] = (version, profile, vector, scoring)
            self._items.move_to_end(profile.supplier_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


#: A cached profile: its stored version, the profile, and the vector and scoring record stored with it.
_Cached = tuple[tuple[str, int, int], SupplierProfile, Vector | None, SupplierStats | None]


def _version(hit: dict[str, Any]) -> tuple[str, int, int] | None:
    seq, term = hit.get("_seq_no"), hit.get("_primary_term")
    return None if seq is None or term is None else (str(hit["_index"]), int(seq), int(term))


def _bulk_actions(index: str, sources: Iterator[tuple[SupplierProfile, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for p, source in sources:
        yield {"_index": index, "_id": p.supplier_id, "_source": source}


#: What a profile read into the cache is fetched with: the profile and the vector and record stored with it.
_CACHED_FIELDS = ["profile", VECTOR_FIELD, SCORING_FIELD]

#: Profiles per request when ``all`` pages through the store.
PROFILE_PAGE = 1000


def _scoring(supplier_id: str, record: Any, profile: SupplierProfile) -> SupplierStats | None:
    """The scoring record of a profile document, ``None`` when it has none of this version (written before records
    or by another version: the model computes it) or one that cannot be read (said in the log)."""
    if record is None:
        return None
    try:
        return SupplierStats.from_record(record, fingerprint(profile))
    except ValueError as exc:
        log.warning("the scoring record of profile %s is not used: %s", supplier_id, exc)
        return None


class ElasticProfileStore:
    """With an ``encoder``, each profile's vector is stored when it is written (``ensure_indexes`` with its
    dimension maps the field), and ``candidates`` adds the kNN channel's nearest profiles."""

    def __init__(
        self,
        es: Elasticsearch,
        names: IndexNames,
        clock: Any,
        cache_size: int = 100_000,
        encoder: Encoder | None = None,
        text_codes: TextCodes | None = None,
    ) -> None:
        self._encoder = encoder
        self._text_codes = text_codes
        self._es = es
        self._index = names.suppliers
        self._clock = clock
        self.cache = ProfileCache(cache_size)

    def _parse(self, hit: dict[str, Any]) -> SupplierProfile:
        profile = SupplierProfile.model_validate(hit["_source"]["profile"])
        self._remember(hit, profile, hit["_source"])
        return profile

    def _remember(self, hit: dict[str, Any], profile: SupplierProfile, source: dict[str, Any]) -> None:
        """Keep ``profile`` in the cache at the version ``hit`` names (a search hit, or a write's result), with the
        vector and scoring record of its document ``source``; a hit without a version (a failed item) keeps nothing."""
        version = _version(hit)
        if version is None:
            return
        stored = source.get(VECTOR_FIELD)
        vector = None if not stored else np.asarray(stored, dtype=np.float32)
        self.cache.put(version, profile, vector, _scoring(profile.supplier_id, source.get(SCORING_FIELD), profile))

    def stored_vector(self, profile: SupplierProfile) -> Vector | None:
        return self.cache.vector(profile)

    def stored_scoring(self, profile: SupplierProfile) -> SupplierStats | None:
        return self.cache.scoring(profile)

    def _resolve(self, hits: list[dict[str, Any]]) -> list[SupplierProfile]:
        """The profiles of search hits that carry ids and versions only: from the cache, the rest by ``mget``
        (a profile deleted since the search is left out)."""
        found: dict[str, SupplierProfile] = {}
        missing: list[str] = []
        for h in hits:
            version = _version(h)
            cached = self.cache.get(h["_id"], version) if version is not None else None
            if cached is not None:
                found[h["_id"]] = cached
            else:
                missing.append(h["_id"])
        if missing:
            with _guard():
                docs = self._es.mget(
                    index=self._index, ids=missing, source_includes=_CACHED_FIELDS, stored_fields=None
                )["docs"]
            for d in docs:
                if d.get("found"):
                    found[d["_id"]] = self._parse(d)
        return [found[h["_id"]] for h in hits if h["_id"] in found]

    def get(self, supplier_id: str) -> SupplierProfile | None:
        with _guard():
            try:
                hit = self._es.get(index=self._index, id=supplier_id)
            except NotFoundError:
                return None
        return SupplierProfile.model_validate(hit["_source"]["profile"])

    def put(self, profile: SupplierProfile) -> None:
        [(_, source)] = _sources(self._encoder, [profile], self._clock(), self._text_codes)
        with _guard():
            result = self._es.index(index=self._index, id=profile.supplier_id, document=source, refresh=True)
        # Kept as written: the matcher ranks the very object it stored right after (``reverse_match``), and a search
        # that finds it at that version needs no ``mget``.
        self._remember(dict(result), profile, source)

    def get_many(self, supplier_ids: list[str]) -> list[SupplierProfile]:
        if not supplier_ids:
            return []
        with _guard():
            docs = self._es.mget(index=self._index, ids=supplier_ids, source_includes=_CACHED_FIELDS)["docs"]
        # Through the cache: the vectors and scoring records come with them (re-matching ranks them).
        return [self._parse(d) for d in docs if d.get("found")]

    def put_many(self, profiles: list[SupplierProfile]) -> None:
        if not profiles:
            return
        sources = list(_sources(self._encoder, profiles, self._clock(), self._text_codes))
        with _guard():
            # One result per action, in order (``streaming_bulk`` raises on the first failed item, as ``bulk``).
            results = helpers.streaming_bulk(self._es, _bulk_actions(self._index, iter(sources)), refresh=True)
            for (profile, source), (_, item) in zip(sources, results, strict=True):
                self._remember(item.get("index", {}), profile, source)

    def delete(self, supplier_id: str) -> bool:
        with _guard():
            try:
                self._es.delete(index=self._index, id=supplier_id, refresh=True)
            except NotFoundError:
                return False
        return True

    def candidates(
        self, notice: TenderNotice, config: Any, vector: Vector | None = None, hints: CodeHints | None = None
    ) -> list[SupplierProfile]:
        query = build_candidate_query(notice, config, vector, hints)
        matched = self._matched(query)
        knn = knn_query_to_es(query)
        if knn is None:
            return matched
        with _guard():
            try:
                hits = self._es.search(index=self._index, source=False, seq_no_primary_term=True, **knn)["hits"]["hits"]
            except BadRequestError:
                # An index without the vector field (created before the encoder was configured): no kNN channel
                # until ``ensure_indexes`` adds it.
                log.warning("kNN search refused by %s; candidates by codes and terms only", self._index)
                return matched
        ids = union_candidates([p.supplier_id for p in matched], [h["_id"] for h in hits])
        by_id = {p.supplier_id: p for p in matched}
        # The nearest ones not matched otherwise: from the cache (with their stored vectors), the rest by ``mget``.
        found = {p.supplier_id: p for p in self._resolve([h for h in hits if h["_id"] not in by_id])}
        return [p for s in ids if (p := by_id.get(s) or found.get(s)) is not None]

    def _matched(self, query: CandidateQuery) -> list[SupplierProfile]:
        """The candidates matched by a code or a term clause."""
        # First an unscored filter for every profile that matches at all (size limit + 1). When no more than
        # ``limit`` match, that IS the candidate set the boosted query would return (the boosts only choose which
        # ``limit`` to keep), at a fraction of the cost: a server scores ~30 boosted clauses per document. Only a
        # larger match set pays for the boosted query.
        matching = [
            {"terms": {field: [term for term, _ in terms]}}
            for field, terms in (
                (CODE_FIELD, query.code_terms),
                (TEXT_FIELD, query.text_terms),
                (SUGGESTED_FIELD, query.suggested_terms),
            )
            if terms
        ]
        if not matching:
            return []
        # Ids and versions only: the profiles come from the cache, the few new or changed ones by ``mget``.
        with _guard():
            hits = self._es.search(
                index=self._index,
                query={"constant_score": {"filter": {"bool": {"should": matching, "minimum_should_match": 1}}}},
                size=query.limit + 1,
                source=False,
                seq_no_primary_term=True,
                track_total_hits=False,
            )["hits"]["hits"]
            if len(hits) > query.limit:
                body = candidate_query_to_es(query)
                params = {k: v for k, v in body.items() if k != "_source"}
                hits = self._es.search(index=self._index, source=False, seq_no_primary_term=True, **params)["hits"][
                    "hits"
                ]
        return self._resolve(hits)

    def search(self, q: str | None, code: str | None, country: str | None, limit: int) -> list[SupplierProfile]:
        must: list[dict[str, Any]] = []
        filters: list[dict[str, Any]] = []
        if q:
            must.append({"multi_match": {"query": q, "fields": ["name", "text_en", "text_zh"], "operator": "and"}})
        if code:
            filters.append({"terms": {"code_prefixes": documents.code_filter_tags(code)}})
        if country:
            filters.append({"term": {"country": country}})
        query = {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}
        with _guard():
            hits = self._es.search(index=self._index, query=query, size=limit, source_includes=["profile"])
        return [SupplierProfile.model_validate(h["_source"]["profile"]) for h in hits["hits"]["hits"]]

    def all(self) -> Iterator[SupplierProfile]:
        # Page by page: one page of profiles in memory at a time, however many are stored.
        after: str | None = None
        while page := self.page(after, PROFILE_PAGE):
            yield from page
            after = page[-1].supplier_id

    def page(self, after: str | None, limit: int) -> list[SupplierProfile]:
        with _guard():
            hits = self._es.search(
                index=self._index,
                query={"match_all": {}},
                sort=[{"supplier_id": "asc"}],
                size=limit,
                search_after=None if after is None else [after],
                seq_no_primary_term=True,
                source_includes=_CACHED_FIELDS,
                track_total_hits=False,
            )["hits"]["hits"]
        # Cached too, with their vectors and scoring records: read again as candidates, they need no fetch.
        return [self._parse(hit) for hit in hits]

    def find_by_keys(self, keys: Sequence[str], *, prospects_only: bool = False) -> list[SupplierProfile]:
        if not keys:
            return []
        filters: list[dict[str, Any]] = [{"terms": {"resolution_keys": list(dict.fromkeys(keys))}}]
        if prospects_only:
            filters.append({"term": {"origin": ProfileOrigin.AWARDS.value}})
        # Ids and versions only, every match (a block of the fuzzy rule may hold many): parsed profiles come from
        # the cache, the new or changed ones by ``mget``.
        with _guard():
            hits = list(
                helpers.scan(
                    self._es,
                    index=self._index,
                    query={"query": {"bool": {"filter": filters}}, "seq_no_primary_term": True, "_source": False},
                    size=RESOLUTION_PAGE,
                )
            )
        return sorted(self._resolve(hits), key=lambda p: p.supplier_id)


class ElasticNoticeStore:
    def __init__(self, es: Elasticsearch, names: IndexNames, config: ScoringConfig) -> None:
        self._es = es
        self._index = names.notices
        self._config = config

    def get(self, notice_id: str) -> TenderNotice | None:
        with _guard():
            try:
                # The notice alone, not its vector (512 numbers: more bytes than most notices).
                hit = self._es.get(index=self._index, id=notice_id, source_includes=["notice"])
            except NotFoundError:
                return None
        return TenderNotice.model_validate(hit["_source"]["notice"])

    def put(self, notice: TenderNotice, vector: Vector | None = None) -> bool:
        with _guard():
            try:
                # external_gte: the same version again is accepted (redelivery), an older one is refused.
                self._es.index(
                    index=self._index,
                    id=notice.notice_id,
                    document=documents.notice_document(notice, self._config, vector),
                    version=notice.version,
                    version_type="external_gte",
                    # No refresh: reads by id (GET) are real-time; the searches that must see this notice at once
                    # (``open_for_profile``) refresh before they search, off the per-notice path.
                )
            except ConflictError:
                return False
        return True

    def find(self, flt: NoticeFilter, offset: int, limit: int) -> tuple[list[TenderNotice], int]:
        filters: list[dict[str, Any]] = []
        if flt.agency:
            filters.append({"term": {"agencies": normalize_agency(flt.agency)}})
        if flt.code:
            filters.append({"bool": {"should": [{"term": {"code_prefixes": flt.code}}, {"term": {"codes": flt.code}}]}})
        if flt.country:
            filters.append({"term": {"countries": flt.country}})
        if flt.status is not None:
            filters.append({"term": {"status": flt.status.value}})
        window: dict[str, str] = {}
        if flt.deadline_from:
            window["gte"] = flt.deadline_from.isoformat()
        if flt.deadline_to:
            window["lte"] = flt.deadline_to.isoformat()
        if window:
            filters.append({"range": {"deadline_at": window}})
        if flt.open_at:
            filters.append(_deadline_after_or_none(flt.open_at))
            filters.append({"bool": {"must_not": [{"term": {"status": "cancelled"}}]}})
        with _guard():
            res = self._es.search(
                index=self._index,
                query={"bool": {"filter": filters}} if filters else {"match_all": {}},
                sort=[{"deadline_at": {"order": "asc", "missing": "_last"}}, {"notice_id": "asc"}],
                from_=offset,
                size=limit,
                source_includes=["notice"],
                track_total_hits=True,
            )
        notices = [TenderNotice.model_validate(h["_source"]["notice"]) for h in res["hits"]["hits"]]
        return notices, int(res["hits"]["total"]["value"])

    def open_notices(self, now: datetime, page: int = 500) -> Iterator[TenderNotice]:
        # search_after by notice id: no 10,000-hit window, and a notice stored meanwhile is met at most once.
        query = {"bool": _open_at(now)}
        with _guard():
            self._es.indices.refresh(index=self._index)  # notices are stored without a refresh
        after: list[Any] | None = None
        while True:
            with _guard():
                res = self._es.search(
                    index=self._index,
                    query=query,
                    sort=[{"notice_id": "asc"}],
                    size=page,
                    source_includes=["notice"],
                    search_after=after,
                )
            hits = res["hits"]["hits"]
            for h in hits:
                yield TenderNotice.model_validate(h["_source"]["notice"])
            if len(hits) < page:
                return
            after = hits[-1]["sort"]

    def open_for_profile(
        self,
        profile: SupplierProfile,
        now: datetime,
        limit: int,
        suggested: Sequence[str] = (),
        vector: Vector | None = None,
    ) -> list[TenderNotice]:
        codes, terms = documents.profile_retrieval_keys(profile)
        codes = list(dict.fromkeys([*codes, *suggested]))
        with _guard():
            # Notices are stored without a refresh (the hot path); a notice stored a moment ago must still be
            # found here, or a supplier saved in that moment would miss it (its own match ran before the save).
            self._es.indices.refresh(index=self._index)
        should: list[dict[str, Any]] = []
        if codes:
            should.append({"terms": {"retrieval_codes": codes}})
        if terms:
            should.append({"terms": {"retrieval_terms": terms}})
        matched: list[TenderNotice] = []
        if should:
            query = {"bool": {"should": should, "minimum_should_match": 1, **_open_at(now)}}
            with _guard():
                hits = self._es.search(index=self._index, query=query, size=limit, source_includes=["notice"])
            matched = [TenderNotice.model_validate(h["_source"]["notice"]) for h in hits["hits"]["hits"]]
        k = min(self._config.retrieval_knn_k, limit)
        if vector is None or k <= 0:
            return matched
        return documents.reverse_hits(matched, self._nearest_open(vector, k, now), limit)

    def _nearest_open(self, vector: Vector, k: int, now: datetime) -> list[TenderNotice]:
        """The ``k`` open notices nearest in meaning to ``vector``, from cosine ``documents.REVERSE_KNN_FLOOR`` (the
        server's ``similarity`` is the cosine itself), closest first: exact (``flat``), filtered to the open
        notices."""
        knn = knn_to_es(documents.NOTICE_VECTOR_FIELD, vector, k, num_candidates=max(100, 2 * k))
        knn |= {"filter": {"bool": _open_at(now)}, "similarity": documents.REVERSE_KNN_FLOOR}
        with _guard():
            try:
                hits = self._es.search(index=self._index, knn=knn, size=k, source_includes=["notice"])
            except BadRequestError:
                # An index without the vector field (created before the encoder was configured): no kNN channel
                # until ``ensure_indexes`` adds it.
                log.warning("kNN search refused by %s; open notices by codes and terms only", self._index)
                return []
        return [TenderNotice.model_validate(h["_source"]["notice"]) for h in hits["hits"]["hits"]]

    def published_between(
        self, since: datetime, until: datetime | None, after: NoticeCursor | None, limit: int
    ) -> list[TenderNotice]:
        with _guard():
            # search_after on (published_at, notice_id): no 10,000-hit window however long the period; the server
            # sorts dates by epoch milliseconds, which is what the cursor is turned into.
            res = self._es.search(
                index=self._index,
                query=_published_in(since, until),
                sort=[{"published_at": {"order": "asc"}}, {"notice_id": "asc"}],
                size=limit,
                search_after=None if after is None else [_epoch_ms(after.published_at), after.notice_id],
                source_includes=["notice"],
                track_total_hits=False,
            )
        return [TenderNotice.model_validate(h["_source"]["notice"]) for h in res["hits"]["hits"]]

    def count_published(self, since: datetime, until: datetime | None) -> int:
        with _guard():
            self._es.indices.refresh(index=self._index)  # notices are stored without a refresh
            return int(self._es.count(index=self._index, query=_published_in(since, until))["count"])


def _published_in(since: datetime, until: datetime | None) -> dict[str, Any]:
    window = {"gte": since.isoformat()} | ({} if until is None else {"lt": until.isoformat()})
    return {"bool": {"filter": [{"range": {"published_at": window}}]}}


def _epoch_ms(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _open_at(now: datetime) -> dict[str, Any]:
    """The clauses of a ``bool`` query that keep the notices open at ``now`` (``TenderNotice.is_open``)."""
    return {"must_not": [{"term": {"status": "cancelled"}}], "filter": [_deadline_after_or_none(now)]}


#: Open notices given vectors together by ``backfill_notice_vectors``.
NOTICE_VECTOR_BATCH = 256


def backfill_notice_vectors(
    es: Elasticsearch, names: IndexNames, config: ScoringConfig, encoder: Encoder, now: datetime
) -> int:
    """Give the open notices stored without a vector theirs (after an upgrade, or with the encoder configured
    since), ``NOTICE_VECTOR_BATCH`` encoded at a time; the index must map the field (``ensure_indexes`` with the
    encoder's dimension). Each is written again with its own version (``external_gte``): a newer version stored
    meanwhile wins and is left as it is. Closed notices are left: only open ones are searched by meaning. Returns
    how many were given a vector."""
    query = _open_at(now)
    query["must_not"].append({"exists": {"field": documents.NOTICE_VECTOR_FIELD}})
    with _guard():
        es.indices.refresh(index=names.notices)
        hits = helpers.scan(es, index=names.notices, query={"query": {"bool": query}, "_source": ["notice"]})
        written = 0
        batch: list[TenderNotice] = []
        for hit in hits:
            batch.append(TenderNotice.model_validate(hit["_source"]["notice"]))
            if len(batch) >= NOTICE_VECTOR_BATCH:
                written += _write_notice_vectors(es, names, config, encoder, batch)
                batch = []
        written += _write_notice_vectors(es, names, config, encoder, batch)
        es.indices.refresh(index=names.notices)
    return written


def _write_notice_vectors(
    es: Elasticsearch, names: IndexNames, config: ScoringConfig, encoder: Encoder, batch: list[TenderNotice]
) -> int:
    if not batch:
        return 0
    vectors = encoder.encode([notice_semantic_text(n.title, n.description) for n in batch])
    actions = (
        {
            "_index": names.notices,
            "_id": n.notice_id,
            "_version": n.version,
            "_version_type": "external_gte",
            "_source": documents.notice_document(n, config, v),
        }
        for n, v in zip(batch, vectors, strict=True)
    )
    written, errors = helpers.bulk(es, actions, raise_on_error=False)
    # A conflict is a newer version stored meanwhile (with its own vector): it wins. Anything else is the store's.
    refused = [e for item in errors for e in item.values() if e.get("status") != 409]  # type: ignore[union-attr]
    if refused:
        raise StoreUnavailable(f"{len(refused)} notices not written back with their vectors: {refused[0]}")
    return int(written)


def _deadline_after_or_none(now: datetime) -> dict[str, Any]:
    """Notices still open for bids at ``now``: a deadline later than ``now``, or none."""
    return {
        "bool": {
            "should": [
                {"range": {"deadline_at": {"gt": now.isoformat()}}},
                {"bool": {"must_not": [{"exists": {"field": "deadline_at"}}]}},
            ],
            "minimum_should_match": 1,
        }
    }


class ElasticShortlistStore:
    def __init__(self, es: Elasticsearch, names: IndexNames) -> None:
        self._es = es
        self._index = names.shortlists

    def get(self, notice_id: str, version: int) -> Shortlist | None:
        with _guard():
            try:
                hit = self._es.get(index=self._index, id=Shortlist.make_id(notice_id, version))
            except NotFoundError:
                return None
        return Shortlist.model_validate(hit["_source"]["shortlist"])

    def latest(self, notice_id: str, before_version: int | None = None) -> Shortlist | None:
        if before_version is not None and before_version <= MGET_VERSIONS + 1:
            # The ids of the earlier versions are known (``<notice_id>@<version>``): a real-time multi-get, which
            # also sees a shortlist stored a moment ago (a search would wait for a refresh), and is cheaper.
            ids = [Shortlist.make_id(notice_id, v) for v in range(before_version - 1, 0, -1)]
            if not ids:
                return None
            with _guard():
                docs = self._es.mget(index=self._index, ids=ids, source_includes=["shortlist"])["docs"]
            found = next((d for d in docs if d.get("found")), None)
            return Shortlist.model_validate(found["_source"]["shortlist"]) if found is not None else None
        filters: list[dict[str, Any]] = [{"term": {"notice_id": notice_id}}]
        if before_version is not None:
            filters.append({"range": {"notice_version": {"lt": before_version}}})
        with _guard():
            self._es.indices.refresh(index=self._index)
            hits = self._es.search(
                index=self._index,
                query={"bool": {"filter": filters}},
                sort=[{"notice_version": {"order": "desc"}}],
                size=1,
            )["hits"]["hits"]
        return Shortlist.model_validate(hits[0]["_source"]["shortlist"]) if hits else None

    def put(self, shortlist: Shortlist) -> None:
        self._index_one(shortlist, "index")

    def add(self, shortlist: Shortlist) -> Shortlist:
        try:
            self._index_one(shortlist, "create")
        except ConflictError:
            stored = self.get(shortlist.notice_id, shortlist.notice_version)
            if stored is None:  # deleted in between: none stored now, so this one
                return self.add(shortlist)
            return stored
        return shortlist

    def _index_one(self, shortlist: Shortlist, op_type: Literal["index", "create"]) -> None:
        with _guard():
            self._es.index(
                index=self._index,
                id=shortlist.shortlist_id,
                op_type=op_type,
                document={
                    "notice_id": shortlist.notice_id,
                    "notice_version": shortlist.notice_version,
                    "notice_status": shortlist.notice_status.value,
                    "supplier_ids": [e.supplier_id for e in shortlist.entries],
                    "generated_at": shortlist.generated_at.isoformat(),
                    "shortlist": shortlist.model_dump(mode="json"),
                },
                # No refresh: ``get`` and ``latest`` read by id (real-time); ``with_supplier`` refreshes first.
            )

    def with_supplier(self, supplier_id: str, limit: int) -> list[Shortlist]:
        with _guard():
            # Profile changes and deletions only (off the per-notice path): see the shortlists stored a moment ago.
            self._es.indices.refresh(index=self._index)
            hits = self._es.search(
                index=self._index,
                query={"term": {"supplier_ids": supplier_id}},
                size=limit,
                source_includes=["shortlist"],
            )["hits"]["hits"]
        return [Shortlist.model_validate(h["_source"]["shortlist"]) for h in hits]


class ElasticKeyStore:
    def __init__(self, es: Elasticsearch, names: IndexNames) -> None:
        self._es = es
        self._index = names.keys

    def put(self, key: ApiKey) -> None:
        with _guard():
            # Unset optional fields are left out: a key that never expires reads the same to an older matcher.
            document = key.model_dump(mode="json", exclude_none=True)
            self._es.index(index=self._index, id=key.key_hash, document=document, refresh=True)

    def find(self, key_hash: str) -> ApiKey | None:
        # A real-time GET by id: a revocation written a moment ago is seen by the very next request.
        with _guard():
            try:
                hit = self._es.get(index=self._index, id=key_hash)
            except NotFoundError:
                return None
        return ApiKey.model_validate(hit["_source"])

    def all(self) -> list[ApiKey]:
        with _guard():
            self._es.indices.refresh(index=self._index)  # operators' listing: show the last uses written meanwhile
            hits = list(helpers.scan(self._es, index=self._index, query={"query": {"match_all": {}}}))
        return [ApiKey.model_validate(h["_source"]) for h in hits]

    def with_prefix(self, prefix: str, limit: int) -> list[ApiKey]:
        with _guard():
            hits = self._es.search(
                index=self._index, query={"prefix": {"key_hash": prefix}}, size=limit, sort=[{"key_hash": "asc"}]
            )["hits"]["hits"]
        return [ApiKey.model_validate(h["_source"]) for h in hits]

    def revoke(self, key_hash: str, at: datetime, reason: str) -> None:
        with _guard():
            try:
                self._es.update(
                    index=self._index,
                    id=key_hash,
                    doc={"revoked_at": at.isoformat(), "revoked_reason": reason},
                    retry_on_conflict=5,  # a last use written meanwhile must not fail the revocation
                    refresh=True,
                )
            except NotFoundError as exc:
                raise NotFound(f"no API key {key_hash[:KEY_ID_LENGTH]}") from exc

    def record_use(self, key_hash: str, at: datetime) -> None:
        # No refresh: ``find`` reads by id (real-time); ``all`` refreshes before it lists. A conflict means another
        # process recorded a use of the same key at that moment: that one is as good.
        with _guard(), contextlib.suppress(NotFoundError, ConflictError):
            self._es.update(index=self._index, id=key_hash, doc={"last_used_at": at.isoformat()})


# -- buyers' marks (``<prefix>-feedback``) -----------------------------------------------------------------------------

#: One document per agency, notice and supplier (id ``feedback_id``); the mark itself, unindexed, under ``feedback``.
FEEDBACK_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "notice_id": {"type": "keyword"},
        "supplier_id": {"type": "keyword"},
        "agency": {"type": "keyword"},
        "mark": {"type": "keyword"},
        "marked_at": {"type": "date"},
        #: A supplier's own mark (absent in documents written before suppliers' marks were stored: a buyer's).
        "by_supplier": {"type": "boolean"},
        "feedback": {"type": "object", "enabled": False},
    },
}


def feedback_index(names: IndexNames) -> str:
    return f"{names.prefix}-feedback"


def ensure_feedback_index(es: Elasticsearch, names: IndexNames) -> None:
    """Create the marks' index when missing (an existing one gets fields added since, in place)."""
    index = feedback_index(names)
    with _guard():
        if es.indices.exists(index=index):
            es.indices.put_mapping(index=index, properties=FEEDBACK_MAPPING["properties"])
            return
    _create_index(es, index, FEEDBACK_MAPPING)


class ElasticFeedbackStore:
    def __init__(self, es: Elasticsearch, names: IndexNames) -> None:
        self._es = es
        self._index = feedback_index(names)

    def put(self, mark: ShortlistFeedback) -> None:
        with _guard():
            self._es.index(
                index=self._index,
                id=mark.feedback_id,
                document={
                    "notice_id": mark.notice_id,
                    "supplier_id": mark.supplier_id,
                    "agency": mark.agency,
                    "mark": mark.mark.value,
                    "marked_at": mark.marked_at.isoformat(),
                    "by_supplier": mark.by_supplier,
                    "feedback": mark.model_dump(mode="json"),
                },
                # A buyer's click, then the page that shows it: searched at once (marks are few, a refresh is cheap).
                refresh=True,
            )

    def _search(
        self, filters: list[dict[str, Any]], limit: int, *, by_supplier: bool = False
    ) -> list[ShortlistFeedback]:
        # Buyers' marks are those not ``by_supplier`` (documents written before suppliers' marks lack the field).
        own = {"term": {"by_supplier": True}}
        query = {"filter": [*filters, own]} if by_supplier else {"filter": filters, "must_not": [own]}
        with _guard():
            hits = self._es.search(
                index=self._index,
                query={"bool": query},
                sort=[{"marked_at": {"order": "desc"}}],
                size=limit,
                source_includes=["feedback"],
            )["hits"]["hits"]
        return [ShortlistFeedback.model_validate(h["_source"]["feedback"]) for h in hits]

    def for_notice(self, notice_id: str, agency: str | None) -> list[ShortlistFeedback]:
        filters: list[dict[str, Any]] = [{"term": {"notice_id": notice_id}}]
        if agency is not None:
            filters.append({"term": {"agency": agency}})
        # A shortlist lists at most ``TB_MATCHER_TOP_K`` (<= 1,000) suppliers and their exclusions, per agency.
        return self._search(filters, 10_000)

    def for_agency(self, agency: str | None, limit: int) -> list[ShortlistFeedback]:
        return self._search([] if agency is None else [{"term": {"agency": agency}}], limit)

    def from_suppliers(self, limit: int, supplier_ids: Collection[str] | None = None) -> list[ShortlistFeedback]:
        whose = [] if supplier_ids is None else [{"terms": {"supplier_id": sorted(supplier_ids)}}]
        return self._search(whose, limit, by_supplier=True)


def ping(es: Elasticsearch) -> bool:
    try:
        return bool(es.ping())
    except (TransportError, ApiError):
        return False

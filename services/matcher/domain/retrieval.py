"""Candidate retrieval: which suppliers are worth scoring for a notice.

A candidate is a supplier sharing at least one code prefix clause or one text term with the notice, or (when the
notice has a vector) one of the ``config.retrieval_knn_k`` profiles nearest to it in meaning: the kNN channel, so
a supplier describing itself in Chinese is found for an English notice. The kNN hits not already matched by a code
or a term follow those, closest first. Candidates are
ordered by the sum of the boosts of the clauses they match (then by ``supplier_id``) and cut at ``limit``. The same
semantics run in process (``InMemoryProfileIndex``) and in Elasticsearch (``candidate_query_to_es``): every clause
is a constant-score ``term`` filter on a keyword field, scored exactly its boost, so the two
return the same set whenever fewer than ``limit`` suppliers match, and the same order up to ties beyond it.
"""

from __future__ import annotations

import bisect
import copyreg
import io
import marshal
import pickle
import sys
import threading
from array import array
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, NamedTuple, TypeVar, overload

import numpy as np
import numpy.typing as npt
import zstandard

from contracts.notice import TenderNotice
from contracts.supplier import SupplierProfile
from services.matcher.domain import codes, text
from services.matcher.domain.candidates import (
    Candidate,
    CompactCandidate,
    compact_candidate,
    compact_facts,
    flat_record,
    record_from_flat,
    with_fingerprint,
)
from services.matcher.domain.config import ScoringConfig
from services.matcher.domain.crosswalk import CROSSWALK_CREDIT
from services.matcher.domain.documents import agency_codes, code_prefixes, profile_text

# Kept importable from here, where they were first defined (scoring reads them from ``documents``: the packed
# index reads scoring's records, so scoring may not import this module).
from services.matcher.domain.documents import notice_tags as notice_tags
from services.matcher.domain.documents import notice_text as notice_text
from services.matcher.domain.scoring import SupplierStats
from services.matcher.domain.semantic import Vector, VectorIndex, knn_to_es
from services.matcher.domain.suggest import SuggestedCode

CODE_FIELD = "code_prefixes"
TEXT_FIELD = "text_terms"
AGENCY_FIELD = "agencies"
AGENCY_CODE_FIELD = "agency_codes"
#: The profile's vector (``semantic.semantic_text`` encoded), mapped with ``semantic.vector_mapping``.
VECTOR_FIELD = "semantic_vector"
#: Every level of the codes suggested from the description of a profile that states none (``codes.CodeHints``),
#: apart from ``code_prefixes`` (the supplier's own): retrieval reaches them at ``codes.SUGGESTED_CREDIT``.
SUGGESTED_FIELD = "suggested_prefixes"


def suggested_prefixes(suggested: Sequence[SuggestedCode]) -> list[str]:
    """Every level of the suggested codes, scheme-tagged and sorted (what ``SUGGESTED_FIELD`` holds)."""
    out: set[str] = set()
    for t in codes.suggested_tags(suggested):
        out.update(a for a, _ in codes.chain(t))
    return sorted(out)


@dataclass(frozen=True)
class CandidateQuery:
    """A pure description of retrieval: (tag, boost) clauses on ``code_prefixes``, (term, boost) clauses on
    ``text_terms`` (a candidate matches at least one of these), how many candidates to return, and (field, value,
    boost) ``buyer_terms`` on ``agencies`` / ``agency_codes`` that add to the score of a candidate already matched
    but never make one on their own (so the candidate set is decided by codes and text alone)."""

    code_terms: tuple[tuple[str, float], ...]
    text_terms: tuple[tuple[str, float], ...]
    limit: int
    buyer_terms: tuple[tuple[str, str, float], ...] = ()
    #: (tag, boost) clauses on ``suggested_prefixes``: the notice's codes against codes suggested for code-less
    #: profiles (a candidate matches on these as on ``code_terms``).
    suggested_terms: tuple[tuple[str, float], ...] = ()
    #: The notice's vector and how many nearest profiles the kNN channel adds (``None``: no kNN channel).
    knn: tuple[Vector, int] | None = dataclass_field(default=None, compare=False)


def _chain_boosts(tags: Sequence[str], config: ScoringConfig, credit: float, boosts: dict[str, float]) -> None:
    """Add to ``boosts`` each level of each tag a supplier code may share with it, at its level's boost x
    ``credit``."""
    for t in tags:
        # A supplier with a code under ``anc`` shares that level with the notice code (``codes.chain``).
        for anc, level in codes.chain(t):
            if level.depth == 1 and not config.retrieve_segment:
                continue
            if level.boost > 0:
                boosts[anc] = max(boosts.get(anc, 0.0), level.boost * credit)


def build_candidate_query(
    notice: TenderNotice, config: ScoringConfig, vector: Vector | None = None, hints: codes.CodeHints | None = None
) -> CandidateQuery:
    """With ``hints``: the notice's codes also reach the profiles' suggested codes, the codes suggested for a
    notice that states none reach the profiles' codes (both at ``codes.SUGGESTED_CREDIT``), and each notice code's
    crosswalk counterparts (``codes.cross_tags``, bounded) reach the profiles' codes of the other scheme at
    ``crosswalk.CROSSWALK_CREDIT`` x the pair's score."""
    own = notice_tags(notice)
    boosts: dict[str, float] = {}
    _chain_boosts(own, config, 1.0, boosts)
    suggested: dict[str, float] = {}
    if hints is not None:
        _chain_boosts(own, config, codes.SUGGESTED_CREDIT, suggested)
        if not own:
            _chain_boosts(list(codes.suggested_tags(hints.notice)), config, codes.SUGGESTED_CREDIT, boosts)
        for _, other, pair in codes.cross_tags(hints.crosswalk, own):
            # The counterpart itself (a supplier code under it holds it among its prefixes); its wider levels
            # would be a guess about a guess.
            boosts[other] = max(boosts.get(other, 0.0), codes.EXACT.boost * CROSSWALK_CREDIT * pair)
    words = text.distinct_terms(notice_text(notice))[: config.retrieval_max_terms]
    text_boost = config.retrieval_text_boost
    agency = text.normalize_phrase(notice.buyer.name)
    buyer: dict[tuple[str, str], float] = {}
    if agency and config.retrieval_buyer_boost > 0:
        buyer[(AGENCY_FIELD, agency)] = config.retrieval_buyer_boost
    if agency and config.retrieval_buyer_code_boost > 0:
        for t in notice_tags(notice):
            family = codes.family_tag(t)
            for anc in {t} if family is None else {t, family}:
                buyer[(AGENCY_CODE_FIELD, f"{agency}|{anc}")] = config.retrieval_buyer_code_boost
    return CandidateQuery(
        code_terms=tuple(sorted(boosts.items())),
        text_terms=tuple((w, text_boost) for w in words) if text_boost > 0 else (),
        limit=config.candidate_limit,
        buyer_terms=tuple((f, v, b) for (f, v), b in sorted(buyer.items())),
        suggested_terms=tuple(sorted(suggested.items())),
        knn=(vector, config.retrieval_knn_k) if vector is not None and config.retrieval_knn_k > 0 else None,
    )


def knn_query_to_es(query: CandidateQuery) -> dict[str, Any] | None:
    """The Elasticsearch search body of the kNN channel (``None`` without one): the nearest profiles' ids."""
    if query.knn is None:
        return None
    vector, k = query.knn
    return {
        "size": k,
        "knn": knn_to_es(VECTOR_FIELD, vector, k, num_candidates=max(100, 2 * k)),
        "_source": ["supplier_id"],
    }


#: A candidate as a channel names it: a supplier id, or a position in ``InMemoryProfileIndex``.
_Key = TypeVar("_Key", str, int)
#: What ``_Records.get`` gives for a supplier it does not hold.
_T = TypeVar("_T")


def union_candidates(matched: list[_Key], nearest: list[_Key]) -> list[_Key]:
    """The candidates of both channels: those matched by a code or a term in their order, then the kNN hits not
    among them, closest first (one rule for the in-memory index and Elasticsearch)."""
    seen = set(matched)
    return matched + [key for key in nearest if key not in seen]


def candidate_query_to_es(query: CandidateQuery) -> dict[str, Any]:
    """The Elasticsearch search body (``size``, ``query``, ``sort``) for a ``CandidateQuery`` over an index mapped
    with ``PROFILE_MAPPING``. Each clause is a ``constant_score`` over a ``term`` filter, so a match scores exactly
    its boost and a document's score is the sum of its matched clauses' boosts, as in process (a bare ``terms``
    query is also constant-score in Elasticsearch, but not every server honours its ``boost``)."""

    def clause(field: str, value: str, boost: float) -> dict[str, Any]:
        return {"constant_score": {"filter": {"term": {field: value}}, "boost": boost}}

    should = [clause(CODE_FIELD, t, b) for t, b in query.code_terms]
    should += [clause(SUGGESTED_FIELD, t, b) for t, b in query.suggested_terms]
    should += [clause(TEXT_FIELD, t, b) for t, b in query.text_terms]
    if not should:
        should = [{"match_none": {}}]
    matched: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
    if query.buyer_terms:
        extra = [clause(f, v, b) for f, v, b in query.buyer_terms]
        matched = {"bool": {"must": [matched], "should": extra}}
    return {
        "size": query.limit,
        "query": matched,
        "sort": [{"_score": "desc"}, {"supplier_id": "asc"}],
        "_source": ["supplier_id"],
        "track_total_hits": False,
    }


def _clause_terms(query: CandidateQuery) -> list[tuple[str, str, float]]:
    """The (field, key, boost) clauses that make a candidate (codes, terms, suggested codes), in the order their
    boosts are summed."""
    return [
        (field, key, boost)
        for field, clauses in (
            (CODE_FIELD, query.code_terms),
            (TEXT_FIELD, query.text_terms),
            (SUGGESTED_FIELD, query.suggested_terms),
        )
        for key, boost in clauses
    ]


IntArray = npt.NDArray[np.int64]
#: Between a field and a key in the index's posting-list names (no field or key holds it).
_SEP = "\x1f"
#: Decoded candidates ``InMemoryProfileIndex`` keeps by default (most recently returned first to stay): a notice's
#: candidates are often the same firms as the last notices' (same codes, same words). At a million profiles a notice
#: has ~350 candidates: 20,000 (~60 notices' worth) let 84% of them be decoded again (~290 a notice, ~35 us each with
#: the record); 100,000 (~300 notices' worth, ~3.8 KB each: ~0.4 GB) let ~60% be (207 a notice, `bench.match`), and
#: save ~5 ms a notice.
DECODED_CACHED = 100_000
#: From how many postings in a query's clause lists ``InMemoryProfileIndex`` prunes (fewer: summed whole, quicker):
#: measured with ``bench.match.retrieval`` over generated profiles, at 200,000 (~100,000-500,000 postings a notice)
#: pruning was no quicker, at 1,000,000 (~0.5-2.5 million) it was.
PRUNE_FROM = 400_000
#: Profiles whose packed bytes make the compression dictionary (``_Packer``): their common structure (field names,
#: the model's classes, countries, code schemes) is what one profile alone cannot compress away.
_DICTIONARY_SAMPLE = 64
#: The length of a packed compact candidate's head (its ``compact_facts``), before it and its record (``_Packer``).
_HEAD_BYTES = 4
#: How much of the sample's end makes the dictionary (Zstandard reads it all; 32 KB made payloads ~12% bigger).
_DICTIONARY_BYTES = 65_536
#: Zstandard's compression level (3: 339 bytes a compact candidate in 10 us, 6: 301 in 21 us, 9: 289 in 41 us).
_LEVEL = 6


def _posting(field: str, key: str) -> str:
    return f"{field}{_SEP}{key}"


def _reduce_counter(counter: Counter[Any]) -> tuple[Any, ...]:
    """A ``Counter`` pickled as a plain dict subclass (made with ``__new__``, its items set in C) instead of by its
    own ``__reduce__``, whose ``Counter(dict)`` runs ``Counter.update`` in Python with an ABC check: a scoring
    record holds five, and this took ~10 us off each ~65 us decode."""
    return (copyreg.__newobj__, (Counter,), None, None, iter(counter.items()))  # type: ignore[attr-defined]


#: How ``_Packer`` pickles: as ``pickle`` does, but ``Counter`` as ``_reduce_counter`` says.
_DISPATCH = {**copyreg.dispatch_table, Counter: _reduce_counter}


class _Compressor:
    """Small payloads compressed by Zstandard with a dictionary made of the first ones (their common structure,
    which one payload alone cannot compress away), as raw content, in magicless frames without checksum or
    dictionary id (the index reads only what it wrote). Measured on compact candidates of ~1.3 KB, against raw
    deflate with a 32 KB preset dictionary (which zlib sets up again for every payload): 2.4 against 5.0 us to
    decompress, 21 against 87 us to compress, 301 against 347 bytes. The first byte says which: 0 without the
    dictionary (before it exists), 1 with it. Zstandard's compressors and decompressors may not be shared between
    threads: each thread makes its own (``_codecs``)."""

    __slots__ = ("_dictionary", "_local", "_lock", "_sample")

    def __init__(self) -> None:
        self._dictionary: zstandard.ZstdCompressionDict | None = None
        self._sample: list[bytes] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def _codecs(self, dictionary: zstandard.ZstdCompressionDict | None) -> _Codecs:
        """This thread's compressor and decompressor for ``dictionary`` (``None``: without one)."""
        held: dict[int, _Codecs] | None = getattr(self._local, "codecs", None)
        if held is None:
            held = self._local.codecs = {}
        key = 0 if dictionary is None else 1
        found = held.get(key)
        if found is None:
            params = zstandard.ZstdCompressionParameters.from_level(
                _LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=0, write_dict_id=0
            )
            found = held[key] = _Codecs(
                zstandard.ZstdCompressor(compression_params=params, dict_data=dictionary),
                zstandard.ZstdDecompressor(dict_data=dictionary, format=zstandard.FORMAT_ZSTD1_MAGICLESS),
            )
        return found

    def compress(self, raw: bytes) -> bytes:
        dictionary = self._dictionary
        if dictionary is None:
            with self._lock:
                if self._dictionary is None:
                    self._sample.append(raw)
                    if len(self._sample) >= _DICTIONARY_SAMPLE:
                        made = zstandard.ZstdCompressionDict(
                            b"".join(self._sample)[-_DICTIONARY_BYTES:], dict_type=zstandard.DICT_TYPE_RAWCONTENT
                        )
                        made.precompute_compress(level=_LEVEL)
                        self._dictionary = made
                        self._sample = []
            return b"\x00" + self._codecs(None).compressor.compress(raw)
        return b"\x01" + self._codecs(dictionary).compressor.compress(raw)

    def decompress(self, packed: bytes) -> bytes:
        # A 1 is only written once the dictionary exists.
        dictionary = None if packed[0] == 0 else self._dictionary
        raw: bytes = self._codecs(dictionary).decompressor.decompress(memoryview(packed)[1:])
        return raw


class _Codecs(NamedTuple):
    """A thread's Zstandard compressor and decompressor with one dictionary (``_Compressor``)."""

    compressor: zstandard.ZstdCompressor
    decompressor: zstandard.ZstdDecompressor


class _RecordWithCandidate:
    """Put, in a packed profile's record, for the scoring record stored with it when that record is kept with its
    compact candidate instead (pickled by reference: the same class comes back)."""


class _Packer:
    """A profile as two payloads of a few hundred bytes each: its compact candidate and the scoring record stored
    with it (``candidates.compact_facts`` and ``flat_record``: plain values written by ``marshal``, the fastest
    decoder of the standard library, one after the other, the record decoded only when read: ``_Decoded``), for
    every candidate returned; and
    the whole profile with the codes suggested for it (and what was stored with it when it is not a scoring record
    laid out with the candidate), pickled (a trusted, validated model from this process, restored without validating
    again: pydantic's JSON validation costs ~0.5 ms a profile, unpickling ~0.05 ms), decoded only for ``get``,
    ``stored``, a profile's update and a candidate without a record. Each is compressed with its own preset
    dictionary (``_Compressor``; a generated profile is ~1.1 KB compressed without one, 0.3 KB with it; 4.8 KB as
    objects)."""

    __slots__ = ("_facts", "_records", "packed")

    def __init__(self, packed: bool) -> None:
        """``packed``: ``False`` keeps records as they are (no bytes, no decoding: the same objects come back)."""
        self._records = _Compressor()
        self._facts = _Compressor()
        self.packed = packed

    def pack(self, record: _Record) -> tuple[bytes | _Record, bytes | None]:
        """The packed profile and its packed compact candidate (``record`` itself and ``None`` unpacked)."""
        if not self.packed:
            return record, None
        profile, suggested, stored = record
        flat = flat_record(stored, profile) if isinstance(stored, SupplierStats) else None
        head = marshal.dumps(compact_facts(profile))
        tail = b"" if flat is None else marshal.dumps(flat)
        facts = self._facts.compress(len(head).to_bytes(_HEAD_BYTES, "little") + head + tail)
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = _DISPATCH
        pickler.dump((profile, suggested, stored) if flat is None else (profile, suggested, _RecordWithCandidate))
        return self._records.compress(buffer.getvalue()), facts

    def unpack(self, packed: bytes | _Record) -> _Record:
        """The profile's record (``_RecordWithCandidate`` for a scoring record kept with its compact candidate)."""
        if isinstance(packed, tuple):
            return packed
        # Bytes this process packed from a profile it was given, never bytes read from outside.
        record: _Record = pickle.loads(self._records.decompress(packed))
        return record

    def candidate(self, facts: bytes) -> _Decoded:
        """The compact candidate, its record left packed (``_Decoded.record``)."""
        # Bytes this process packed, never bytes read from outside.
        raw = self._facts.decompress(facts)
        end = _HEAD_BYTES + int.from_bytes(raw[:_HEAD_BYTES], "little")
        return _Decoded(compact_candidate(marshal.loads(memoryview(raw)[_HEAD_BYTES:end])), raw, end)


#: What the index packs per profile: the profile, the prefixes of the codes suggested for it (``SUGGESTED_FIELD``),
#: from which its posting names are computed again when it changes (``_names``) instead of keeping them, and what
#: the caller stores with it (``upsert(stored=...)``: the scoring statistics, as Elasticsearch keeps them).
_Record = tuple[SupplierProfile, tuple[str, ...], object]


def _names(profile: SupplierProfile, suggested: Sequence[str], _stored: object = None) -> tuple[str, ...]:
    """The interned names of the posting lists a profile is in (``"field\x1fkey"``, distinct, in field order)."""
    latin, cjk = profile_text(profile)
    keys = {
        CODE_FIELD: code_prefixes(profile),
        TEXT_FIELD: text.terms(latin + "\n" + cjk),
        AGENCY_FIELD: [text.normalize_phrase(a.agency) for a in profile.past_awards],
        AGENCY_CODE_FIELD: agency_codes(profile),
        SUGGESTED_FIELD: suggested,
    }
    return tuple(dict.fromkeys(sys.intern(_posting(field, k)) for field, ks in keys.items() for k in ks))


class _Decoded:
    """What the index's LRU keeps of a packed profile: its compact candidate; its scoring record, packed until read
    (``record``: ~35 us a record at a million profiles, and the hard rules exclude ~40% of a notice's candidates
    without reading it); and its whole profile with what was stored with it once something asked for them (``get``,
    ``stored``, a candidate without a record)."""

    __slots__ = ("_at", "_raw", "_record", "candidate", "whole")

    def __init__(self, candidate: CompactCandidate, raw: bytes, at: int) -> None:
        """``raw``: the candidate's packed payload, its record from ``at`` on (nothing there: none)."""
        self.candidate = candidate
        self._raw = raw
        self._at = at
        self._record: SupplierStats | None = None
        self.whole: tuple[SupplierProfile, object] | None = None

    @property
    def has_record(self) -> bool:
        return self._at < len(self._raw)

    @property
    def decoded_record(self) -> SupplierStats | None:
        """The record if ``record`` has decoded it already."""
        return self._record

    def record(self) -> SupplierStats | None:
        """The scoring record, decoded on the first call (``None``: none was laid out with the candidate). Two
        threads may both decode it: each gets an equal record, the last one is kept."""
        found = self._record
        if found is None and self.has_record:
            # Bytes this process packed, never bytes read from outside.
            found = self._record = record_from_flat(marshal.loads(memoryview(self._raw)[self._at :]))
        return found


class _Records(Mapping[str, SupplierStats]):
    """A query's candidates' scoring records by supplier id (``InMemoryProfileIndex.ranking_candidates``): a packed
    one is decoded when first read (``_Decoded.record``), counted in its index's ``record_decodes``."""

    __slots__ = ("_held", "_index")

    def __init__(self, held: dict[str, SupplierStats | _Decoded], index: InMemoryProfileIndex) -> None:
        self._held = held
        self._index = index

    def __getitem__(self, supplier_id: str) -> SupplierStats:
        return self._read(self._held[supplier_id])

    @overload
    def get(self, supplier_id: str, /) -> SupplierStats | None: ...

    @overload
    def get(self, supplier_id: str, /, default: SupplierStats | _T) -> SupplierStats | _T: ...

    def get(self, supplier_id: str, /, default: object = None) -> object:
        """``Mapping.get`` without its ``try``/``KeyError`` round (ranking reads every candidate's record so)."""
        held = self._held.get(supplier_id)
        return default if held is None else self._read(held)

    def _read(self, held: SupplierStats | _Decoded) -> SupplierStats:
        if not isinstance(held, _Decoded):
            return held
        found = held.decoded_record
        if found is None:
            found = held.record()
            assert found is not None  # held only with a record (``InMemoryProfileIndex.ranking_candidates``)
            self._index.record_decodes += 1
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)


class InMemoryProfileIndex:
    """The in-process implementation of retrieval (same semantics as ``candidate_query_to_es``).

    Kept compact, for a million profiles: each posting list is an ``array('i')`` of profile positions (4 bytes a
    profile, grown in place, read by numpy without a copy), named by one interned ``"field\x1fkey"`` string shared
    by every profile that has it. With ``packed`` (for a million profiles: the bench's largest sizes), profiles are
    held packed with the codes suggested for them (``_Packer``: ~0.35 KB instead of ~4.8 KB of objects) and decoded
    when returned, the last ``decoded_cached`` of them kept decoded (a bounded LRU): returned profiles are equal to
    those indexed, not the same objects. ``ranking_candidates`` then decodes, per candidate, only its compact
    candidate and scoring record (``candidates.CompactCandidate``), not the whole profile. A profile's posting names are
    not kept (0.4 KB a profile): when it changes or leaves, they are computed again from its packed record to unlink
    it, and removing it from a posting list is linear in the list's length (a profile update, not a query).
    """

    def __init__(
        self,
        vectors: VectorIndex | None = None,
        *,
        packed: bool = False,
        decoded_cached: int = DECODED_CACHED,
        prune_from: int = PRUNE_FROM,
    ) -> None:
        """``vectors``: the kNN channel's index, to choose its layout (else one is made on the first vector);
        ``packed``: hold profiles packed (else as given, returned as the same objects: decoding every candidate,
        and the garbage collector walking the decoded cache, cost a hundred times the ranking's time at 100k);
        ``decoded_cached``: how many decoded profiles to keep when packed (0: decode every time); ``prune_from``:
        from how many postings in a query's clause lists retrieval prunes (``_matched``; fewer: the plain sum)."""
        if decoded_cached < 0:
            raise ValueError(f"decoded_cached must be >= 0, got {decoded_cached}")
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._packed: list[bytes | _Record | None] = []
        #: Each packed profile's packed compact candidate (``None``: removed, or not packed).
        self._facts: list[bytes | None] = []
        self._live = 0
        self._packer = _Packer(packed)
        self._decoded: OrderedDict[int, _Decoded] = OrderedDict()
        self._decoded_cached = decoded_cached if packed else 0
        self._lock = threading.Lock()
        #: Held by a query over the posting lists (it reads them through numpy views, and an ``array`` cannot grow
        #: while viewed) and by a change of them: a profile written while another thread retrieves waits for it.
        self._postings_lock = threading.Lock()
        #: Payloads decoded so far for ``get`` / ``candidates`` / ``ranking_candidates`` (misses of the decoded LRU):
        #: compact candidates, and whole profiles when one is asked for.
        self.decodes = 0
        #: Of ``decodes``, the whole profiles.
        self.profile_decodes = 0
        #: Scoring records decoded when read from ``ranking_candidates``' records (not counted in ``decodes``).
        self.record_decodes = 0
        #: Sorted positions by ``"field\x1fkey"`` (sorted: ``_matched`` looks positions up in them by bisection).
        self._postings: dict[str, array[int]] = {}
        self._id_rank: npt.NDArray[np.int64] | None = None
        #: Per thread, arrays as long as the index for ``_matched`` (``_scratch_arrays``).
        self._scratch = threading.local()
        self._prune_from = prune_from
        #: How many times each posting list has changed (counted once the change is made).
        self._changes: Counter[str] = Counter()
        #: The long posting lists as bitmaps (one bit a position), made on a query's demand (``_bitmap``), with the
        #: count of changes of the list they were made from: a list changed since is made again.
        self._bitmaps: dict[str, tuple[int, npt.NDArray[np.uint8]]] = {}
        self._vectors = vectors

    def __len__(self) -> int:
        return self._live

    def _cached(self, pos: int) -> tuple[bytes | _Record | None, bytes | None, _Decoded | None]:
        """What is held at ``pos`` (the packed profile and compact candidate) and what of it is decoded (the LRU)."""
        with self._lock:
            found = self._decoded.get(pos)
            if found is not None:
                self._decoded.move_to_end(pos)
            return self._packed[pos], self._facts[pos], found

    def _decode(self, pos: int, packed: bytes, facts: bytes | None, decoded: _Decoded | None) -> _Decoded:
        """``decoded`` (the LRU's), else the compact candidate at ``pos`` decoded and kept in the LRU, unless the
        profile was replaced meanwhile."""
        if decoded is not None:
            return decoded
        assert facts is not None  # written with every packed profile
        decoded = self._packer.candidate(facts)
        self.decodes += 1
        self._keep([(pos, packed, decoded)])
        return decoded

    def _keep(self, fresh: Sequence[tuple[int, bytes, _Decoded]]) -> None:
        """Put candidates just decoded (at their position, from their packed profile) in the LRU, those whose
        profile was not replaced meanwhile, the least recently used leaving beyond its bound."""
        if not fresh or not self._decoded_cached:
            return
        with self._lock:
            for pos, packed, decoded in fresh:
                if self._packed[pos] is packed:
                    self._decoded[pos] = decoded
            while len(self._decoded) > self._decoded_cached:
                self._decoded.popitem(last=False)

    def _whole(self, packed: bytes, decoded: _Decoded) -> tuple[SupplierProfile, object]:
        """The whole profile and what was stored with it, decoded once while ``decoded`` is kept."""
        if decoded.whole is None:
            profile, _, stored = self._packer.unpack(packed)
            if stored is _RecordWithCandidate:
                record = decoded.record()
                assert record is not None  # laid out with the candidate (``_Packer.pack``)
                stored = with_fingerprint(record, profile)
            decoded.whole = (profile, stored)
            self.decodes += 1
            self.profile_decodes += 1
        return decoded.whole

    def _entry(self, pos: int) -> tuple[SupplierProfile, object] | None:
        """The profile at ``pos`` and what was stored with it (``None``: removed), decoded or from the LRU."""
        packed, facts, decoded = self._cached(pos)
        if packed is None:
            return None
        if isinstance(packed, tuple):
            return packed[0], packed[2]
        return self._whole(packed, self._decode(pos, packed, facts, decoded))

    @property
    def packed_bytes(self) -> int:
        """Bytes of the packed profiles and compact candidates (their ``bytes`` objects' payload; the decoded LRU not
        counted; 0 when not packed)."""
        return sum(len(b) for b in self._packed if isinstance(b, bytes)) + sum(len(b) for b in self._facts if b)

    def get(self, supplier_id: str) -> SupplierProfile | None:
        pos = self._pos.get(supplier_id)
        entry = None if pos is None else self._entry(pos)
        return None if entry is None else entry[0]

    def stored(self, supplier_id: str) -> object:
        """What was stored with the profile (``upsert(stored=...)``; ``None``: nothing, or no such profile): the same
        object for as long as the profile stays decoded, so a cache keyed by it keeps hitting. Packed, this decodes
        the whole profile (a scoring record's fingerprint is its profile's): ``ranking_candidates`` gives the
        records ranking reads without it."""
        pos = self._pos.get(supplier_id)
        entry = None if pos is None else self._entry(pos)
        return None if entry is None else entry[1]

    def __contains__(self, supplier_id: object) -> bool:
        pos = self._pos.get(supplier_id) if isinstance(supplier_id, str) else None
        return pos is not None and self._packed[pos] is not None

    def iter_profiles(self) -> Iterator[SupplierProfile]:
        """Every profile, decoded one at a time in the order first indexed (the LRU is left as it is)."""
        for packed in self._packed:
            if packed is not None:
                yield self._packer.unpack(packed)[0]

    def iter_candidates(self) -> Iterator[Candidate]:
        """Every candidate as ``ranking_candidates`` returns it without a record (its ``CompactCandidate``, or the
        profile itself when not packed), decoded one at a time in the order first indexed (the LRU left as it is)."""
        for packed, facts in zip(self._packed, self._facts, strict=True):
            if isinstance(packed, tuple):
                yield packed[0]
            elif facts is not None:
                yield self._packer.candidate(facts).candidate

    def profiles(self) -> list[SupplierProfile]:
        return list(self.iter_profiles())

    def _unlink(self, pos: int) -> None:
        """Take the profile at ``pos`` out of its posting lists (named again from its packed record)."""
        packed = self._packed[pos]
        if packed is None:
            return
        for name in _names(*self._packer.unpack(packed)):
            posting = self._postings[name]
            posting.remove(pos)
            if not posting:
                del self._postings[name]
            self._changes[name] += 1

    def _set(self, pos: int, packed: bytes | _Record | None, facts: bytes | None = None) -> None:
        with self._lock:
            self._live += (packed is not None) - (self._packed[pos] is not None)
            self._packed[pos] = packed
            self._facts[pos] = facts
            self._decoded.pop(pos, None)

    def upsert(
        self,
        profile: SupplierProfile,
        vector: Vector | None = None,
        suggested: Sequence[SuggestedCode] = (),
        *,
        stored: object = None,
    ) -> None:
        """Index a profile; with its ``vector`` (``semantic.semantic_text`` encoded), for the kNN channel too; with
        the codes ``suggested`` from its description, on ``SUGGESTED_FIELD``; ``stored``: kept packed with it and
        returned by ``stored`` (what a store writes with a profile: its ``scoring.SupplierStats``)."""
        if vector is not None:
            if self._vectors is None:
                self._vectors = VectorIndex(vector.shape[0])
            self._vectors.upsert(profile.supplier_id, vector)
        elif self._vectors is not None:
            self._vectors.remove(profile.supplier_id)
        record: _Record = (profile, tuple(suggested_prefixes(suggested)), stored)
        with self._postings_lock:
            pos = self._pos.get(profile.supplier_id)
            if pos is None:
                pos = len(self._ids)
                self._ids.append(profile.supplier_id)
                self._pos[profile.supplier_id] = pos
                self._packed.append(None)
                self._facts.append(None)
                self._id_rank = None
            else:
                self._unlink(pos)
            for name in _names(*record):
                posting = self._postings.get(name)
                if posting is None:
                    posting = self._postings[name] = array("i")
                if posting and posting[-1] > pos:
                    # A profile indexed again keeps its position: inserted in order, as its removal was linear too.
                    bisect.insort(posting, pos)
                else:
                    posting.append(pos)
                self._changes[name] += 1
        self._set(pos, *self._packer.pack(record))

    def remove(self, supplier_id: str) -> None:
        pos = self._pos.get(supplier_id)
        if pos is not None and self._packed[pos] is not None:
            with self._postings_lock:
                self._unlink(pos)
            self._set(pos, None)
        if self._vectors is not None:
            self._vectors.remove(supplier_id)

    def _view(self, field: str, key: str) -> npt.NDArray[np.int32]:
        """The posting list of ``key`` in ``field`` as a numpy view (empty: none). Held only while a query runs: an
        ``array`` cannot grow while viewed."""
        return self._named_view(_posting(field, key))

    def _named_view(self, name: str) -> npt.NDArray[np.int32]:
        """``_view`` of the posting list named ``name`` (``_posting``)."""
        posting = self._postings.get(name)
        return np.frombuffer(posting, dtype=np.int32) if posting else _NO_POSITIONS

    def _clauses(self, query: CandidateQuery) -> list[tuple[npt.NDArray[np.int32], float]]:
        """The postings and boosts of the clauses that make a candidate (codes, terms, suggested codes), in the
        order their boosts are summed."""
        return [(self._view(field, key), boost) for field, key, boost in _clause_terms(query)]

    def _list(self, field: str, key: str, boost: float, clause: bool) -> _List:
        """A clause's posting list for ``_matched``, with its bitmap when it is long (``_bitmap``)."""
        name = _posting(field, key)
        # Read before the list: a bitmap made from a list that changes meanwhile is marked with the older count.
        changes = self._changes[name]
        view = self._named_view(name)
        if not len(view):
            return _List(_NO_POSITIONS, boost, clause)
        return _List(view, boost, clause, self._bitmap(name, view, changes))

    def _bitmap(self, name: str, view: npt.NDArray[np.int32], changes: int) -> npt.NDArray[np.uint8] | None:
        """The posting list ``name`` (``view``, as it was after ``changes`` changes) as a bit per position of the
        index (``None``: shorter than ``_BITMAP_FROM`` of the index, it takes less room as positions): whether a
        profile is in it is then one read, however long it is. Made when first asked for, with room for a quarter
        more positions, and kept until the list changes or the index outgrows it."""
        n = len(self._ids)
        if len(view) < max(n // _BITMAP_FROM, _BITMAP_MIN):
            return None
        found = self._bitmaps.get(name)
        if found is not None and found[0] == changes and 8 * len(found[1]) >= n:
            return found[1]
        mask = np.zeros(n + n // 4 + 8, dtype=bool)
        mask[view] = True
        bits = np.packbits(mask, bitorder="little")
        self._bitmaps[name] = (changes, bits)
        return bits

    def _ranks(self) -> npt.NDArray[np.int64]:
        """Each position's rank by supplier id (ties of score are ordered by it)."""
        if self._id_rank is None:
            by_id = sorted(range(len(self._ids)), key=self._ids.__getitem__)
            rank = np.empty(len(self._ids), dtype=np.int64)
            rank[by_id] = np.arange(len(self._ids))
            self._id_rank = rank
        return self._id_rank

    def _scratch_arrays(
        self,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int32]]:
        """This thread's arrays of one entry per position for ``_matched``, grown with the index and left as found
        after each use: partial sums of clause and of buyer boosts (zeros), slots in the pool scored (-1). The sums
        are single precision: they only bound scores (``_MARGIN``), and half the bytes make the gathers and scatters
        over a million positions ~30% quicker (fewer cache misses)."""
        scratch = self._scratch
        if getattr(scratch, "scores", None) is None or len(scratch.scores) < len(self._ids):
            size = max(len(self._ids), 1024)
            scratch.scores = np.zeros(size, dtype=np.float32)
            scratch.bonus = np.zeros(size, dtype=np.float32)
            scratch.slots = np.full(size, -1, dtype=np.int32)
        return scratch.scores, scratch.bonus, scratch.slots

    def candidate_ids(self, query: CandidateQuery, *, exhaustive: bool = False) -> list[str]:
        """The candidates' supplier ids, in order (``candidates`` without decoding a profile). ``exhaustive``: sum
        every posting list whole (``matched_by_sum``), the plain method the pruned one is held equal to."""
        ids = self._ids
        return [ids[pos] for pos in self._candidate_positions(query, exhaustive=exhaustive)]

    def _candidate_positions(self, query: CandidateQuery, *, exhaustive: bool = False) -> list[int]:
        """``candidate_ids`` as positions (``union_candidates`` over positions: the same order)."""
        with self._postings_lock:
            matched = matched_by_sum(self, query) if exhaustive else self._matched(query)
        if query.knn is None or self._vectors is None:
            return matched
        vector, k = query.knn
        packed, where = self._packed, self._pos
        nearest = [
            pos
            for key, _ in self._vectors.nearest(vector, k)
            if (pos := where.get(key)) is not None and packed[pos] is not None
        ]
        return union_candidates(matched, nearest)

    def candidates(self, query: CandidateQuery) -> list[SupplierProfile]:
        """The candidates' whole profiles, in order (packed: each decoded whole; ``ranking_candidates`` does not)."""
        return [p for s in self.candidate_ids(query) if (p := self.get(s)) is not None]

    def ranking_candidates(self, query: CandidateQuery) -> tuple[list[Candidate], Mapping[str, SupplierStats]]:
        """The candidates as ``rank`` reads them, in order, and the scoring records stored with them by supplier id
        (``rank(stored=...)``): packed, each candidate's ``CompactCandidate``, decoded without the rest of its
        profile, its record decoded only when read from the mapping (screen first, ``ranking.screen``, and the
        candidates excluded are never decoded further); without a record laid out with it, its whole profile
        (``_Packer``). Unpacked, the profiles themselves with what was stored with them when it is a
        ``SupplierStats``."""
        positions = self._candidate_positions(query)
        # The LRU read for every candidate under one hold of the lock, and written under another.
        with self._lock:
            lru = self._decoded
            held = [(pos, self._packed[pos], self._facts[pos], lru.get(pos)) for pos in positions]
            for pos, _, _, decoded in held:
                if decoded is not None:
                    lru.move_to_end(pos)
        out: list[Candidate] = []
        records: dict[str, SupplierStats | _Decoded] = {}
        fresh: list[tuple[int, bytes, _Decoded]] = []
        ids = self._ids
        for pos, packed, facts, decoded in held:
            if packed is None:
                continue  # removed meanwhile
            if isinstance(packed, tuple):
                out.append(packed[0])
                if isinstance(packed[2], SupplierStats):
                    records[ids[pos]] = packed[2]
                continue
            if decoded is None:
                assert facts is not None  # written with every packed profile
                decoded = self._packer.candidate(facts)
                self.decodes += 1
                fresh.append((pos, packed, decoded))
            if decoded.has_record:
                out.append(decoded.candidate)
                records[ids[pos]] = decoded
                continue
            profile, stored = self._whole(packed, decoded)
            out.append(profile)
            if isinstance(stored, SupplierStats):
                records[ids[pos]] = stored
        self._keep(fresh)
        return out, _Records(records, self)

    def _matched(self, query: CandidateQuery) -> list[int]:
        """The positions of the candidates matched by a code or a term clause, in order: the same as
        ``matched_by_sum``, without summing every posting list whole (MaxScore, exact).

        The lists (code, term and buyer clauses) are taken whole, cheapest per unit of boost first, into partial
        sums until ``limit`` profiles already score more than every list not taken could give a profile not yet
        seen: scores only grow, so no such profile can reach the cut, not even as a tie. Then the lists not taken,
        largest boost first, are only searched for the profiles still in the running (a long list through its
        bitmap, ``_bitmap``), and a profile leaves the running once its partial sum with every list not yet
        searched stays under the ``limit``-th best lower bound (``_Pool.narrowed``). Those left are scored over
        every clause in the query's order (``_members``): each one's sum is
        the very same float as ``matched_by_sum``'s (the same boosts added in the same order), so the same
        candidates come back in the same order. The partial sums that only bound scores are single precision, and
        bounds are compared with a margin far above their rounding (``_MARGIN``)."""
        if not self._ids:
            return []
        clauses = [self._list(field, key, boost, True) for field, key, boost in _clause_terms(query)]
        buyer = [self._list(field, key, boost, False) for field, key, boost in query.buyer_terms]
        if (
            not all(entry.boost > 0 for entry in (*clauses, *buyer))
            or query.limit < 1
            or sum(len(entry.posting) for entry in clauses) < self._prune_from
        ):
            # The bounds need scores that only grow; and over short lists the plain sum is quicker.
            return matched_by_sum(self, query)
        scores, bonus, slots = self._scratch_arrays()
        lists = [entry for entry in (*clauses, *buyer) if len(entry.posting)]
        lists.sort(key=lambda entry: len(entry.posting) / entry.boost)
        lefts = _suffix_sums([entry.boost for entry in lists])
        taken, taken_sum, count = 0, 0.0, 0
        # The profiles reached by the clause lists taken (each once), in one buffer; the buyer lists' apart.
        seen = np.empty(sum(len(entry.posting) for entry in lists if entry.clause), dtype=np.int32)
        members: list[npt.NDArray[np.int32]] = [_NO_POSITIONS]
        try:
            for entry in lists:
                if (
                    count >= query.limit
                    and taken_sum > lefts[taken]
                    and np.count_nonzero(scores[seen[:count]] > lefts[taken] * (1 + _MARGIN)) >= query.limit
                ):
                    break
                taken += 1
                posting = entry.posting
                into = scores if entry.clause else bonus
                # One gather for both: who is new to these sums, and the sums to add to.
                sums = into[posting]
                new = posting[sums == 0]
                sums += entry.boost
                into[posting] = sums
                if entry.clause:
                    seen[count : count + len(new)] = new
                    count += len(new)
                    taken_sum += entry.boost
                else:
                    members.append(new)
            pool = _Pool.of(scores, bonus, seen[:count], np.concatenate(members)) if count else None
        finally:
            scores[seen[:count]] = 0
            for positions in members:
                bonus[positions] = 0
        if pool is None:
            return []
        positions = pool.narrowed(lists[taken:], query.limit, slots)
        slots[positions] = np.arange(len(positions), dtype=np.int32)
        try:
            total = np.zeros(len(positions), dtype=np.float64)
            for entry in clauses:
                total[_members(positions, entry, slots)] += entry.boost
            hits = np.flatnonzero(total > 0)
            total = total[hits]
            if buyer:
                extra = np.zeros(len(positions), dtype=np.float64)
                for entry in buyer:
                    extra[_members(positions, entry, slots)] += entry.boost
                total += extra[hits]
        finally:
            slots[positions] = -1
        return self._top(positions[hits], total, query.limit)

    def _top(self, hits: npt.NDArray[Any], scores: npt.NDArray[np.float64], limit: int) -> list[int]:
        """The ``limit`` best of ``hits`` (positions with their ``scores``), best first, ties by supplier id."""
        rank = self._ranks()
        if len(hits) > limit:
            # Cut by score first (cheap), keeping every tie at the cut, then order exactly.
            kth = np.partition(-scores, limit - 1)[limit - 1]
            keep = -scores <= kth
            hits, scores = hits[keep], scores[keep]
        order = np.lexsort((rank[hits], -scores))[:limit]
        packed = self._packed
        return [pos for pos in hits[order].tolist() if packed[pos] is not None]


#: An empty posting list.
_NO_POSITIONS: npt.NDArray[np.int32] = np.empty(0, dtype=np.int32)
#: How far apart (relative) a bound and a score must be for ``_matched`` to stop: its partial sums are single
#: precision, and a sum of a few hundred positive boosts in it is exact to ~2e-5 (each addition rounds by at most
#: 6e-8 of the sum so far), so this errs only towards summing more.
_MARGIN = 1e-4
#: From how many times the pool's length a posting list is bisected rather than read whole (``_members``).
_BISECT_FROM = 16
#: A posting list holding at least 1/this of the index's positions (and ``_BITMAP_MIN``) gets a bitmap, which is then
#: no bigger than the list.
_BITMAP_FROM = 32
_BITMAP_MIN = 4096


@dataclass(frozen=True, slots=True)
class _List:
    """A posting list of a query and its boost; ``clause``: a code or term clause (else a buyer clause, which adds
    only to profiles matched by a clause)."""

    posting: npt.NDArray[np.int32]
    boost: float
    clause: bool
    #: The posting as a bit per position (``InMemoryProfileIndex._bitmap``), when it is long.
    bitmap: npt.NDArray[np.uint8] | None = None


def _suffix_sums(boosts: Sequence[float]) -> list[float]:
    """What the lists from each one on could add to a profile (summed from the end: no drift by subtraction)."""
    out = [0.0] * (len(boosts) + 1)
    for i in range(len(boosts) - 1, -1, -1):
        out[i] = boosts[i] + out[i + 1]
    return out


@dataclass
class _Pool:
    """The profiles still in the running in ``_matched``, with their partial sums: of clause boosts
    (``clauses``) and of clause and buyer boosts together (``scores``)."""

    positions: npt.NDArray[np.int32]
    clauses: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    #: Whether every profile in the running is matched by a clause (else some are only in buyer lists so far).
    matched: bool

    @classmethod
    def of(
        cls,
        partial: npt.NDArray[np.float32],
        bonus: npt.NDArray[np.float32],
        seen: npt.NDArray[np.int32],
        members: npt.NDArray[np.int32],
    ) -> _Pool:
        """Those ``seen`` (their clause sums in ``partial``, by position) and the ``members`` of the buyer lists
        taken (their sums in ``bonus``; a member not seen may still be matched by a list not taken)."""
        clauses = partial[seen]
        scores = clauses + bonus[seen]
        outside = members[partial[members] == 0]
        if not len(outside):
            return cls(seen, clauses, scores, True)
        return cls(
            np.concatenate([seen, outside]),
            np.concatenate([clauses, np.zeros(len(outside), dtype=clauses.dtype)]),
            np.concatenate([scores, bonus[outside]]),
            False,
        )

    def narrowed(self, rest: Sequence[_List], limit: int, slots: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        """The positions (sorted) that can still make the first ``limit`` after adding the ``rest`` of the lists
        (those not taken whole), largest boost first, each searched only for the profiles still in the running, who
        leave the running once their partial sum plus what the lists not yet searched could add stays under the
        ``limit``-th best lower bound of a final score (a matched profile's partial sum): at least ``limit``
        profiles will score more. ``slots``: a scratch of -1 per position, left so."""
        # Largest boost first: what the lists left could add falls fastest.
        rest = sorted(rest, key=lambda entry: -entry.boost)
        lefts = _suffix_sums([entry.boost for entry in rest])
        cut = 0.0
        slots[self.positions] = np.arange(len(self.positions), dtype=np.int32)
        try:
            for i, left in enumerate(lefts):
                if i:
                    entry = rest[i - 1]
                    at = _members(self.positions, entry, slots)
                    if entry.clause:
                        self.clauses[at] += entry.boost
                    self.scores[at] += entry.boost
                if len(self.positions) <= limit:
                    continue
                lower = self.scores if self.matched else np.where(self.clauses > 0, self.scores, 0.0)
                cut = max(cut, _cut(lower, limit) * (1 - _MARGIN))
                if cut <= left:
                    continue
                # Out: a partial sum under ``cut - left`` (with the margin, on the side of keeping).
                keep = self.scores >= cut - left - (cut + left) * _MARGIN
                kept = int(np.count_nonzero(keep))
                if kept == len(keep):
                    continue
                slots[self.positions[~keep]] = -1
                self.positions, self.clauses, self.scores = self.positions[keep], self.clauses[keep], self.scores[keep]
                slots[self.positions] = np.arange(kept, dtype=np.int32)
        finally:
            slots[self.positions] = -1
        return np.sort(self.positions)


def _cut(values: npt.NDArray[np.floating[Any]], limit: int) -> float:
    """A value that at least ``limit`` of ``values`` reach, as high as cheaply found (0: fewer values): the
    ``2 * limit``-th largest of an even sample of them when at least ``limit`` reach it (one pass to count), else the
    ``limit``-th largest (a selection over them all)."""
    n = len(values)
    if n < limit:
        return 0.0
    step = n // (8 * limit)
    if step > 1:
        sample = values[::step]
        rank = max(1, 2 * limit // step)
        guess = float(np.partition(sample, len(sample) - rank)[len(sample) - rank])
        if np.count_nonzero(values >= guess) >= limit:
            return guess
    return float(np.partition(values, n - limit)[n - limit])


def _members(
    pool: npt.NDArray[np.int32], entry: _List, slots: npt.NDArray[np.int32] | None = None
) -> npt.NDArray[np.intp]:
    """The indexes in ``pool`` (distinct positions; sorted unless ``slots`` are given) of those in ``entry``'s
    posting (sorted, distinct): read from its bitmap when the posting is longer than the pool, from ``slots`` (each
    pool position's index, -1 elsewhere) over a posting not much longer than the pool, else by bisection of the
    shorter in the longer."""
    posting = entry.posting
    if not len(posting) or not len(pool):
        return np.empty(0, dtype=np.intp)
    if entry.bitmap is not None and len(pool) < len(posting):
        return np.flatnonzero((entry.bitmap[pool >> 3] >> (pool & 7).astype(np.uint8)) & 1)
    if slots is not None and len(posting) <= _BISECT_FROM * len(pool):
        found = slots[posting]
        inside: npt.NDArray[np.intp] = found[found >= 0].astype(np.intp, copy=False)
        return inside
    if len(posting) <= len(pool):
        at = np.searchsorted(pool, posting)
        hit: npt.NDArray[np.intp] = at[pool[np.minimum(at, len(pool) - 1)] == posting]
        return hit
    at = np.searchsorted(posting, pool)
    return np.flatnonzero(posting[np.minimum(at, len(posting) - 1)] == pool)


def matched_by_sum(index: InMemoryProfileIndex, query: CandidateQuery) -> list[int]:
    """``InMemoryProfileIndex._matched`` the plain way: every clause's posting list summed whole into one score per
    profile of the index, the buyer clauses' boosts then added to the profiles matched. The reference the pruned
    method is held equal to (tests, ``bench.match.retrieval``)."""
    if not len(index._ids):
        return []
    scores = np.zeros(len(index._ids), dtype=np.float64)
    for posting, boost in index._clauses(query):
        scores[posting] += boost
    hits = np.flatnonzero(scores > 0)
    if query.buyer_terms and len(hits):
        # Summed apart first, then added once, and only where a buyer posting meets a match.
        buyer = [(index._view(field, key), boost) for field, key, boost in query.buyer_terms]
        touched = np.concatenate([posting for posting, _ in buyer])
        if len(touched):
            extra = np.zeros(len(index._ids), dtype=np.float64)
            for posting, boost in buyer:
                extra[posting] += boost
            touched = touched[scores[touched] > 0]
            scores[touched] += extra[touched]
    return index._top(hits, scores[hits], query.limit)

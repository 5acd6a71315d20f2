"""What ranking reads of a candidate supplier (``Candidate``), and the compact form a packed index keeps of it.

``rank`` and the hard rules read a few fields of a candidate: its id, display name and country, registration level,
maximum contract value and alert filters; its scoring record (``scoring.SupplierStats``) comes apart, by supplier id
(``rank(stored=...)``). A ``SupplierProfile`` has all of them, and so has a ``CompactCandidate``: what the packed
in-process index (``retrieval.InMemoryProfileIndex``) decodes per candidate instead of the whole profile (at a
million profiles almost every candidate of a notice is decoded: a whole pydantic profile and its record cost
~80 us, these ~15 us), and its record apart, decoded only for the candidates the hard rules keep (at a million
profiles they exclude ~40% of a notice's candidates). Every caller ranks through the same code whichever it holds.

The record travels as ``flat_record`` lays it out: plain tuples, dicts and ints that ``marshal`` reads in C, the
``Counter``s and dates made again around them (``record_from_flat``), the set of terms from their counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import date
from typing import Any, NamedTuple, Protocol

from contracts.common import RegistrationLevel
from contracts.supplier import SupplierProfile
from services.matcher.domain import codes
from services.matcher.domain.codes import CodeSet
from services.matcher.domain.scoring import SupplierStats, fingerprint


class Amount(Protocol):
    """A sum in a currency (``contracts.common.Money``, or ``Value``)."""

    @property
    def amount(self) -> float: ...

    @property
    def currency(self) -> str: ...


class Filters(Protocol):
    """What the ``preferences`` rule reads of a supplier's alert preferences (``AlertPreferences``)."""

    @property
    def unsubscribed(self) -> bool: ...

    @property
    def codes(self) -> Sequence[str]: ...

    @property
    def countries(self) -> Sequence[str]: ...

    @property
    def agencies(self) -> Sequence[str]: ...

    @property
    def min_value(self) -> Amount | None: ...


class Candidate(Protocol):
    """What ``rank`` and the hard rules read of a supplier: a ``SupplierProfile`` or a ``CompactCandidate``."""

    @property
    def supplier_id(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def country(self) -> str: ...

    @property
    def registration_level(self) -> RegistrationLevel: ...

    @property
    def max_contract_value(self) -> Amount | None: ...

    @property
    def preferences(self) -> Filters: ...


class Value(NamedTuple):
    """An ``Amount`` as a compact candidate holds it."""

    amount: float
    currency: str


class AlertFilters(NamedTuple):
    """The ``Filters`` of a compact candidate (``NO_FILTERS``: none, as most suppliers)."""

    codes: tuple[str, ...]
    countries: tuple[str, ...]
    agencies: tuple[str, ...]
    min_value: Value | None
    unsubscribed: bool


NO_FILTERS = AlertFilters((), (), (), None, False)


class CompactCandidate(NamedTuple):
    """A ``Candidate`` without the rest of its profile, and whether it is matched on codes suggested from its text
    (``codes.wants_suggestions`` of the profile). Its scoring record comes apart, decoded only when read
    (``InMemoryProfileIndex.ranking_candidates``): a candidate the hard rules exclude never needs it."""

    supplier_id: str
    display_name: str
    country: str
    registration_level: RegistrationLevel
    max_contract_value: Value | None
    preferences: AlertFilters
    wants_suggestions: bool


def without_record(candidates: Sequence[Candidate], stored: Mapping[str, SupplierStats]) -> list[SupplierProfile]:
    """The candidates that came without a scoring record in ``stored`` (by supplier id): their statistics are computed
    from their whole profiles. Raises ``ValueError`` for a compact candidate among them (it always comes with its
    record: ``InMemoryProfileIndex.ranking_candidates``)."""
    bare = [c for c in candidates if stored.get(c.supplier_id) is None]
    whole = [c for c in bare if isinstance(c, SupplierProfile)]
    if len(whole) < len(bare):
        compact = next(c for c in bare if not isinstance(c, SupplierProfile))
        raise ValueError(f"a compact candidate came without its scoring record: {compact.supplier_id}")
    return whole


def wants_suggestions(candidate: Candidate) -> bool:
    """``codes.wants_suggestions`` of the candidate's profile (computed when a compact candidate was packed)."""
    if isinstance(candidate, CompactCandidate):
        return candidate.wants_suggestions
    if isinstance(candidate, SupplierProfile):
        return codes.wants_suggestions(candidate)
    raise TypeError(f"not a supplier profile nor a compact candidate: {type(candidate).__name__}")


#: The fields of ``SupplierStats`` that ``flat_record`` lays out; a record with any other (a field added to the
#: statistics and not here, a per-ranking attachment set) is not laid out flat: its index keeps it whole instead.
_FLAT_FIELDS = frozenset(
    {
        "fingerprint",
        "n_awards",
        "codes",
        "tag_count",
        "tag_last",
        "agency_count",
        "agency_last",
        "agency_tag_count",
        "desc_count",
        "agency_desc_count",
        "last_award",
        "value_currency",
        "log_value_median",
        "wording_choices",
        "terms",
        "term_counts",
        "phrases",
        "vectors",
        "suggested",
        "suggested_codes",
        "tfidf_norm",
    }
)
#: Fields a stored record holds at their defaults (set per ranking or per model, never written with a profile).
_UNSET: dict[str, object] = {"vectors": None, "suggested": None, "suggested_codes": {}}
_STATS_FIELDS = frozenset(f.name for f in fields(SupplierStats))


def flat_record(stats: SupplierStats, profile: SupplierProfile) -> tuple[Any, ...] | None:
    """``stats`` (the record stored with ``profile``) as plain values ``marshal`` writes, without its fingerprint
    (``fingerprint(profile)`` gives it back); ``None`` when that would not give back an equal record: another
    fingerprint, per-ranking attachments, terms other than the counted ones, fields this layout does not know."""
    held = stats.__dict__
    if held.keys() != _FLAT_FIELDS or _STATS_FIELDS != _FLAT_FIELDS:
        return None
    if any(held[name] != unset for name, unset in _UNSET.items()) or stats.terms != stats.term_counts.keys():
        return None
    if stats.fingerprint != fingerprint(profile):
        return None
    day = date.toordinal
    return (
        stats.n_awards,
        stats.codes.own,
        stats.codes.every_level,
        stats.codes.parents,
        dict(stats.tag_count),
        {t: day(d) for t, d in stats.tag_last.items()},
        dict(stats.agency_count),
        {a: day(d) for a, d in stats.agency_last.items()},
        dict(stats.agency_tag_count),
        dict(stats.desc_count),
        dict(stats.agency_desc_count),
        None if stats.last_award is None else day(stats.last_award),
        stats.value_currency,
        stats.log_value_median,
        stats.wording_choices,
        stats.term_counts,
        stats.phrases,
    )


def _counter(counts: dict[Any, int]) -> Counter[Any]:
    """A ``Counter`` of ``counts`` filled in C (``Counter(counts)`` runs its ``update`` in Python)."""
    out: Counter[Any] = Counter.__new__(Counter)
    dict.update(out, counts)
    return out


def record_from_flat(flat: tuple[Any, ...]) -> SupplierStats:
    """The record ``flat_record`` laid out, with an empty fingerprint (the index vouches for its profile; ranking
    never reads it); built field by field, as ``pickle`` restores one, without running ``__init__``."""
    n_awards, own, every, parents, tags, tag_days, agencies, agency_days, agency_tags, descs, agency_descs = flat[:11]
    last, currency, median, wording, counts, phrases = flat[11:]
    code_set = object.__new__(CodeSet)
    code_set.__dict__.update(own=own, every_level=every, parents=parents)
    day = date.fromordinal
    stats: SupplierStats = object.__new__(SupplierStats)
    stats.__dict__ = {
        "fingerprint": (),
        "n_awards": n_awards,
        "codes": code_set,
        "tag_count": _counter(tags),
        "tag_last": {t: day(d) for t, d in tag_days.items()},
        "agency_count": _counter(agencies),
        "agency_last": {a: day(d) for a, d in agency_days.items()},
        "agency_tag_count": _counter(agency_tags),
        "desc_count": _counter(descs),
        "agency_desc_count": _counter(agency_descs),
        "last_award": None if last is None else day(last),
        "value_currency": currency,
        "log_value_median": median,
        "wording_choices": wording,
        "terms": frozenset(counts),
        "term_counts": counts,
        "phrases": phrases,
        "vectors": None,
        "suggested": None,
        "suggested_codes": {},
        "tfidf_norm": None,
    }
    return stats


def _value(amount: Amount | None) -> tuple[float, str] | None:
    return None if amount is None else (amount.amount, amount.currency)


def compact_facts(profile: SupplierProfile) -> tuple[Any, ...]:
    """What a ``CompactCandidate`` of ``profile`` holds, as plain values ``marshal`` writes."""
    prefs = profile.preferences
    filters = None
    if prefs.unsubscribed or prefs.codes or prefs.countries or prefs.agencies or prefs.min_value:
        filters = (
            tuple(prefs.codes),
            tuple(prefs.countries),
            tuple(prefs.agencies),
            _value(prefs.min_value),
            prefs.unsubscribed,
        )
    return (
        profile.supplier_id,
        profile.display_name,
        profile.country,
        profile.registration_level.value,
        _value(profile.max_contract_value),
        filters,
        codes.wants_suggestions(profile),
    )


_LEVELS = {level.value: level for level in RegistrationLevel}


def compact_candidate(facts: tuple[Any, ...]) -> CompactCandidate:
    """The ``CompactCandidate`` of ``compact_facts``."""
    supplier_id, name, country, level, ceiling, filters, wants = facts
    if filters is None:
        prefs = NO_FILTERS
    else:
        codes_, countries, agencies, minimum, unsubscribed = filters
        prefs = AlertFilters(codes_, countries, agencies, None if minimum is None else Value(*minimum), unsubscribed)
    return CompactCandidate(
        supplier_id,
        name,
        country,
        _LEVELS[level],
        None if ceiling is None else Value(*ceiling),
        prefs,
        wants,
    )


def with_fingerprint(record: SupplierStats, profile: SupplierProfile) -> SupplierStats:
    """A copy of a compact candidate's ``record`` with its profile's fingerprint: the record as it was stored."""
    copy: SupplierStats = object.__new__(SupplierStats)
    copy.__dict__ = record.__dict__ | {"fingerprint": fingerprint(profile)}
    return copy

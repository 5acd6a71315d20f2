"""Award records into the supplier base through the matcher's ports: the use case behind an ``import-awards``
command or an ``awards.records`` consumer.

The stored profiles a batch of records may join seed entity resolution (their names, the winner names of their
awards' evidence, identifiers, country and the award records already on them): a query of the store by the
batch's winners' keys (``ProfileStore.find_by_keys``, ``domain.awards.record_keys``), not a read of every profile.
Each record's winners are resolved, the profiles that gain an award (and the new prospects) are written through
``Matcher.import_profiles``: stored, published on the profiles topic, re-matched against the open notices, so
prospects appear on shortlists at once. Reading the same records again changes nothing (each award is attached
once, by its award id). A profile that would pass the size limit folds its oldest awards (``fit_awards``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from contracts.award import AwardRecord
from contracts.supplier import SupplierProfile
from services.matcher.domain.awards import (
    ClaimMatch,
    apply_awards,
    claimed,
    fit_awards,
    record_keys,
    seed,
    split_awards,
    unclaimed,
    without_awards,
)
from services.matcher.domain.awards import winners as winners_of
from services.matcher.domain.resolve import Decision, Resolver, ResolverConfig
from services.matcher.exceptions import AlreadyExists, InvalidInput, NotFound
from services.matcher.service import Matcher


@dataclass(frozen=True)
class AwardImportReport:
    #: Winners read (a consortium's members count one each).
    winners: int = 0
    #: New prospects among the profiles written.
    prospects: int = 0
    #: Profiles created or changed (stored, published, re-matched).
    stored: int = 0
    #: Award ids left out, with why.
    skipped: tuple[tuple[str, str], ...] = ()
    #: The decisions that attached an award to a profile that existed (the merge log of this import).
    merges: tuple[Decision, ...] = field(default=())
    #: Profiles the store refused (``ProfileLimits``: too big for the bus): supplier id and the reason. Such a
    #: profile is left as stored (or not stored) for the rest of the import; its later awards are ``skipped``
    #: (``profile_refused``).
    refused: tuple[tuple[str, str], ...] = ()
    #: Profiles that reached the size limit and folded their oldest awards to keep gaining new ones
    #: (``fit_awards``): supplier id, awards folded, awards dropped.
    folded: tuple[tuple[str, int, int], ...] = ()


def _line(before: SupplierProfile | None, after: SupplierProfile) -> SupplierProfile:
    """What is written for a profile that gained awards: a new profile whole; for a stored one only what awards
    change (its awards; a prospect's codes and identifiers too), so the import leaves everything else as it is
    (``merge_import`` replaces only the fields a line states)."""
    if before is None:
        return after
    fields: dict[str, object] = {
        "supplier_id": after.supplier_id,
        "names": after.names,
        "country": after.country,
        "past_awards": after.past_awards,
    }
    if after.is_prospect:
        fields.update(codes=after.codes, identifiers=after.identifiers)
    return SupplierProfile.model_validate(fields)


def import_awards(
    matcher: Matcher,
    records: Iterable[AwardRecord],
    *,
    config: ResolverConfig | None = None,
    batch: int = 500,
    rematch_unchanged: bool = False,
) -> AwardImportReport:
    """Attach each record's award to the profile of each winner (a new prospect when none fits) and write the
    profiles that changed, ``batch`` records at a time (memory holds the resolver's names and one batch of
    profiles, not every profile; each batch seeds it with the stored profiles its winners may join, found by a
    query of the store). ``rematch_unchanged``: re-match the open notices of the profiles the records
    name even where they gained nothing: a consumer retrying a batch that an outage cut short between storing a
    profile and re-matching it (the awards are on the profile already, so nothing else would re-match it)."""
    resolver = Resolver(config)
    existed: set[str] = set()
    winners = prospects = stored = 0
    skipped: list[tuple[str, str]] = []
    merges: list[Decision] = []
    refused: list[tuple[str, str]] = []
    folded: list[tuple[str, int, int]] = []
    for chunk in _chunks(records, batch):
        # Profiles seeded by an earlier batch stay as the resolver knows them (it holds this import's decisions).
        found = [p for p in matcher.profiles.find_by_keys(record_keys(chunk)) if p.supplier_id not in existed]
        seed(resolver, found)
        existed.update(p.supplier_id for p in found)
        known = {p.supplier_id: p for p in matcher.profiles.get_many(_entities_of(resolver, chunk))}
        result = apply_awards(chunk, known, resolver)
        for sid, profile in result.profiles.items():
            fitted = fit_awards(profile, matcher.limits.max_bytes, matcher.limits.size)
            if fitted.profile is not profile:
                result.profiles[sid] = fitted.profile
                folded.append((sid, fitted.folded, fitted.dropped))
        if rematch_unchanged:
            unchanged = dict.fromkeys(d.entity_id for d in result.decisions if d.entity_id not in result.profiles)
            matcher.reverse_match_many([known[i] for i in unchanged if i in known])
        # A profile the store refused (too big for the bus) is left as it is stored, or unstored, for the rest of
        # the import: a later batch would otherwise write it again with that batch's awards alone.
        too_big = {sid for sid, _ in refused}
        lines = [_line(known.get(sid), p) for sid, p in result.profiles.items() if sid not in too_big]
        skipped.extend((d.record_id, "profile_refused") for d in result.decisions if d.entity_id in too_big)
        counts = matcher.import_profiles(lines, batch=batch)
        stored += counts.stored
        refused.extend(counts.refused)
        existed.update(result.profiles)
        winners += len(result.decisions)
        prospects += sum(1 for sid, p in result.profiles.items() if sid not in known and p.is_prospect)
        skipped.extend(result.skipped)
        merges.extend(d for d in result.decisions if d.is_merge)
    return AwardImportReport(
        winners, prospects, stored, tuple(skipped), tuple(merges), tuple(refused), _last_fold(folded)
    )


def _last_fold(folded: list[tuple[str, int, int]]) -> tuple[tuple[str, int, int], ...]:
    """Each folded profile once, as its last batch left it."""
    return tuple({sid: (sid, n, gone) for sid, n, gone in folded}.values())


def _chunks(records: Iterable[AwardRecord], size: int) -> Iterator[list[AwardRecord]]:
    it = iter(records)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _entities_of(resolver: Resolver, chunk: Iterable[AwardRecord]) -> list[str]:
    """The profiles a batch of records may touch: those its winners resolve to (resolving is idempotent, so
    ``apply_awards`` gets the same decisions again); the store says which exist (an id the query did not bring is
    read too, so a new entity never replaces a stored profile of the same id)."""
    return list(dict.fromkeys(resolver.resolve(w).entity_id for record in chunk for w in winners_of(record)))


def split_supplier(
    matcher: Matcher, supplier_id: str, award_ids: Iterable[str], reason: str, new_id: str | None = None
) -> tuple[SupplierProfile, SupplierProfile]:
    """An operator's correction of a wrong merge: the awards ``award_ids`` leave ``supplier_id`` for a new prospect
    (``new_id``, default ``<supplier_id>-split``, ``-split2``...), their evidence saying ``operator`` and why. Both
    profiles are stored, published and re-matched; the next import of the same records leaves them where they are
    now (``seed``). Returns (the profile less those awards, the new prospect). ``NotFound`` for an unknown supplier,
    ``AlreadyExists`` for a ``new_id`` taken, ``InvalidInput`` for awards not on the profile."""
    profile = matcher.profiles.get(supplier_id)
    if profile is None:
        raise NotFound(f"no supplier {supplier_id!r}")
    if new_id is None:
        new_id, n = f"{supplier_id}-split", 1
        while matcher.profiles.get(new_id) is not None:
            n += 1
            new_id = f"{supplier_id}-split{n}"
    elif matcher.profiles.get(new_id) is not None:
        raise AlreadyExists(f"supplier {new_id!r} exists: name another id for the split")
    wanted = list(award_ids)
    try:
        moved = split_awards(profile, wanted, new_id, reason)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    kept = without_awards(profile, wanted)
    matcher.save_profile(moved, flush=False)
    matcher.save_profile(kept)
    return kept, moved


def claim_prospect(matcher: Matcher, prospect_id: str, supplier_id: str, reason: str) -> SupplierProfile:
    """An operator's explicit claim: the registered supplier ``supplier_id`` is the firm behind the prospect
    ``prospect_id``. It gains the prospect's awards (their evidence saying so, and why) and identifiers,
    ``claimed_at`` is set, and the prospect is deleted (a tombstone; the shortlists that listed it ranked again).
    Returns the claimant as stored. ``NotFound`` for an unknown id, ``InvalidInput`` when ``prospect_id`` is no
    prospect or ``supplier_id`` is one."""
    found = {p.supplier_id: p for p in matcher.profiles.get_many([prospect_id, supplier_id])}
    for wanted in (prospect_id, supplier_id):
        if wanted not in found:
            raise NotFound(f"no supplier {wanted!r}")
    prospect, claimant = found[prospect_id], found[supplier_id]
    if not prospect.is_prospect:
        raise InvalidInput(f"supplier {prospect_id!r} is not a prospect")
    if claimant.is_prospect:
        raise InvalidInput(f"supplier {supplier_id!r} is a prospect itself: only a registered profile claims")
    match = ClaimMatch(prospect_id, "operator", claimant.display_name, reason)
    saved, _ = matcher.save_profile(claimed(prospect, claimant, match, matcher.clock()))
    matcher.delete_profile(prospect_id)
    return saved


def unclaim_supplier(
    matcher: Matcher, supplier_id: str, prospect_id: str, reason: str
) -> tuple[SupplierProfile, SupplierProfile]:
    """An operator's reversal of a claim (automatic or explicit): the awards ``supplier_id`` claimed from
    ``prospect_id`` go back to that prospect, under its old id, with the identifiers only they carry. Both profiles
    are stored, published and re-matched. Returns (the supplier, the prospect). ``NotFound`` for an unknown
    supplier, ``AlreadyExists`` when ``prospect_id`` is taken again, ``InvalidInput`` when the supplier claimed
    nothing from it."""
    profile = matcher.profiles.get(supplier_id)
    if profile is None:
        raise NotFound(f"no supplier {supplier_id!r}")
    if matcher.profiles.get(prospect_id) is not None:
        raise AlreadyExists(f"supplier {prospect_id!r} exists: the claim cannot be undone under that id")
    try:
        kept, back = unclaimed(profile, prospect_id, reason)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    matcher.save_profile(back, flush=False)
    saved, _ = matcher.save_profile(kept)
    return saved, back

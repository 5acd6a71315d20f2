"""Award records into the supplier base through the matcher's ports: the use case behind an ``import-awards``
command or an ``awards.records`` consumer.

Every stored profile seeds entity resolution (its names, the winner names of its awards' evidence, identifiers,
country and the award records already on it); each record's winners are resolved, the profiles that gain an award
(and the new prospects) are written through ``Matcher.import_profiles``: stored, published on the profiles topic,
re-matched against the open notices, so prospects appear on shortlists at once. Reading the same records again
changes nothing (each award is attached once, by its award id).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from contracts.supplier import SupplierProfile
from services.matcher.domain.awards import AwardLike, apply_awards, seed
from services.matcher.domain.awards import winners as winners_of
from services.matcher.domain.resolve import Decision, Resolver, ResolverConfig
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
    matcher: Matcher, records: Iterable[AwardLike], *, config: ResolverConfig | None = None, batch: int = 500
) -> AwardImportReport:
    """Attach each record's award to the profile of each winner (a new prospect when none fits) and write the
    profiles that changed, ``batch`` records at a time (memory holds the resolver's names and one batch of
    profiles, not every profile)."""
    resolver = Resolver(config)
    seed(resolver, matcher.profiles.all())
    existed = set(resolver.entities)
    winners = prospects = stored = 0
    skipped: list[tuple[str, str]] = []
    merges: list[Decision] = []
    for chunk in _chunks(records, batch):
        known = {p.supplier_id: p for p in matcher.profiles.get_many(_entities_of(resolver, chunk, existed))}
        result = apply_awards(chunk, known, resolver)
        lines = [_line(known.get(sid), profile) for sid, profile in result.profiles.items()]
        stored += matcher.import_profiles(lines, batch=batch).stored
        existed.update(result.profiles)
        winners += len(result.decisions)
        prospects += sum(1 for sid, p in result.profiles.items() if sid not in known and p.is_prospect)
        skipped.extend(result.skipped)
        merges.extend(d for d in result.decisions if d.is_merge)
    return AwardImportReport(winners, prospects, stored, tuple(skipped), tuple(merges))


def _chunks(records: Iterable[AwardLike], size: int) -> Iterator[list[AwardLike]]:
    it = iter(records)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _entities_of(resolver: Resolver, chunk: Iterable[AwardLike], existed: set[str]) -> list[str]:
    """The stored profiles a batch of records may touch: those its winners resolve to (resolving is idempotent, so
    ``apply_awards`` gets the same decisions again)."""
    ids = (resolver.resolve(w).entity_id for record in chunk for w in winners_of(record))
    return [i for i in dict.fromkeys(ids) if i in existed]

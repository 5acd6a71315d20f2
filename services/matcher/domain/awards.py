"""Award records -> supplier profiles (pure): every award a ``PastAward`` with its evidence, on the profile entity
resolution (``resolve.py``) chose, or on a new *prospect*.

A prospect (``SupplierProfile.origin`` ``awards``) is a firm known only from public award records: the matcher ranks
it like any supplier and buyers see it marked as such, with the records it is known from; the notifier never emails
it (award records carry no consent to be contacted). It becomes a normal profile when the firm registers or claims
it (``claim``).

The records are ``contracts.award.AwardRecord`` (topic ``awards.records``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from contracts.award import AwardRecord
from contracts.common import Classification
from contracts.shortlist import ShortlistEntry
from contracts.supplier import AwardEvidence, PastAward, ProfileOrigin, SupplierProfile
from services.matcher.domain.resolve import (
    Decision,
    Identifier,
    Resolver,
    ResolverConfig,
    Winner,
    core_key,
    name_tokens,
    normalise_identifier,
    trading_name,
)

#: ``SupplierProfile.country`` of a prospect whose records name no country: ISO 3166-1's user-assigned "unknown".
UNKNOWN_COUNTRY = "ZZ"
_ISO_COUNTRY = re.compile(r"^[A-Z]{2}$")


def org_id(identifier: Identifier) -> str:
    """``SupplierProfile.identifiers``' spelling of an identifier (``AU-ABN:84636418838``)."""
    return f"{identifier.scheme}:{identifier.value}"


def parse_org_id(text: str) -> Identifier:
    scheme, _, value = text.rpartition(":")
    return normalise_identifier(scheme, value)


def winners(record: AwardRecord) -> list[Winner]:
    """One ``Winner`` per supplier of the record (a consortium's members each win the award); the record id is the
    award id, with ``#<n>`` for the n-th member of a consortium. Identifiers that normalise to nothing are left out."""
    out: list[Winner] = []
    for n, org in enumerate(record.suppliers, start=1):
        identifiers: list[Identifier] = []
        for given in org.identifiers:
            try:
                identifiers.append(normalise_identifier(given.scheme, given.id))
            except ValueError:
                continue
        country = org.country or (org.address.country if org.address is not None else None)
        record_id = record.award_id if len(record.suppliers) == 1 else f"{record.award_id}#{n}"
        out.append(Winner(record_id, org.name, tuple(dict.fromkeys(identifiers)), country))
    return out


def seed(resolver: Resolver, profiles: Iterable[SupplierProfile]) -> None:
    """Make stored profiles entities awards can join: their names and the winner names of their awards' evidence,
    identifiers, country, and the award records already attached to them (read again, such a record stays where it
    is: an operator's split holds)."""
    for profile in profiles:
        identifiers = []
        for text in profile.identifiers:
            try:
                identifiers.append(parse_org_id(text))
            except ValueError:
                continue
        country = None if profile.country == UNKNOWN_COUNTRY else profile.country
        evidence = [a.source for a in profile.past_awards if a.source is not None]
        names = [*profile.names.values(), *(e.winner_name for e in evidence)]
        resolver.seed(profile.supplier_id, names, identifiers, country, [e.award_id for e in evidence])


# --- what a store finds profiles by, for resolution and claims ------------------------------------------------------

#: The resolver configuration the stored keys are computed with (``resolution_keys``): a resolver with other blocks
#: or generic words meets, through the store, the candidates of this one.
STORED_KEYS_CONFIG = ResolverConfig()


def _name_keys(name: str, config: ResolverConfig) -> list[str]:
    """A name's keys as the resolver compares it: ``name:`` its name key, ``core:`` without generic words,
    ``block:`` the first characters the fuzzy rule compares within (none for a name of punctuation only)."""
    tokens = name_tokens(name)
    key = "".join(tokens)
    if not key:
        return []
    return [f"name:{key}", f"core:{core_key(tokens, config.generic_words)}", f"block:{key[: config.block_chars]}"]


def resolution_keys(profile: SupplierProfile) -> list[str]:
    """The keyword terms a stored profile is found by when records or a registration are resolved: ``id:`` each
    official identifier (``SupplierProfile.identifiers``' spelling), the ``name:`` / ``core:`` / ``block:`` keys of
    each name and of each winner name of its awards' evidence (the names ``seed`` gives the resolver), and
    ``award:`` each award record on it. A resolver seeded with the profiles sharing a term with a winner's
    (``winner_keys``) decides as one seeded with every profile: no rule compares names outside these keys."""
    out: dict[str, None] = {}
    for identifier in _identifiers_of(profile):
        out[f"id:{org_id(identifier)}"] = None
    evidence = [a.source for a in profile.past_awards if a.source is not None]
    for name in [*profile.names.values(), *(e.winner_name for e in evidence)]:
        out.update(dict.fromkeys(_name_keys(name, STORED_KEYS_CONFIG)))
    out.update(dict.fromkeys(f"award:{e.award_id}" for e in evidence))
    return list(out)


def winner_keys(found: Iterable[Winner], *, by_name: bool = True) -> list[str]:
    """The terms of ``resolution_keys`` that the profiles ``found``'s winners may join share with them: their
    identifiers, their records, and (``by_name``) the keys of their names and trading names."""
    out: dict[str, None] = {}
    for winner in found:
        out.update(dict.fromkeys(f"id:{org_id(i)}" for i in winner.identifiers))
        out[f"award:{winner.record_id.partition('#')[0]}"] = None
        if by_name:
            trading = trading_name(winner.name)
            for name in (winner.name, trading) if trading else (winner.name,):
                out.update(dict.fromkeys(_name_keys(name, STORED_KEYS_CONFIG)))
    return list(out)


def record_keys(records: Iterable[AwardRecord]) -> list[str]:
    """``winner_keys`` of every winner of ``records``."""
    return winner_keys(w for record in records for w in winners(record))


def claim_keys(registered: SupplierProfile, *, by_name: bool) -> list[str]:
    """The terms of the prospects ``find_claims`` may find for a registering firm: its identifiers, and
    (``by_name``) the keys of its names (each resolved as a winner, trading names too)."""
    identifiers = _identifiers_of(registered)
    out = dict.fromkeys(f"id:{org_id(i)}" for i in identifiers)
    if by_name:
        found = [Winner("registration", n, identifiers, registered.country) for n in registered.names.values()]
        out.update(dict.fromkeys(k for k in winner_keys(found) if not k.startswith("award:")))
    return list(out)


# --- awards -----------------------------------------------------------------------------------------------------------


def _award_date(record: AwardRecord) -> date | None:
    if record.awarded_on is not None:
        return record.awarded_on
    if record.contract_signed_on is not None:
        return record.contract_signed_on
    return record.received_at.date() if record.received_at is not None else None


def _language_of(name: str) -> str:
    """The language tag a prospect's name is filed under: ``zh-Hans`` for a name in Chinese characters, else
    ``en`` (the tag names in Latin script are filed under across tenderbridge)."""
    return "zh-Hans" if any(unicodedata.name(c, "").startswith("CJK UNIFIED") for c in name) else "en"


def past_award(record: AwardRecord, winner: Winner, decision: Decision) -> PastAward | None:
    """The ``PastAward`` a record gives its winner, with its evidence; None when the record has no date at all."""
    when = _award_date(record)
    if when is None:
        return None
    tender = record.tender
    description = tender.title or record.lot_title or tender.description or ""
    evidence = AwardEvidence(
        source=record.source,
        award_id=record.award_id,
        url=record.source_url,
        winner_name=winner.name,
        winner_identifiers=[org_id(i) for i in winner.identifiers],
        matched_by=decision.rule,
        match_score=decision.score,
        explanation=decision.explain(),
    )
    return PastAward(
        agency=record.buyer.name if record.buyer is not None else record.source,
        description=description,
        classification=tender.classifications[0] if tender.classifications else None,
        date=when,
        value=record.value,
        source=evidence,
    )


def prospect(entity_id: str, winner: Winner) -> SupplierProfile:
    """A new profile known only from this winner's award (its country ``UNKNOWN_COUNTRY`` when the record gives
    none, or none in ISO 3166-1 alpha-2)."""
    return SupplierProfile(
        supplier_id=entity_id,
        names={_language_of(winner.name): winner.name},
        country=country if _ISO_COUNTRY.match(country := (winner.country or "").upper()) else UNKNOWN_COUNTRY,
        origin=ProfileOrigin.AWARDS,
        identifiers=[org_id(i) for i in winner.identifiers],
    )


def codes_won(awards: Iterable[PastAward]) -> list[Classification]:
    """A prospect's declared codes: the codes of its awards, most often won first."""
    won = Counter(a.classification for a in awards if a.classification is not None)
    return [code for code, _ in won.most_common()]


def _is_record(award: PastAward, award_id: str) -> bool:
    return award.source is not None and award.source.award_id == award_id


def with_award(profile: SupplierProfile, award: PastAward) -> SupplierProfile:
    """``profile`` with ``award`` among its past awards (once: an award record already there is not added again).
    A prospect's declared codes follow its awards (the codes it won, most often won first), as does the list of its
    identifiers; a registered profile's codes are what the firm or its agency declared, and stay."""
    source = award.source
    if source is not None and any(_is_record(a, source.award_id) for a in profile.past_awards):
        return profile
    awards = [*profile.past_awards, award]
    update: dict[str, object] = {"past_awards": awards}
    if profile.is_prospect:
        update["codes"] = codes_won(awards)
        if source is not None:
            update["identifiers"] = list(dict.fromkeys([*profile.identifiers, *source.winner_identifiers]))
    return profile.model_copy(update=update)


@dataclass
class AwardImport:
    """What ``apply_awards`` made of a batch of records."""

    #: Supplier id -> the profile as it should now be stored (new prospects, and profiles that gained awards).
    profiles: dict[str, SupplierProfile] = field(default_factory=dict)
    #: Every resolution decision, in record order (the merge log of this batch).
    decisions: list[Decision] = field(default_factory=list)
    #: Award ids left out, with why (``no_date``; ``cancelled``: withdrawn, its evidence removed where it was).
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def prospects(self) -> list[SupplierProfile]:
        return [p for p in self.profiles.values() if p.is_prospect]


def apply_awards(
    records: Iterable[AwardRecord], stored: Mapping[str, SupplierProfile], resolver: Resolver
) -> AwardImport:
    """Resolve each record's winners (``resolver``, seeded with ``stored``) and attach a ``PastAward`` per award to
    the profile chosen, creating prospects for new entities. ``stored``: the profiles as stored now, by id."""
    out = AwardImport()
    for record in records:
        for winner in winners(record):
            decision = resolver.resolve(winner)
            out.decisions.append(decision)
            if record.status == "cancelled":
                # The publisher withdrew the award: the evidence taken from its earlier versions goes.
                held = out.profiles.get(decision.entity_id) or stored.get(decision.entity_id)
                if held is not None and any(_is_record(a, record.award_id) for a in held.past_awards):
                    out.profiles[decision.entity_id] = without_awards(held, [record.award_id])
                out.skipped.append((record.award_id, "cancelled"))
                continue
            award = past_award(record, winner, decision)
            if award is None:
                out.skipped.append((record.award_id, "no_date"))
                continue
            entity_id = decision.entity_id
            profile = out.profiles.get(entity_id) or stored.get(entity_id) or prospect(entity_id, winner)
            changed = with_award(profile, award)
            if changed is not profile or entity_id not in stored:
                out.profiles[entity_id] = changed
    return out


def claim(prospect_profile: SupplierProfile, registered: SupplierProfile | None, at: datetime) -> SupplierProfile:
    """A prospect claimed by its firm becomes a normal profile. ``registered``: the profile the firm registered
    (another id), which keeps everything it states and gains the prospect's awards and identifiers (the caller
    deletes the prospect); None: the firm claims the prospect itself, which keeps its id. ``claimed_at`` is set."""
    if not prospect_profile.is_prospect:
        raise ValueError(f"supplier {prospect_profile.supplier_id!r} is not a prospect")
    if registered is None:
        return prospect_profile.model_copy(update={"origin": ProfileOrigin.REGISTERED, "claimed_at": at})
    merged = registered
    for award in prospect_profile.past_awards:
        merged = with_award(merged, award)
    identifiers = list(dict.fromkeys([*registered.identifiers, *prospect_profile.identifiers]))
    return merged.model_copy(update={"identifiers": identifiers, "origin": ProfileOrigin.REGISTERED, "claimed_at": at})


def split_awards(profile: SupplierProfile, award_ids: Iterable[str], new_id: str, reason: str) -> SupplierProfile:
    """An operator's correction of a wrong merge: the awards ``award_ids`` (``AwardEvidence.award_id``) leave
    ``profile`` for a new prospect ``new_id``, named after the first of them, with their identifiers and
    ``profile``'s country; their evidence says ``operator`` and why. Returns the new prospect; the caller stores it
    and ``profile`` less those awards (``without_awards``). ``ValueError`` if an award is not on the profile."""
    wanted = list(dict.fromkeys(award_ids))
    by_id = {a.source.award_id: (a, a.source) for a in profile.past_awards if a.source is not None}
    missing = [a for a in wanted if a not in by_id]
    if not wanted or missing:
        raise ValueError(f"awards not on supplier {profile.supplier_id!r}: {missing or 'none given'}")
    first = by_id[wanted[0]][1]
    out = SupplierProfile(
        supplier_id=new_id,
        names={_language_of(first.winner_name): first.winner_name},
        country=profile.country,
        origin=ProfileOrigin.AWARDS,
    )
    note = f"split from {profile.supplier_id} by an operator: {reason}"
    for award, evidence in (by_id[a] for a in wanted):
        moved = evidence.model_copy(update={"matched_by": "operator", "explanation": note})
        out = with_award(out, award.model_copy(update={"source": moved}))
    return out


def without_awards(profile: SupplierProfile, award_ids: Iterable[str]) -> SupplierProfile:
    """``profile`` less the awards ``award_ids`` (the other half of ``split_awards``); a prospect's codes follow."""
    gone = set(award_ids)
    kept = [a for a in profile.past_awards if a.source is None or a.source.award_id not in gone]
    update: dict[str, object] = {"past_awards": kept}
    if profile.is_prospect:
        update["codes"] = codes_won(kept)
    return profile.model_copy(update=update)


# --- a profile at the size limit keeps gaining awards --------------------------------------------------------------

#: Awards that keep their whole evidence when a profile must shrink to fit the size limit: the most recent.
FULL_EVIDENCE_AWARDS = 100
#: Characters of an operator's or a claim's explanation a folded award keeps (``claimed from <id>: ...``: what
#: ``claimed_from`` reads back for an operator's ``unclaim``).
FOLDED_EXPLANATION_CHARS = 200


@dataclass(frozen=True)
class Fitted:
    """What ``fit_awards`` did: the profile, the awards folded (evidence, then descriptions, shortened) and the
    oldest awards dropped."""

    profile: SupplierProfile
    folded: int = 0
    dropped: int = 0


def _folded_award(award: PastAward, *, describe: bool) -> PastAward:
    """An award as a folded profile keeps it: all that scoring reads (agency, code, date, value, and the description
    when ``describe``), and the evidence that keeps imports idempotent and merges reversible (source, award id,
    winner name, rule; an operator's or a claim's explanation, shortened); the record's URL, the winner's
    identifiers (the profile holds them), the score and the resolver's explanation go."""
    source = award.source
    update: dict[str, object] = {} if describe else {"description": ""}
    if source is not None:
        kept = source.explanation if source.matched_by in (CLAIM_RULE, "operator") else ""
        update["source"] = AwardEvidence(
            source=source.source,
            award_id=source.award_id,
            winner_name=source.winner_name,
            matched_by=source.matched_by,
            explanation=kept.partition("; was ")[0][:FOLDED_EXPLANATION_CHARS],
        )
    return award.model_copy(update=update)


def fit_awards(profile: SupplierProfile, max_bytes: int, size: Callable[[SupplierProfile], int]) -> Fitted:
    """``profile`` within ``max_bytes`` (``size``: a profile's bytes as stored) by folding its oldest awards instead
    of refusing the profile its new ones, in three steps, each only when the one before did not fit:

    1. the ``FULL_EVIDENCE_AWARDS`` most recent awards keep everything; the older ones are folded
       (``_folded_award``): every award still counts for scoring (its code, agency, date and value), and the
       same record read again is still known;
    2. the older awards lose their descriptions too (scoring's wording and text lose them; the counts stay);
    3. the oldest awards are dropped, as few as fit (read again, such a record is dropped again: nothing changes).

    A profile that fits, or that holds no more than ``FULL_EVIDENCE_AWARDS`` awards, is returned as it is."""
    if size(profile) <= max_bytes or len(profile.past_awards) <= FULL_EVIDENCE_AWARDS:
        return Fitted(profile)
    order = sorted(range(len(profile.past_awards)), key=lambda i: profile.past_awards[i].date, reverse=True)
    older = set(order[FULL_EVIDENCE_AWARDS:])
    for describe in (True, False):
        awards = [_folded_award(a, describe=describe) if i in older else a for i, a in enumerate(profile.past_awards)]
        folded = profile.model_copy(update={"past_awards": awards})
        if size(folded) <= max_bytes:
            return Fitted(folded, folded=len(older))
    # Drop the oldest: the fewest that fit, found by bisection over how many go (each try measures the profile).
    low, high = 1, len(older)
    best: SupplierProfile | None = None
    while low <= high:
        n = (low + high) // 2
        gone = set(order[len(order) - n :])
        candidate = folded.model_copy(update={"past_awards": [a for i, a in enumerate(awards) if i not in gone]})
        if size(candidate) <= max_bytes:
            best, high = candidate, n - 1
        else:
            low = n + 1
    if best is None:
        return Fitted(folded, folded=len(older))  # the recent awards alone are too big: the store refuses it
    dropped = len(profile.past_awards) - len(best.past_awards)
    if best.is_prospect:
        best = best.model_copy(update={"codes": codes_won(best.past_awards)})
    return Fitted(best, folded=len(older) - dropped, dropped=dropped)


def prospect_note(profile: SupplierProfile) -> str | None:
    """What a buyer reads beside a prospect on a shortlist (None for a registered profile): that it is one, and the
    award records it is known from ("prospect: known from 3 public award records (csv-austender), the latest of
    2024-04-02, https://...; not registered, not contacted")."""
    if not profile.is_prospect:
        return None
    evidence = [a for a in profile.past_awards if a.source is not None]
    if not evidence:
        return "prospect: known from public award records; not registered, not contacted"
    latest = max(evidence, key=lambda a: a.date)
    sources = sorted({a.source.source for a in evidence if a.source is not None})
    records = "record" if len(evidence) == 1 else "records"
    where = f", {latest.source.url}" if latest.source is not None and latest.source.url else ""
    return (
        f"prospect: known from {len(evidence)} public award {records} ({', '.join(sources)}), the latest of"
        f" {latest.date.isoformat()}{where}; not registered, not contacted"
    )


def mark_prospects(entries: Sequence[ShortlistEntry], profiles: Mapping[str, SupplierProfile]) -> list[ShortlistEntry]:
    """Shortlist entries with each prospect marked (``ShortlistEntry.prospect``) and its evidence
    (``prospect_note``), read from the ranked profiles by supplier id; other entries are returned as they are."""
    out = []
    for entry in entries:
        profile = profiles.get(entry.supplier_id)
        note = prospect_note(profile) if profile is not None else None
        out.append(entry if note is None else entry.model_copy(update={"prospect": True, "evidence": note}))
    return out


# --- claims: a registering firm takes over the prospect it is ------------------------------------------------------

#: The resolver's name rules (``resolve.py``), each passed only if its guard did not object.
NAME_RULES = frozenset({"name_exact", "name_core", "name_fuzzy"})
#: ``AwardEvidence.matched_by`` of an award a claim brought to its claimant; the explanation begins with
#: ``claimed from <prospect id>`` (``claimed_from`` reads it back for an operator's ``unclaim``).
CLAIM_RULE = "claim"
_CLAIMED_FROM = re.compile(r"^claimed from (\S+?):")


@dataclass(frozen=True)
class ClaimMatch:
    """Why a registering firm is the firm behind a prospect: the resolver's ``rule`` (``identifier``, a name rule,
    or ``operator`` for an explicit claim), the claimant's name, and what it matched on the prospect."""

    prospect_id: str
    rule: str
    name: str
    matched: str
    score: float = 100.0

    def explain(self, claimant_id: str) -> str:
        if self.rule == "identifier":
            why = f"same identifier {self.matched}"
        elif self.rule == "operator":
            why = f"an operator's claim: {self.matched}"
        else:
            why = f"{self.rule}: {self.name!r} ~ {self.matched!r} ({self.score:.0f}% alike)"
        return f"claimed from {self.prospect_id}: {claimant_id} {self.name!r} is that firm ({why})"


def _identifiers_of(profile: SupplierProfile) -> tuple[Identifier, ...]:
    out: list[Identifier] = []
    for text in profile.identifiers:
        try:
            out.append(parse_org_id(text))
        except ValueError:
            continue
    return tuple(dict.fromkeys(out))


def find_claims(
    registered: SupplierProfile,
    prospects: Iterable[SupplierProfile],
    *,
    by_name: bool,
    config: ResolverConfig | None = None,
) -> list[ClaimMatch]:
    """The prospects a registering firm is the firm behind, by entity resolution over the prospects alone: its
    official identifiers first, then (``by_name``) the resolver's name rules with their guard, for each of its
    names. The country must agree: an identifier claims a prospect of the firm's country or of none known; a name
    claims only a prospect of the firm's country (two passes, so a prospect of unknown country never hides one of
    the firm's country behind the same name).

    ``by_name`` False (the public form, where anyone may type any firm's name): identifiers only."""
    country = registered.country.upper()
    others = [p for p in prospects if p.is_prospect and p.supplier_id != registered.supplier_id]
    found: dict[str, ClaimMatch] = {}
    if registered.identifiers:
        near = [p for p in others if p.country in (country, UNKNOWN_COUNTRY)]
        found.update(_claims_among(registered, near, frozenset({"identifier"}), config))
    if by_name:
        same = [p for p in others if p.country == country and p.supplier_id not in found]
        found.update(_claims_among(registered, same, NAME_RULES | {"identifier"}, config))
    return list(found.values())


def _claims_among(
    registered: SupplierProfile,
    candidates: Sequence[SupplierProfile],
    rules: frozenset[str],
    config: ResolverConfig | None,
) -> dict[str, ClaimMatch]:
    """Resolve each name of ``registered`` (with its identifiers) against ``candidates`` alone; the decisions of
    ``rules`` that chose one of them, by prospect id."""
    if not candidates:
        return {}
    resolver = Resolver(config)
    seed(resolver, candidates)
    identifiers = _identifiers_of(registered)
    ids = {p.supplier_id for p in candidates}
    found: dict[str, ClaimMatch] = {}
    for n, name in enumerate(dict.fromkeys(registered.names.values())):
        winner = Winner(f"registration:{registered.supplier_id}#{n}", name, identifiers, registered.country)
        decision = resolver.resolve(winner)
        target = decision.entity_id
        # A name the resolver joined to none of them founds an entity of its own (rule ``new``): not a claim.
        if decision.rule not in rules or target not in ids or target in found:
            continue
        if decision.rule == "identifier":
            found[target] = ClaimMatch(target, "identifier", name, str(decision.matched_identifier))
        else:
            matched = decision.matched_name or name
            found[target] = ClaimMatch(target, decision.rule, name, matched, decision.score)
    return found


def claimed(
    prospect_profile: SupplierProfile, claimant: SupplierProfile, match: ClaimMatch, at: datetime
) -> SupplierProfile:
    """``claim`` with its explanation: the claimant gains the prospect's awards, each award's evidence saying it
    was claimed, from which prospect and why (the rule and the names), before what it said (``was ...``)."""
    note = match.explain(claimant.supplier_id)
    awards = [
        a
        if a.source is None
        else a.model_copy(
            update={
                "source": a.source.model_copy(
                    update={
                        "matched_by": CLAIM_RULE,
                        "explanation": f"{note}; was {a.source.matched_by}: {a.source.explanation}",
                    }
                )
            }
        )
        for a in prospect_profile.past_awards
    ]
    return claim(prospect_profile.model_copy(update={"past_awards": awards}), claimant, at)


def claimed_from(profile: SupplierProfile) -> dict[str, list[str]]:
    """Prospect id -> the award ids a claim brought to ``profile`` from it (what ``unclaimed`` gives back)."""
    out: dict[str, list[str]] = {}
    for award in profile.past_awards:
        source = award.source
        if source is not None and source.matched_by == CLAIM_RULE:
            m = _CLAIMED_FROM.match(source.explanation)
            if m is not None:
                out.setdefault(m.group(1), []).append(source.award_id)
    return out


def unclaimed(profile: SupplierProfile, prospect_id: str, reason: str) -> tuple[SupplierProfile, SupplierProfile]:
    """An operator's reversal of a claim: the awards the claim brought from ``prospect_id`` leave ``profile`` for
    the prospect again (same id, ``split_awards``: their evidence says an operator moved them, and why), with the
    identifiers only those awards carry; ``claimed_at`` is cleared once no claimed award is left. Returns (the
    profile, the prospect). ``ValueError`` if no award of ``profile`` was claimed from ``prospect_id``."""
    award_ids = claimed_from(profile).get(prospect_id)
    if not award_ids:
        raise ValueError(f"supplier {profile.supplier_id!r} claimed nothing from {prospect_id!r}")
    back = split_awards(profile, award_ids, prospect_id, f"claim undone: {reason}")
    kept = without_awards(profile, award_ids)
    still = {i for a in kept.past_awards if a.source is not None for i in a.source.winner_identifiers}
    moved = {i for i in back.identifiers if i not in still}
    update: dict[str, object] = {"identifiers": [i for i in kept.identifiers if i not in moved]}
    if not claimed_from(kept):
        update["claimed_at"] = None
    return kept.model_copy(update=update), back

"""Ranking: hard rules, then every remaining candidate's components (``scoring.component_values``) weighted into
a total, the top ``config.top_k`` above ``config.threshold`` explained into a shortlist.

The total is ``sum(weight * score) / sum(weight)``; weights come from ``ScoringConfig.weights`` or, when given, a
fitted ``MatchModel`` (whose ``history_weights``, when set, weigh the candidates with award history: each entry
shows the weights its total was made with). Suppliers without award history that fit on codes, text or meaning
keep up to ``config.cold_start_slots`` places, so a ranking learned from history cannot bury them.

Meaning (the ``semantic`` component) counts only when ``rank`` is given the vectors (``semantic.SemanticInput``,
computed by the matcher service with its encoder): without them its weight is left out of the total, so a ranking
without an encoder is exactly the one before the component existed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from contracts.notice import TenderNotice
from contracts.shortlist import Exclusion, ScoreComponent, ShortlistEntry
from services.matcher.domain.candidates import Candidate, wants_suggestions, without_record
from services.matcher.domain.codes import CodeHints
from services.matcher.domain.config import COMPONENTS, ScoringConfig
from services.matcher.domain.feedback import Adjustment
from services.matcher.domain.model import MatchModel
from services.matcher.domain.reasons import NONE
from services.matcher.domain.rules import deadline_passed, first_failure, rules_for
from services.matcher.domain.scoring import (
    COMPONENT_LIST,
    NoticeView,
    Scored,
    SupplierStats,
    component_values,
    explain,
    supplier_stats,
    with_suggested,
    with_vectors,
)
from services.matcher.domain.semantic import SemanticInput

#: Computed for every candidate; the costly ones only where their weight could still lift a candidate into the
#: top k (the result is the same as computing them everywhere).
_CHEAP = tuple(c for c in COMPONENT_LIST if not c.costly)
_COSTLY = tuple(c for c in COMPONENT_LIST if c.costly)
#: The components a cold-start fit reads.
_FIT = ("category", "text", "wording", "semantic")


@dataclass(frozen=True)
class RankResult:
    """Ranked shortlist entries (rank 1 first), exclusions by hard rules, and the algorithm identifier."""

    entries: list[ShortlistEntry]
    exclusions: list[Exclusion]
    algorithm: str


def _entry(
    profile: Candidate,
    scored: Scored,
    weights: Mapping[str, float],
    total_w: float,
    rank: int,
    adjustment: Adjustment | None = None,
) -> ShortlistEntry:
    # ``model_construct``: every value is computed here within the contract's bounds (scores in [0, 1], weights
    # and contributions non-negative), so validating ~10 entries x 9 components per notice again is pure cost.
    comps = []
    for name in COMPONENTS:
        w = weights.get(name, 0.0) / total_w
        sc = scored.scores.get(name, 0.0)
        why = scored.reasons.get(name, NONE)
        comps.append(
            ScoreComponent.model_construct(
                name=name,
                score=round(sc, 6),
                weight=round(w, 6),
                contribution=round(sc * w, 6),
                reason=why.text,
                reason_code=why.code,
                # A reason's args are its own (built per call); ``NONE``'s shared empty dict is never handed out.
                reason_args=why.args or {},
            )
        )
    comps.sort(key=lambda c: c.contribution, reverse=True)
    explained = round(sum(c.contribution for c in comps), 6)
    # Buyers' marks move the total by their own line; a total never goes below 0 (the contract's bound).
    moved = 0.0 if adjustment is None else round(max(adjustment.value, -explained), 6)
    return ShortlistEntry.model_construct(
        rank=rank,
        supplier_id=profile.supplier_id,
        supplier_name=profile.display_name,
        supplier_country=profile.country,
        total_score=round(explained + moved, 6),
        components=comps,
        adjustment=moved,
        adjustment_reason=None if adjustment is None else adjustment.reason,
        adjustment_code=None if adjustment is None else adjustment.code,
        adjustment_args={} if adjustment is None else dict(adjustment.args),
    )


def deciding_component(entry: ShortlistEntry) -> str:
    """The component that contributed most to an entry's score (first in ``entry.components``)."""
    return max(entry.components, key=lambda c: c.contribution).name


def _score(
    nv: NoticeView,
    stats: list[SupplierStats],
    sims: list[float | None],
    config: ScoringConfig,
    weights: Mapping[str, float],
    moved: list[float],
    history_weights: Mapping[str, float] | None = None,
) -> tuple[list[float], list[bool], list[float]]:
    """Every candidate's weighted total, summed in ``COMPONENTS`` order over the cheap components, then the costly
    ones added where they can still matter; whether it has no award history (a cold start), and how well it fits on
    codes and text (a supplier without history's claim to a cold-start place). ``moved``: what buyers' marks add to
    each total, counted from the start so that skipping costly components changes nothing with them either.
    ``history_weights``: the weights of candidates with award history, when not ``weights``."""
    totals = list(moved)
    scores: dict[str, list[float]] = {}
    cold = [st.n_awards == 0 for st in stats]
    hist = history_weights or weights
    for c, values in zip(_CHEAP, component_values(nv, stats, config, sims, _CHEAP), strict=True):
        w, wh = weights[c.name], hist[c.name]
        for j, (score, _) in enumerate(values):
            totals[j] += (w if cold[j] else wh) * score
        if c.name in _FIT:
            scores[c.name] = [score for score, _ in values]
    # A costly component can only add up to its weight: skip it where even the maximum could not reach the top k.
    # Suppliers without history always get it (their cold-start fit reads it).
    floor = -1.0
    if len(stats) > config.top_k > 0:
        floor = sorted(totals, reverse=True)[config.top_k - 1]
    reach = sum(max(weights[c.name], hist[c.name]) for c in _COSTLY)
    near = [j for j, total in enumerate(totals) if cold[j] or total + reach >= floor]
    costly = component_values(nv, [stats[j] for j in near], config, [sims[j] for j in near], _COSTLY)
    for c, values in zip(_COSTLY, costly, strict=True):
        w, wh, column = weights[c.name], hist[c.name], [0.0] * len(stats)
        for j, (score, _) in zip(near, values, strict=True):
            totals[j] += (w if cold[j] else wh) * score
            column[j] = score
        scores[c.name] = column
    category, text, wording, meaning = (scores[n] for n in _FIT)
    fit = [0.5 * category[j] + 0.5 * max(text[j], wording[j], meaning[j]) for j in range(len(stats))]
    return totals, cold, fit


#: A kind of candidate (``SupplierProfile``, ``CompactCandidate``): ``screen`` keeps what it is given.
CandidateT = TypeVar("CandidateT", bound=Candidate)


@dataclass(frozen=True)
class Screened(Generic[CandidateT]):
    """Candidates after the hard rules: those kept (in order, each supplier once) and the others' exclusions."""

    kept: list[CandidateT]
    exclusions: list[Exclusion]


def screen(
    notice: TenderNotice, candidates: Sequence[CandidateT], now: datetime, ineligible: frozenset[str] = frozenset()
) -> Screened[CandidateT]:
    """The hard rules over ``candidates`` (each supplier once, first seen kept): what ``rank`` does first, and what a
    caller does before it to decode records or fetch vectors only for the candidates kept (``rank(exclusions=...)``).
    The rules read only a candidate's own fields (``candidates.Candidate``), never its record."""
    exclusions: list[Exclusion] = []
    kept: list[CandidateT] = []
    seen: set[str] = set()
    rules = rules_for(notice, ineligible)
    # A passed deadline excludes everyone with the same reason (it is the first rule): checked once per notice.
    passed = deadline_passed(notice, None, now, ineligible) if rules and rules[0][0] == "deadline_passed" else None
    profile_rules = tuple(r for r in rules if r[0] != "deadline_passed")
    for p in candidates:
        if p.supplier_id in seen:
            continue
        seen.add(p.supplier_id)
        if passed is not None:
            exclusions.append(
                Exclusion.model_construct(supplier_id=p.supplier_id, rule="deadline_passed", reason=passed)
            )
            continue
        failed = first_failure(notice, p, now, ineligible, profile_rules) if profile_rules else None
        if failed is not None:
            # Built from validated parts (a stored profile's id, a rule name from ``RULES``, its reason).
            exclusions.append(Exclusion.model_construct(supplier_id=p.supplier_id, rule=failed[0], reason=failed[1]))
        else:
            kept.append(p)
    return Screened(kept, exclusions)


def rank(
    notice: TenderNotice,
    candidates: Sequence[Candidate],
    config: ScoringConfig,
    now: datetime,
    *,
    model: MatchModel | None = None,
    ineligible: frozenset[str] = frozenset(),
    vectors: SemanticInput | None = None,
    adjustments: Mapping[str, Adjustment] | None = None,
    hints: CodeHints | None = None,
    encoder: str | None = None,
    stored: Mapping[str, SupplierStats] | None = None,
    exclusions: Sequence[Exclusion] | None = None,
) -> RankResult:
    """Apply the hard rules, score the rest and return the top ``config.top_k`` above ``config.threshold``.

    ``candidates``: whole profiles, or compact candidates (``candidates.CompactCandidate``, from a packed index),
    each of which must then come with its record in ``stored`` (``InMemoryProfileIndex.ranking_candidates``).

    ``vectors``: the notice's and candidates' vectors; without them, meaning counts for nothing. ``adjustments``:
    supplier id -> what buyers' marks add to its total (``feedback.explained_adjustments``), before the threshold
    and the order; shown on its entry. ``hints``: the crosswalk and codes suggested for the notice and for code-less
    candidates (``codes.CodeHints``), read by ``category``. ``encoder``: the name of the model that made
    ``vectors``, appended to the algorithm (``+semantic:<name>``) when meaning counts. ``stored``: the candidates'
    statistics a store kept with their profiles (``ProfileStore.stored_scoring``), by supplier id; the others are
    computed (and kept by the ``model``). ``exclusions``: the hard rules already applied (``screen``, with the same
    ``now`` and ``ineligible``): ``candidates`` are those they kept, these the others, returned as they are; a caller
    screens first to read records and vectors only for the candidates kept."""
    nv = NoticeView.of(notice, now, vectors.notice if vectors is not None else None, hints)
    weights: Mapping[str, float] = model.weights if model is not None else config.weights
    # Candidates with award history may be weighted apart (``MatchModel.history_weights``).
    history_weights = model.history_weights if model is not None else None
    if vectors is None:
        weights = {**weights, "semantic": 0.0}
        history_weights = None if history_weights is None else {**history_weights, "semantic": 0.0}
    total_w = sum(weights.get(n, 0.0) for n in COMPONENTS) or 1.0
    history_w = sum((history_weights or weights).get(n, 0.0) for n in COMPONENTS) or 1.0
    # What ranked it: the code and weights, the encoder when meaning counts, the fitted model.
    algorithm = config.algorithm if vectors is None else f"{config.algorithm}+semantic:{encoder or 'unnamed'}"
    if model is not None:
        algorithm += f"+{model.algorithm}"

    if exclusions is None:
        screened = screen(notice, candidates, now, ineligible)
        kept, excluded = screened.kept, screened.exclusions
    else:
        kept, excluded = list(candidates), list(exclusions)

    # A candidate's statistics: its record when one came with it, else computed from its whole profile.
    stored = stored or {}
    if model is not None:
        all_stats, sims = model.candidate_features(notice, kept, stored)
    else:
        computed = {p.supplier_id: supplier_stats(p) for p in without_record(kept, stored)}
        all_stats = [stored.get(p.supplier_id) or computed[p.supplier_id] for p in kept]
        sims = [None] * len(kept)
    if vectors is not None:
        all_stats = [
            with_vectors(st, vectors.profiles.get(p.supplier_id)) for st, p in zip(all_stats, kept, strict=True)
        ]
    if hints is not None and hints.profiles:
        suggested = hints.profiles
        all_stats = [
            # Only a profile that states no code is matched on suggested ones (``wants_suggestions``).
            with_suggested(st, suggested[p.supplier_id]) if p.supplier_id in suggested and wants_suggestions(p) else st
            for st, p in zip(all_stats, kept, strict=True)
        ]
    normalised = {n: weights.get(n, 0.0) / total_w for n in COMPONENTS}
    history_normalised = None
    if history_weights is not None:
        history_normalised = {n: history_weights.get(n, 0.0) / history_w for n in COMPONENTS}
    ids = [p.supplier_id for p in kept]
    adjustments = adjustments or {}
    moved = [adjustments[s].value if s in adjustments else 0.0 for s in ids]
    totals, cold, fit = _score(nv, all_stats, sims, config, normalised, moved, history_normalised)
    # A total never goes below 0, as the entry shows it (``_entry``).
    totals = [max(t, 0.0) for t in totals]
    order = sorted(range(len(kept)), key=lambda j: (-totals[j], ids[j]))

    chosen = [j for j in order if totals[j] >= config.threshold][: config.top_k]
    if config.cold_start_slots > 0 and config.top_k > 0:
        have = sum(1 for j in chosen if cold[j])
        listed = set(chosen)
        newcomers = [j for j in order if cold[j] and fit[j] >= config.cold_start_min_fit and j not in listed]
        newcomers.sort(key=lambda j: (-fit[j], ids[j]))
        for j in newcomers[: max(config.cold_start_slots - have, 0)]:
            if len(chosen) >= config.top_k:
                # Replace the lowest-ranked supplier that has history.
                drop = max((i for i, y in enumerate(chosen) if not cold[y]), default=None)
                if drop is None:
                    break
                chosen.pop(drop)
            chosen.append(j)
        chosen.sort(key=lambda j: (-totals[j], ids[j]))

    # Reasons only for the entries returned, from the same component values.
    entries = [
        _entry(
            kept[j],
            explain(nv, all_stats[j], config, sims[j]),
            *((weights, total_w) if cold[j] or history_weights is None else (history_weights, history_w)),
            i,
            adjustments.get(ids[j]),
        )
        for i, j in enumerate(chosen, 1)
    ]
    return RankResult(entries=entries, exclusions=excluded, algorithm=algorithm)

"""Explained scoring: hard rules, then components in [0, 1], weighted into a total, ranked into a shortlist.

Components (``config.COMPONENTS``):

- ``category``: the best code match, exact > one level up/down (as UNGM) > shared class > family > segment;
- ``text``: TF-IDF cosine between the notice and the profile text (with a fitted model; otherwise the share of the
  notice's terms found in the profile);
- ``wording``: rapidfuzz token-set similarity between the notice title and the keywords / past-award descriptions;
- ``history``: past awards in the notice's codes (exact > class > family > segment), recency-weighted;
- ``buyer``: past awards from the same buyer (in the same family first), recency-weighted;
- ``buyer_code``: past awards from the same buyer for the notice's exact code;
- ``repeat``: the same contract (same description) won before, from this buyer above all;
- ``value``: the notice value against the values the supplier usually wins (same currency);
- ``activity``: how much and how recently the supplier wins at all.

The total is ``sum(weight * score) / sum(weight)``; weights come from ``ScoringConfig.weights`` or, when given, a
fitted ``MatchModel``. Suppliers without award history that fit on codes and text keep up to
``config.cold_start_slots`` places, so a ranking learned from history cannot bury them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process, utils

from contracts.notice import TenderNotice
from contracts.shortlist import Exclusion, ScoreComponent, ShortlistEntry
from contracts.supplier import SupplierProfile
from services.matcher.domain import codes, text
from services.matcher.domain.config import COMPONENTS, ScoringConfig
from services.matcher.domain.documents import award_tags, declared_tags, profile_text
from services.matcher.domain.reasons import NONE, Reason, about_code, iso, reason
from services.matcher.domain.retrieval import notice_tags, notice_text
from services.matcher.domain.rules import deadline_passed, first_failure, rules_for

if TYPE_CHECKING:
    from services.matcher.domain.model import MatchModel

#: Distinct past-award descriptions (most recent first) compared by ``wording``.
MAX_WORDING_CHOICES = 40
#: How much an award in a broader shared level counts towards ``history`` (exact code counts 1).
_LEVEL_CREDIT = {"exact": 1.0, "class": 0.6, "family": 0.35, "segment": 0.08}


def fingerprint(profile: SupplierProfile) -> tuple[object, ...]:
    """Cheap identity of a profile's content, to tell whether precomputed statistics still apply (a profile
    changed without touching any of these keeps stale statistics until the next refit)."""
    return (
        profile.updated_at,
        len(profile.past_awards),
        profile.past_awards[-1] if profile.past_awards else None,
        len(profile.codes),
        profile.codes[0].code if profile.codes else None,
        profile.codes[-1].code if profile.codes else None,
        tuple(profile.keywords),
        tuple(profile.description.values()),
        tuple(profile.names.values()),
    )


@dataclass
class SupplierStats:
    """What scoring needs from a profile, computed once per profile version (pure function of the profile)."""

    fingerprint: tuple[object, ...]
    n_awards: int
    codes: codes.CodeSet
    tag_count: Counter[str] = field(default_factory=Counter)
    tag_last: dict[str, date] = field(default_factory=dict)
    agency_count: Counter[str] = field(default_factory=Counter)
    agency_last: dict[str, date] = field(default_factory=dict)
    agency_tag_count: Counter[tuple[str, str]] = field(default_factory=Counter)
    desc_count: Counter[str] = field(default_factory=Counter)
    agency_desc_count: Counter[tuple[str, str]] = field(default_factory=Counter)
    last_award: date | None = None
    value_currency: str | None = None
    log_value_median: float | None = None
    wording_choices: list[str] = field(default_factory=list)
    terms: frozenset[str] = frozenset()


def supplier_stats(profile: SupplierProfile) -> SupplierStats:
    own = declared_tags(profile) | award_tags(profile)
    stats = SupplierStats(fingerprint(profile), len(profile.past_awards), codes.CodeSet.of(own))
    values: list[float] = []
    currencies: Counter[str] = Counter()
    for a in profile.past_awards:
        agency = text.normalize_phrase(a.agency)
        desc = text.normalize_phrase(a.description)
        stats.agency_count[agency] += 1
        if stats.agency_last.get(agency, date.min) < a.date:
            stats.agency_last[agency] = a.date
        if desc:
            stats.desc_count[desc] += 1
            stats.agency_desc_count[(agency, desc)] += 1
        if a.classification is not None:
            for t in codes.tag_ancestors(a.classification):
                stats.tag_count[t] += 1
                stats.agency_tag_count[(agency, t)] += 1
                if stats.tag_last.get(t, date.min) < a.date:
                    stats.tag_last[t] = a.date
        if stats.last_award is None or stats.last_award < a.date:
            stats.last_award = a.date
        if a.value is not None and a.value.amount > 0:
            currencies[a.value.currency] += 1
            values.append(a.value.amount)
    if currencies:
        cur = currencies.most_common(1)[0][0]
        logs = sorted(
            math.log10(a.value.amount)
            for a in profile.past_awards
            if a.value and a.value.currency == cur and a.value.amount > 0
        )
        stats.value_currency = cur
        stats.log_value_median = logs[len(logs) // 2]
    choices: dict[str, None] = dict.fromkeys(profile.keywords)
    for a in sorted(profile.past_awards, key=lambda a: a.date, reverse=True):
        if len(choices) >= MAX_WORDING_CHOICES:
            break
        if a.description:
            choices.setdefault(a.description, None)
    stats.wording_choices = [utils.default_process(c) for c in choices]
    latin, cjk = profile_text(profile)
    stats.terms = frozenset(text.terms(latin + "\n" + cjk))
    return stats


def _level_of(t: str) -> str:
    n = len(t) - 2
    if t[0] == "U":
        return {8: "exact", 6: "class", 4: "family"}.get(n, "segment")
    return "exact" if n >= 6 else "class" if n >= 5 else "family" if n >= 3 else "segment"


@dataclass(frozen=True)
class NoticeView:
    """What scoring needs from a notice, computed once per ``rank`` call."""

    tags: list[str]
    #: Per notice code: its tag and every ancestor, with the history credit of an award at that level.
    chains: list[list[tuple[str, float]]]
    parents: list[list[str]]
    family_tags: list[str]
    terms: list[str]
    #: The notice's text the terms come from (reasons name the words behind shared terms as written).
    text: str
    title: str
    agency: str
    desc: str
    value_currency: str | None
    log_value: float | None
    when: date

    @classmethod
    def of(cls, notice: TenderNotice, now: datetime) -> NoticeView:
        v = notice.estimated_value
        tags = notice_tags(notice)
        body = notice_text(notice)
        chains = [
            [(t, _LEVEL_CREDIT["exact"])] + [(a, _LEVEL_CREDIT[_level_of(a)]) for a in codes.parent_tags(t)]
            for t in tags
        ]
        families = list(dict.fromkeys(a for chain in chains for a, _ in chain if _level_of(a) == "family"))
        return cls(
            tags=tags,
            chains=chains,
            parents=[[a for a, _ in chain[1:]] for chain in chains],
            family_tags=families,
            terms=text.distinct_terms(body),
            text=body,
            title=utils.default_process(notice.title),
            agency=text.normalize_phrase(notice.buyer.name),
            desc=text.normalize_phrase(notice.title),
            value_currency=v.currency if v and v.amount > 0 else None,
            log_value=math.log10(v.amount) if v and v.amount > 0 else None,
            when=now.date(),
        )


def _recency(last: date | None, when: date, half_life: float) -> float:
    if last is None:
        return 0.0
    age = max((when - last).days, 0)
    return float(0.5 ** (age / half_life))


def _saturate(x: float, scale: float) -> float:
    return 1.0 - math.exp(-x / scale)


@dataclass(frozen=True)
class Scored:
    scores: dict[str, float]
    #: Per component with something to say: its line, ``REASON_CODES`` code and args (``reasons.Reason``).
    reasons: dict[str, Reason]


def _category_reason(nv: NoticeView, m: codes.CodeMatch) -> Reason:
    if m.kind == "exact":
        return about_code("code_exact", m.notice_tag)
    if m.kind == "one level":
        return about_code("code_near", m.notice_tag, m.supplier_tag, level=codes.level_name(m.supplier_tag))
    # A shared level: ``m`` holds the shared ancestor (a supplier's level); the notice code is the one under it.
    under = next((t for t in nv.tags if t.startswith(m.notice_tag)), nv.tags[0] if nv.tags else m.notice_tag)
    return about_code("code_shared_level", under, m.notice_tag, level=m.kind)


def score_components(
    nv: NoticeView,
    stats: SupplierStats,
    config: ScoringConfig,
    text_similarity: float | None = None,
    *,
    explain: bool = True,
    wording: bool = True,
) -> Scored:
    """Every component's score (0..1) for one supplier, and with ``explain`` its reason (line, code, args). Without
    ``wording`` the (costlier) wording component is left at 0 (``rank`` adds it only where it can matter)."""
    s: dict[str, float] = dict.fromkeys(COMPONENTS, 0.0)
    r: dict[str, Reason] = {}
    hl = config.recency_half_life_days

    m = codes.best_match(nv.tags, stats.codes, nv.parents)
    if m is not None:
        s["category"] = m.score
        if explain:
            r["category"] = _category_reason(nv, m)
    elif nv.tags and explain:
        r["category"] = about_code("code_none", nv.tags[0])

    if text_similarity is None:
        common = sum(1 for t in nv.terms if t in stats.terms)
        text_similarity = common / len(nv.terms) if nv.terms else 0.0
    s["text"] = min(max(text_similarity, 0.0), 1.0)
    if explain:
        shared = [t for t in nv.terms if t in stats.terms]
        words = text.shown_words(nv.text, set(shared), 4) or shared[:4]
        r["text"] = reason("words_shared", words=", ".join(words)) if shared else reason("words_none")

    if wording:
        best = closest_wording(nv, stats, config.wording_floor)
        if best is not None:
            s["wording"] = best[1] / 100.0
            phrase = best[0][:60].rstrip() if explain else ""
            if phrase:
                r["wording"] = reason("wording_close", phrase=phrase, percent=round(best[1]))

    if stats.n_awards:
        best_h, best_t, best_last = _history(nv, stats, hl)
        s["history"] = best_h
        if explain and best_t:
            tag_count = stats.tag_count
            exact = tag_count.get(best_t, 0)
            # "Its family": the family of this very code (the notice's other codes may sit in other families).
            chain = nv.chains[nv.tags.index(best_t)]
            family = max((tag_count.get(a, 0) for a, _ in chain if _level_of(a) == "family"), default=0)
            in_family = max(family, exact)
            # The date of the nearest awards counted; credit from the segment alone counts none, so no date.
            last = iso(best_last) if in_family else ""
            r["history"] = about_code("history", best_t, awards=exact, family_awards=in_family, last=last)

        a_all = stats.agency_count.get(nv.agency, 0)
        if a_all:
            a_fam = max((stats.agency_tag_count.get((nv.agency, t), 0) for t in nv.family_tags), default=0)
            s["buyer"] = _saturate(a_fam + 0.25 * a_all, 2.0) * (
                0.4 + 0.6 * _recency(stats.agency_last.get(nv.agency), nv.when, hl)
            )
            if explain:
                r["buyer"] = reason("buyer_awards", awards=a_all, family_awards=a_fam)
            a_code = max((stats.agency_tag_count.get((nv.agency, t), 0) for t in nv.tags), default=0)
            if a_code:
                s["buyer_code"] = _saturate(a_code, 2.0)
                if explain:
                    r["buyer_code"] = reason("buyer_code_awards", awards=a_code)

        rep_any = stats.desc_count.get(nv.desc, 0)
        if rep_any:
            rep_ag = stats.agency_desc_count.get((nv.agency, nv.desc), 0)
            s["repeat"] = _saturate(rep_ag + 0.3 * rep_any, 1.0)
            if explain:
                r["repeat"] = reason("repeat", times=rep_any, from_buyer=rep_ag)

    if nv.log_value is not None and stats.log_value_median is not None and nv.value_currency == stats.value_currency:
        gap = abs(nv.log_value - stats.log_value_median)
        s["value"] = math.exp(-gap)
        if explain:
            r["value"] = reason("value_close" if gap < 0.5 else "value_unlike")
    else:
        # Unknown is neutral: neither a reward nor a penalty.
        s["value"] = 0.5
        if explain:
            r["value"] = reason("value_unknown")

    if stats.n_awards:
        s["activity"] = _saturate(stats.n_awards, 20.0) * _recency(stats.last_award, nv.when, hl)
        if explain:
            r["activity"] = reason("activity", awards=stats.n_awards, last=iso(stats.last_award))
    return Scored(s, r)


def closest_wording(nv: NoticeView, stats: SupplierStats, floor: float) -> tuple[str, float] | None:
    """The supplier's wording (keywords, past award descriptions) closest to the notice title and its rapidfuzz
    token-set ratio (0..100: 100 when every word of the wording is in the title), if any reaches ``floor``."""
    if not (stats.wording_choices and nv.title):
        return None
    best = process.extractOne(
        nv.title, stats.wording_choices, scorer=fuzz.token_set_ratio, processor=None, score_cutoff=floor or None
    )
    return None if best is None else (best[0], best[1])


def _history(nv: NoticeView, stats: SupplierStats, hl: float) -> tuple[float, str, date | None]:
    """The best past-award credit over the notice's code chains (commodity up to segment), recency-weighted: (score,
    the chain's code, its last award)."""
    best_h, best_t, best_last = 0.0, "", None
    tag_count, tag_last = stats.tag_count, stats.tag_last
    for chain in nv.chains:
        credit, previous, last = 0.0, 0, None
        for anc, weight in chain:
            n = tag_count.get(anc, 0)
            if n > previous:
                credit += weight * (n - previous)
                previous = n
                if last is None:
                    last = tag_last.get(anc)
        if credit:
            h = _saturate(credit, 3.0) * (0.4 + 0.6 * _recency(last, nv.when, hl))
            if h > best_h:
                best_h, best_t, best_last = h, chain[0][0], last
    return best_h, best_t, best_last


def _fast_total(
    nv: NoticeView, stats: SupplierStats, hl: float, text_similarity: float | None, w: tuple[float, ...]
) -> tuple[float, float, float]:
    """(weighted total without ``wording``, category score, text score): what ``rank`` needs per candidate, as
    ``score_components(..., explain=False, wording=False)`` summed with the weights ``w`` (``COMPONENTS`` order
    without ``wording``) would give, with no explanation branches and no dictionaries: the same arithmetic in the
    same order, so the same floats."""
    m = codes.best_match(nv.tags, stats.codes, nv.parents)
    if text_similarity is None:
        terms = stats.terms
        text_similarity = sum(1 for t in nv.terms if t in terms) / len(nv.terms) if nv.terms else 0.0
    history = buyer = buyer_code = repeat = activity = 0.0
    when = nv.when
    n_awards = stats.n_awards
    if n_awards:
        history = _history(nv, stats, hl)[0]
        agency = nv.agency
        a_all = stats.agency_count.get(agency, 0)
        if a_all:
            atc = stats.agency_tag_count
            a_fam = max((atc.get((agency, t), 0) for t in nv.family_tags), default=0)
            buyer = _saturate(a_fam + 0.25 * a_all, 2.0) * (
                0.4 + 0.6 * _recency(stats.agency_last.get(agency), when, hl)
            )
            a_code = max((atc.get((agency, t), 0) for t in nv.tags), default=0)
            if a_code:
                buyer_code = _saturate(a_code, 2.0)
        rep_any = stats.desc_count.get(nv.desc, 0)
        if rep_any:
            rep_ag = stats.agency_desc_count.get((agency, nv.desc), 0)
            repeat = _saturate(rep_ag + 0.3 * rep_any, 1.0)
        activity = _saturate(n_awards, 20.0) * _recency(stats.last_award, when, hl)
    if nv.log_value is not None and stats.log_value_median is not None and nv.value_currency == stats.value_currency:
        value = math.exp(-abs(nv.log_value - stats.log_value_median))
    else:
        value = 0.5
    category = m.score if m is not None else 0.0
    text_score = min(max(text_similarity, 0.0), 1.0)
    w_category, w_text, w_history, w_buyer, w_buyer_code, w_repeat, w_value, w_activity = w
    # Added one by one from 0.0 in ``COMPONENTS`` order, exactly as a loop over the components would.
    total = 0.0
    total += w_category * category
    total += w_text * text_score
    total += w_history * history
    total += w_buyer * buyer
    total += w_buyer_code * buyer_code
    total += w_repeat * repeat
    total += w_value * value
    total += w_activity * activity
    return total, category, text_score


@dataclass(frozen=True)
class RankResult:
    """Ranked shortlist entries (rank 1 first), exclusions by hard rules, and the algorithm identifier."""

    entries: list[ShortlistEntry]
    exclusions: list[Exclusion]
    algorithm: str


def _entry(
    profile: SupplierProfile, scored: Scored, weights: Mapping[str, float], total_w: float, rank: int
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
    return ShortlistEntry.model_construct(
        rank=rank,
        supplier_id=profile.supplier_id,
        supplier_name=profile.display_name,
        supplier_country=profile.country,
        total_score=round(sum(c.contribution for c in comps), 6),
        components=comps,
    )


def deciding_component(entry: ShortlistEntry) -> str:
    """The component that contributed most to an entry's score (first in ``entry.components``)."""
    return max(entry.components, key=lambda c: c.contribution).name


def rank(
    notice: TenderNotice,
    candidates: Sequence[SupplierProfile],
    config: ScoringConfig,
    now: datetime,
    *,
    model: MatchModel | None = None,
    ineligible: frozenset[str] = frozenset(),
) -> RankResult:
    """Apply the hard rules, score the rest and return the top ``config.top_k`` above ``config.threshold``."""
    nv = NoticeView.of(notice, now)
    weights: Mapping[str, float] = model.weights if model is not None else config.weights
    total_w = sum(weights.get(n, 0.0) for n in COMPONENTS) or 1.0
    algorithm = config.algorithm if model is None else f"{config.algorithm}+{model.algorithm}"

    exclusions: list[Exclusion] = []
    kept: list[SupplierProfile] = []
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

    if model is not None:
        all_stats, sims = model.candidate_features(notice, kept)
    else:
        all_stats, sims = [supplier_stats(p) for p in kept], [None] * len(kept)
    weight_vec = tuple(weights.get(n, 0.0) / total_w for n in COMPONENTS if n != "wording")
    w_wording = weights.get("wording", 0.0) / total_w
    hl = config.recency_half_life_days
    partial: list[tuple[float, SupplierProfile, SupplierStats, float | None, float, float]] = []
    for p, stats, sim in zip(kept, all_stats, sims, strict=True):
        total, category, text_score = _fast_total(nv, stats, hl, sim, weight_vec)
        partial.append((total, p, stats, sim, category, text_score))
    # Wording can only add up to ``w_wording``: skip it where even the maximum could not reach the top k
    # (the result is the same as scoring it everywhere). Suppliers without history always get it (cold start).
    floor = -1.0
    if len(partial) > config.top_k > 0:
        floor = sorted((x[0] for x in partial), reverse=True)[config.top_k - 1]
    scored: list[tuple[float, SupplierProfile, SupplierStats, float | None, bool, float]] = []
    for total, p, stats, sim, category, text_score in partial:
        cold = stats.n_awards == 0
        wording = 0.0
        if cold or total + w_wording >= floor:
            best = closest_wording(nv, stats, config.wording_floor)
            if best is not None:
                wording = best[1] / 100.0
                total += w_wording * wording
        fit = 0.5 * category + 0.5 * max(text_score, wording)
        scored.append((total, p, stats, sim, cold, fit))
    scored.sort(key=lambda x: (-x[0], x[1].supplier_id))

    chosen = [x for x in scored if x[0] >= config.threshold][: config.top_k]
    if config.cold_start_slots > 0 and config.top_k > 0:
        have = sum(1 for x in chosen if x[4])
        ids = {x[1].supplier_id for x in chosen}
        newcomers = [x for x in scored if x[4] and x[5] >= config.cold_start_min_fit and x[1].supplier_id not in ids]
        newcomers.sort(key=lambda x: (-x[5], x[1].supplier_id))
        for x in newcomers[: max(config.cold_start_slots - have, 0)]:
            if len(chosen) >= config.top_k:
                # Replace the lowest-ranked supplier that has history.
                drop = max((i for i, y in enumerate(chosen) if not y[4]), default=None)
                if drop is None:
                    break
                chosen.pop(drop)
            chosen.append(x)
        chosen.sort(key=lambda x: (-x[0], x[1].supplier_id))

    # Explanations only for the entries returned.
    entries = [
        _entry(p, score_components(nv, stats, config, sim), weights, total_w, i)
        for i, (_, p, stats, sim, _, _) in enumerate(chosen, 1)
    ]
    return RankResult(entries=entries, exclusions=exclusions, algorithm=algorithm)

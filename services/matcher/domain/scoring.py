"""The scoring components: for a notice and a supplier, each component's score in [0, 1] and the evidence behind
it, computed once by ``component_values``; ``ranking.rank`` sums the scores with the weights and explains the
entries it returns from the same values (``explain``).

Components (``config.COMPONENTS``, ``COMPONENT_LIST``):

- ``category``: the best code match, exact > one level up/down (as UNGM) > shared class > family > segment
  (``codes.relation`` and the per-level table ``codes.LEVELS``); with ``codes.CodeHints``, also a notice code
  against a code suggested from the description of a supplier that states none, a code suggested from the text of
  a notice that states none against the supplier's, both at ``codes.SUGGESTED_CREDIT``, and a CPV code against a
  UNSPSC one (or the other way round) through the crosswalk, at ``crosswalk.CROSSWALK_CREDIT`` times the pair's
  score; each with its own reason;
- ``text``: TF-IDF cosine between the notice and the profile text (with a fitted model; otherwise the share of the
  notice's terms found in the profile);
- ``wording``: rapidfuzz token-set similarity between the notice title and the keywords / past-award descriptions;
- ``history``: past awards in the notice's codes (exact > class > family > segment), recency-weighted;
- ``buyer``: past awards from the same buyer (in the same family first), recency-weighted;
- ``buyer_code``: past awards from the same buyer for the notice's exact code;
- ``repeat``: the same contract (same description) won before, from this buyer above all;
- ``value``: the notice value against the values the supplier usually wins (same currency);
- ``activity``: how much and how recently the supplier wins at all;
- ``semantic``: the multilingual sentence-embedding cosine between the notice (title and description) and the
  profile's text (``semantic.semantic_score``), so a supplier describing itself in Chinese fits an English notice;
  0 when no vectors are given (no encoder configured).

Adding a component: write its ``value`` (score and evidence, no text) and ``reason`` (from that evidence) functions
here, list them as a ``Component`` in ``COMPONENT_LIST``, and give it a default weight in ``config.DEFAULT_WEIGHTS``
(same position; both name the components in one order), and its reason codes in ``contracts.shortlist.REASON_CODES``.
Ranking, explanation, weight learning and the settings' ``TB_MATCHER_WEIGHTS`` names follow from these.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any, Generic, TypeVar

from rapidfuzz import fuzz, process, utils

from contracts.notice import TenderNotice
from contracts.supplier import SupplierProfile
from services.matcher.domain import codes, semantic, text
from services.matcher.domain.codes import CodeSet
from services.matcher.domain.config import COMPONENTS, ScoringConfig
from services.matcher.domain.crosswalk import CROSSWALK_CREDIT
from services.matcher.domain.documents import award_tags, declared_tags, notice_tags, notice_text, profile_text
from services.matcher.domain.reasons import NONE, Reason, about_code, iso, reason
from services.matcher.domain.suggest import SuggestedCode

#: Distinct past-award descriptions (most recent first) compared by ``wording``.
MAX_WORDING_CHOICES = 40
#: What a count of past awards keeps when they are long past (``history``, ``buyer``): 1 for awards made today,
#: halving towards this floor every ``config.recency_half_life_days``.
RECENCY_FLOOR = 0.4
#: Weighted award credit at which ``history`` reaches 63% (``_saturate``).
HISTORY_SCALE = 3.0
#: ``buyer``: awards from the notice's buyer outside the notice's family count this much; 63% at ``BUYER_SCALE``.
BUYER_ELSEWHERE_SHARE = 0.25
BUYER_SCALE = 2.0
#: Awards from the notice's buyer for the notice's very code at which ``buyer_code`` reaches 63%.
BUYER_CODE_SCALE = 2.0
#: ``repeat``: the same contract won from other buyers counts this much; 63% at ``REPEAT_SCALE``.
REPEAT_ELSEWHERE_SHARE = 0.3
REPEAT_SCALE = 1.0
#: Past awards at which ``activity`` reaches 63% (before recency).
ACTIVITY_SCALE = 20.0
#: ``value`` when the notice's value and the supplier's cannot be compared: neither a reward nor a penalty.
VALUE_UNKNOWN = 0.5
#: Orders of magnitude between the notice's value and the supplier's median below which the reason says "close".
VALUE_CLOSE_GAP = 0.5
#: Words a ``text`` reason names, characters of the wording a ``wording`` reason quotes.
SHOWN_WORDS = 4
SHOWN_PHRASE = 60


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


#: The format of ``to_record``: a record of another version is not read (``from_record`` gives ``None``) and the
#: statistics are computed again from the profile. Raise it whenever ``supplier_stats`` or the record changes what
#: it holds (a new field, another tokenisation in ``text.terms``, another code ladder). 2: the phrases a semantic
#: reason may quote (``semantic.phrases``), split once when the profile is written.
RECORD_VERSION = 2


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
    #: How often each of ``terms`` occurs in the profile's text: the model's TF-IDF row is made from these and its
    #: IDF (``model.MatchModel``), so the row follows each refit without being stored.
    term_counts: dict[str, int] = field(default_factory=dict)
    #: The supplier's own phrases a ``semantic`` reason may quote (``semantic.phrases``), split once when the profile
    #: is written: the matcher looks up (or encodes) their vectors from these instead of splitting the descriptions
    #: again for every candidate.
    phrases: tuple[str, ...] = ()
    #: The profile's vectors (``semantic.ProfileVectors``), attached per ranking by ``with_vectors``; ``None``: none.
    vectors: semantic.ProfileVectors | None = None
    #: Codes suggested from the description of a profile that states none (``codes.CodeHints.profiles``), by tag,
    #: attached per ranking by ``with_suggested``; never among ``codes`` (the supplier's own).
    suggested: CodeSet | None = None
    suggested_codes: dict[str, SuggestedCode] = field(default_factory=dict)
    #: The l2 norm of the supplier's TF-IDF row under one fitted model, marked with that model's key
    #: (``model.MatchModel``): all the TF-IDF cosine needs of the whole row, the notice's few terms giving the rest.
    #: Computed when first needed and kept as long as these statistics are held (by a store, or the model's cache);
    #: never in the record, since it changes with every refit.
    tfidf_norm: tuple[object, float] | None = field(default=None, compare=False, repr=False)

    def to_record(self) -> dict[str, Any]:
        """These statistics as plain JSON types (what a store keeps with the profile, unindexed), without the
        fingerprint (the store vouches that the record was written with its profile) and the per-ranking attachments
        (vectors, suggested codes). ``from_record`` reads it back."""
        return {
            "v": RECORD_VERSION,
            "n_awards": self.n_awards,
            "codes": sorted(self.codes.own),
            "tags": {t: [n, self.tag_last[t].isoformat()] for t, n in self.tag_count.items()},
            "agencies": {a: [n, self.agency_last[a].isoformat()] for a, n in self.agency_count.items()},
            "agency_tags": [[a, t, n] for (a, t), n in self.agency_tag_count.items()],
            "descs": dict(self.desc_count),
            "agency_descs": [[a, d, n] for (a, d), n in self.agency_desc_count.items()],
            "last_award": None if self.last_award is None else self.last_award.isoformat(),
            "value_currency": self.value_currency,
            "log_value_median": self.log_value_median,
            "wording": list(self.wording_choices),
            "terms": dict(self.term_counts),
            "phrases": list(self.phrases),
        }

    @classmethod
    def from_record(cls, record: Any, profile_fingerprint: tuple[object, ...]) -> SupplierStats | None:
        """The statistics ``to_record`` wrote, with the ``fingerprint`` of the profile stored with them; ``None`` for
        a record of another ``RECORD_VERSION`` (or none: the caller computes them from the profile). ``ValueError``
        naming what is wrong for a record of this version that is malformed."""
        if not isinstance(record, dict) or record.get("v") != RECORD_VERSION:
            return None
        try:
            tags = record["tags"]
            agencies = record["agencies"]
            last = record["last_award"]
            median = record["log_value_median"]
            counts = {str(t): int(n) for t, n in record["terms"].items()}
            phrases = record["phrases"]
            if not isinstance(phrases, list):
                raise TypeError(f"phrases must be a list, got {type(phrases).__name__}")
            return cls(
                fingerprint=profile_fingerprint,
                n_awards=int(record["n_awards"]),
                codes=codes.CodeSet.of(frozenset(map(str, record["codes"]))),
                tag_count=Counter({str(t): int(v[0]) for t, v in tags.items()}),
                tag_last={str(t): date.fromisoformat(v[1]) for t, v in tags.items()},
                agency_count=Counter({str(a): int(v[0]) for a, v in agencies.items()}),
                agency_last={str(a): date.fromisoformat(v[1]) for a, v in agencies.items()},
                agency_tag_count=Counter({(str(a), str(t)): int(n) for a, t, n in record["agency_tags"]}),
                desc_count=Counter({str(d): int(n) for d, n in record["descs"].items()}),
                agency_desc_count=Counter({(str(a), str(d)): int(n) for a, d, n in record["agency_descs"]}),
                last_award=None if last is None else date.fromisoformat(last),
                value_currency=record["value_currency"],
                log_value_median=None if median is None else float(median),
                wording_choices=[str(w) for w in record["wording"]],
                terms=frozenset(counts),
                term_counts=counts,
                phrases=tuple(str(t) for t in phrases),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"a scoring record of version {RECORD_VERSION} that cannot be read: {exc!r}") from exc


def _attached(stats: SupplierStats, attachments: dict[str, Any]) -> SupplierStats:
    """A shallow copy of ``stats`` with ``attachments`` (per-ranking fields: ``vectors``, ``suggested``...) set: the
    statistics a model or a store keeps stay as they are. Copied field by field rather than through
    ``dataclasses.replace``, which runs ``__init__`` over every field and cost ~5x more for each of the ~300
    candidates a notice attaches vectors to; ``dict.copy`` and ``update`` rather than ``|`` over keyword arguments,
    ~40% less again."""
    copy = object.__new__(SupplierStats)
    copy.__dict__ = fields = stats.__dict__.copy()
    fields.update(attachments)
    return copy


def with_vectors(stats: SupplierStats, vectors: semantic.ProfileVectors | None) -> SupplierStats:
    """``stats`` with the profile's vectors attached (a copy: the statistics a model caches stay vector-free)."""
    return stats if vectors is None else _attached(stats, {"vectors": vectors})


def with_suggested(stats: SupplierStats, suggested: Sequence[SuggestedCode]) -> SupplierStats:
    """``stats`` with the codes suggested from the profile's description attached (a copy, as ``with_vectors``)."""
    by_tag = codes.suggested_tags(suggested)
    return (
        _attached(stats, {"suggested": codes.CodeSet.of(set(by_tag)), "suggested_codes": by_tag}) if by_tag else stats
    )


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
    counts = Counter(text.terms(latin + "\n" + cjk))
    stats.terms = frozenset(counts)
    stats.term_counts = dict(counts)
    stats.phrases = tuple(semantic.phrases(profile))
    return stats


@dataclass(frozen=True)
class NoticeView:
    """What scoring needs from a notice, computed once per ``rank`` call."""

    tags: list[str]
    #: Per notice code: its tag and every ancestor, with the history credit of an award at that level.
    chains: list[list[tuple[str, float]]]
    parents: list[list[str]]
    #: Per notice code: its family (UNSPSC) or group (CPV) tag, if it has one.
    families: list[str | None]
    #: The distinct families of ``families``.
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
    #: The notice's title as written (a ``semantic`` reason quotes it).
    heading: str = ""
    #: The notice's vector (``semantic.notice_semantic_text``); ``None`` when no encoder is configured.
    vector: semantic.Vector | None = None
    #: Codes suggested from the text of a notice that states none (``codes.CodeHints.notice``), by tag, with their
    #: parents; never among ``tags`` (the buyer's own).
    suggested: dict[str, SuggestedCode] = field(default_factory=dict)
    suggested_parents: list[list[str]] = field(default_factory=list)
    #: ``(notice tag, tag of the other scheme, pair score)`` through the crosswalk (``codes.cross_tags``).
    cross: list[tuple[str, str, float]] = field(default_factory=list)
    #: Per ``cross`` entry: the counterpart's parent tag, if it has one.
    cross_parents: list[str | None] = field(default_factory=list)

    # What the components look up in every candidate's statistics, made once per notice (not once per candidate).
    @cached_property
    def agency_family_keys(self) -> list[tuple[str, str]]:
        """``(agency, family)`` for each of ``family_tags``: the keys of ``SupplierStats.agency_tag_count``."""
        return [(self.agency, t) for t in self.family_tags]

    @cached_property
    def agency_tag_keys(self) -> list[tuple[str, str]]:
        """``(agency, tag)`` for each of ``tags``."""
        return [(self.agency, t) for t in self.tags]

    @cached_property
    def tokens(self) -> list[tuple[str, str]]:
        """``text`` split as ``text.shown_words`` reads it, once for every entry's ``text`` reason."""
        return text.tokens(self.text)

    @classmethod
    def of(
        cls,
        notice: TenderNotice,
        now: datetime,
        vector: semantic.Vector | None = None,
        hints: codes.CodeHints | None = None,
    ) -> NoticeView:
        v = notice.estimated_value
        tags = notice_tags(notice)
        hints = hints or codes.CodeHints()
        suggested = {} if tags else codes.suggested_tags(hints.notice)
        cross = codes.cross_tags(hints.crosswalk, tags)
        body = notice_text(notice)
        families = [codes.family_tag(t) for t in tags]
        return cls(
            tags=tags,
            chains=[[(a, level.credit) for a, level in codes.chain(t)] for t in tags],
            parents=[codes.parent_tags(t) for t in tags],
            families=families,
            family_tags=list(dict.fromkeys(f for f in families if f is not None)),
            terms=text.distinct_terms(body),
            text=body,
            title=utils.default_process(notice.title),
            agency=text.normalize_phrase(notice.buyer.name),
            desc=text.normalize_phrase(notice.title),
            value_currency=v.currency if v and v.amount > 0 else None,
            log_value=math.log10(v.amount) if v and v.amount > 0 else None,
            when=now.date(),
            heading=notice.title.strip(),
            vector=vector,
            suggested=suggested,
            suggested_parents=[codes.parent_tags(t) for t in suggested],
            cross=cross,
            cross_parents=[next(iter(codes.parent_tags(other)), None) for _, other, _ in cross],
        )


def _recency(last: date | None, when: date, half_life: float) -> float:
    if last is None:
        return 0.0
    age = max((when - last).days, 0)
    return float(0.5 ** (age / half_life))


def _freshness(last: date | None, when: date, half_life: float) -> float:
    """What recency leaves of a count: ``RECENCY_FLOOR`` for awards long past, 1 for today's."""
    return RECENCY_FLOOR + (1.0 - RECENCY_FLOOR) * _recency(last, when, half_life)


def _saturate(x: float, scale: float) -> float:
    """0 for 0, towards 1 as ``x`` grows (63% at ``scale``)."""
    return 1.0 - math.exp(-x / scale)


E = TypeVar("E")
#: Each candidate's ``(score, evidence)`` for one component.
Values = list[tuple[float, E]]


@dataclass(frozen=True)
class Component(Generic[E]):
    """One scoring component: ``values`` gives, for a notice and each candidate, its score in [0, 1] with the
    evidence behind it (plain data, no text); ``reason`` turns one candidate's evidence into the reason a buyer
    reads. Ranking sums the scores with the weights; the explanation shows the same scores with their reasons.
    ``values`` takes the candidates together (ranking scores ~300 per notice: one call per component, not per
    candidate; a component may also compute for all of them at once)."""

    name: str
    #: ``(notice, the candidates' statistics, config, their text similarities) -> Values``.
    values: Callable[[NoticeView, Sequence[SupplierStats], ScoringConfig, Sequence[float | None]], Values[E]]
    #: ``(notice, one candidate's statistics, its evidence) -> reason`` (``NONE`` when there is nothing to say).
    reason: Callable[[NoticeView, SupplierStats, E], Reason]
    #: Costly to compute: ``rank`` computes it only for candidates its weight could still lift into the top k.
    costly: bool = False


Stats = Sequence[SupplierStats]
Sims = Sequence[float | None]


@dataclass(frozen=True)
class CodeEvidence:
    """Which codes met for ``category``: ``match`` (its score before any credit) and where the codes came from:
    ``own`` (the notice's and the supplier's stated codes), ``suggested`` (the notice's against codes suggested
    from the supplier's description), ``notice_suggested`` (codes suggested from the notice's text against the
    supplier's), ``crosswalk`` (``match.notice_tag`` is the counterpart in the other scheme of the notice's code
    ``source_tag``). ``credit``: what the match is worth (``SUGGESTED_CREDIT``; ``CROSSWALK_CREDIT`` x the pair's
    score)."""

    match: codes.CodeMatch
    source: str = "own"
    credit: float = 1.0
    source_tag: str = ""

    @property
    def score(self) -> float:
        return self.credit * self.match.score


def category_match(nv: NoticeView, st: SupplierStats) -> CodeEvidence | None:
    """The best code evidence between a notice and a supplier: stated codes first; codes suggested on either side
    (never both) at ``codes.SUGGESTED_CREDIT``; the crosswalk at ``CROSSWALK_CREDIT`` x the pair's score."""
    m = codes.best_match(nv.tags, st.codes, nv.parents)
    best = None if m is None else CodeEvidence(m)
    if best is not None and best.score >= 1.0:
        return best
    options: list[CodeEvidence] = []
    if st.suggested is not None and nv.tags:
        s = codes.best_match(nv.tags, st.suggested, nv.parents)
        if s is not None:
            options.append(CodeEvidence(s, "suggested", codes.SUGGESTED_CREDIT))
    if nv.suggested:
        s = codes.best_match(list(nv.suggested), st.codes, nv.suggested_parents)
        if s is not None:
            options.append(CodeEvidence(s, "notice_suggested", codes.SUGGESTED_CREDIT))
    own, below = st.codes.own, st.codes.parents
    for (source_tag, other, pair), up in zip(nv.cross, nv.cross_parents, strict=True):
        # A counterpart counts when it is the supplier's code or one level from it (a shared class or family of a
        # counterpart would be a guess about a guess, and a reason nobody could check): ``codes.best_match``'s first
        # two rungs, by set lookups only (this runs for every candidate).
        if other in own:
            x = codes.CodeMatch(codes.EXACT.match, other, other, codes.EXACT.name)
        elif up is not None and up in own:
            x = codes.CodeMatch(codes.ONE_LEVEL.match, other, up, codes.ONE_LEVEL.name)
        elif other in below:
            x = codes.CodeMatch(codes.ONE_LEVEL.match, other, below[other], codes.ONE_LEVEL.name)
        else:
            continue
        options.append(CodeEvidence(x, "crosswalk", CROSSWALK_CREDIT * pair, source_tag))
    for option in options:
        if best is None or option.score > best.score:
            best = option
    return best


def _category(
    nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims
) -> Values[codes.CodeMatch | CodeEvidence | None]:
    """The evidence is the stated codes' ``CodeMatch`` in the common case (no hint in play: no evidence object
    built for each of ~300 candidates), else ``category_match``'s."""
    out: Values[codes.CodeMatch | CodeEvidence | None] = []
    hinted = bool(nv.suggested or nv.cross)
    tags, parents = nv.tags, nv.parents
    best_match = codes.best_match
    for st in stats:
        if not hinted and st.suggested is None:
            m = best_match(tags, st.codes, parents)
            out.append((0.0 if m is None else m.score, m))
            continue
        e = category_match(nv, st)
        out.append((0.0, None) if e is None else (e.score, e))
    return out


def _under(tags: Iterable[str], t: str) -> str:
    """The code a match names: ``t`` itself, or (``t`` a shared level's ancestor) the first of ``tags`` under it."""
    return next((u for u in tags if u.startswith(t)), t)


def _category_reason(nv: NoticeView, stats: SupplierStats, evidence: codes.CodeMatch | CodeEvidence | None) -> Reason:
    if evidence is None:
        return about_code("code_none", nv.tags[0]) if nv.tags else NONE
    e = evidence if isinstance(evidence, CodeEvidence) else CodeEvidence(evidence)
    m = e.match
    if e.source == "suggested":
        return about_code(
            "code_suggested", _under(nv.tags, m.notice_tag), _under(stats.suggested_codes, m.supplier_tag)
        )
    if e.source == "notice_suggested":
        own = sorted(stats.codes.own)
        return about_code("code_notice_suggested", _under(nv.suggested, m.notice_tag), _under(own, m.supplier_tag))
    if e.source == "crosswalk":
        supplier_scheme = "UNSPSC" if m.supplier_tag[0] == "U" else "CPV"
        percent = round(100 * e.credit / CROSSWALK_CREDIT)
        return about_code(
            "code_crosswalk", e.source_tag, m.supplier_tag, supplier_scheme=supplier_scheme, percent=percent
        )
    if m.kind == "exact":
        return about_code("code_exact", m.notice_tag)
    if m.kind == "one level":
        return about_code("code_near", m.notice_tag, m.supplier_tag, level=codes.level_name(m.supplier_tag))
    # A shared level: ``m`` holds the shared ancestor (a supplier's level); the notice code is the one under it.
    under = next((t for t in nv.tags if t.startswith(m.notice_tag)), nv.tags[0] if nv.tags else m.notice_tag)
    return about_code("code_shared_level", under, m.notice_tag, level=m.kind)


def _text(nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims) -> Values[None]:
    """The fitted model's TF-IDF cosine when given, else the share of the notice's terms found in the profile."""
    out: Values[None] = []
    for st, sim in zip(stats, sims, strict=True):
        if sim is None:
            terms = st.terms
            sim = sum(1 for t in nv.terms if t in terms) / len(nv.terms) if nv.terms else 0.0
        out.append((min(max(sim, 0.0), 1.0), None))
    return out


def _text_reason(nv: NoticeView, stats: SupplierStats, _: None) -> Reason:
    shared = [t for t in nv.terms if t in stats.terms]
    if not shared:
        return reason("words_none")
    words = text.shown_words(nv.tokens, set(shared), SHOWN_WORDS) or shared[:SHOWN_WORDS]
    return reason("words_shared", words=", ".join(words))


def _wording(nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims) -> Values[tuple[str, float] | None]:
    out: Values[tuple[str, float] | None] = []
    for st in stats:
        best = closest_wording(nv, st, config.wording_floor)
        out.append((0.0, None) if best is None else (best[1] / 100.0, best))
    return out


def _wording_reason(nv: NoticeView, stats: SupplierStats, best: tuple[str, float] | None) -> Reason:
    phrase = best[0][:SHOWN_PHRASE].rstrip() if best is not None else ""
    return reason("wording_close", phrase=phrase, percent=round(best[1])) if best is not None and phrase else NONE


def closest_wording(nv: NoticeView, stats: SupplierStats, floor: float) -> tuple[str, float] | None:
    """The supplier's wording (keywords, past award descriptions) closest to the notice title and its rapidfuzz
    token-set ratio (0..100: 100 when every word of the wording is in the title), if any reaches ``floor``."""
    if not (stats.wording_choices and nv.title):
        return None
    best = process.extractOne(
        nv.title, stats.wording_choices, scorer=fuzz.token_set_ratio, processor=None, score_cutoff=floor or None
    )
    return None if best is None else (best[0], best[1])


#: The history evidence: the notice code whose chain scored best ("" for none), and the last award counted in it.
_HistoryEvidence = tuple[str, date | None]
_NO_HISTORY: tuple[float, _HistoryEvidence] = (0.0, ("", None))


def _history(nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims) -> Values[_HistoryEvidence]:
    """The best past-award credit over the notice's code chains (the code up to its segment or division, each
    level's awards counted at ``codes.Level.credit``), recency-weighted."""
    out: Values[_HistoryEvidence] = []
    hl, when = config.recency_half_life_days, nv.when
    # An award under any code of a chain is counted at the chain's top (its segment or division) too
    # (``codes.tag_ancestors``): a chain whose top the supplier never won under adds nothing.
    chains = [(chain, chain[-1][0]) for chain in nv.chains]
    for st in stats:
        if not st.n_awards:
            out.append(_NO_HISTORY)
            continue
        best_h, best_t, best_last = 0.0, "", None
        tag_count, tag_last = st.tag_count, st.tag_last
        for chain, top in chains:
            if top not in tag_count:
                continue
            credit, previous, last = 0.0, 0, None
            for anc, weight in chain:
                n = tag_count.get(anc, 0)
                if n > previous:
                    credit += weight * (n - previous)
                    previous = n
                    if last is None:
                        last = tag_last.get(anc)
            if credit:
                h = _saturate(credit, HISTORY_SCALE) * _freshness(last, when, hl)
                if h > best_h:
                    best_h, best_t, best_last = h, chain[0][0], last
        out.append((best_h, (best_t, best_last)) if best_t else _NO_HISTORY)
    return out


def _history_reason(nv: NoticeView, stats: SupplierStats, evidence: _HistoryEvidence) -> Reason:
    best_t, best_last = evidence
    if not best_t:
        return NONE
    exact = stats.tag_count.get(best_t, 0)
    # "Its family": the family of this very code (the notice's other codes may sit in other families).
    family = nv.families[nv.tags.index(best_t)]
    in_family = max(stats.tag_count.get(family, 0) if family else 0, exact)
    # The date of the nearest awards counted; credit from the segment alone counts none, so no date.
    last = iso(best_last) if in_family else ""
    return about_code("history", best_t, awards=exact, family_awards=in_family, last=last)


def _buyer(nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims) -> Values[int]:
    """Awards from the notice's buyer, those in the notice's family counting fully and the others by
    ``BUYER_ELSEWHERE_SHARE``, recency-weighted; evidence: the family's count (the buyer's is in the statistics)."""
    out: Values[int] = []
    agency, hl, keys = nv.agency, config.recency_half_life_days, nv.agency_family_keys
    for st in stats:
        a_all = st.agency_count.get(agency, 0)
        if not a_all:
            out.append(_NO_COUNT)
            continue
        a_fam = _most(st.agency_tag_count, keys)
        fresh = _freshness(st.agency_last.get(agency), nv.when, hl)
        out.append((_saturate(a_fam + BUYER_ELSEWHERE_SHARE * a_all, BUYER_SCALE) * fresh, a_fam))
    return out


_NO_COUNT: tuple[float, int] = (0.0, 0)


def _most(counts: Counter[tuple[str, str]], keys: list[tuple[str, str]]) -> int:
    """The largest of ``counts`` at ``keys`` (0 for none): ``max`` over a generator, without the generator."""
    most = 0
    for key in keys:
        n = counts.get(key, 0)
        if n > most:
            most = n
    return most


def _buyer_reason(nv: NoticeView, stats: SupplierStats, a_fam: int) -> Reason:
    a_all = stats.agency_count.get(nv.agency, 0)
    return reason("buyer_awards", awards=a_all, family_awards=a_fam) if a_all else NONE


def _buyer_code(nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims) -> Values[int]:
    """Awards from the notice's buyer for one of the notice's very codes; evidence: their count."""
    out: Values[int] = []
    agency, keys = nv.agency, nv.agency_tag_keys
    for st in stats:
        a_code = _most(st.agency_tag_count, keys) if agency in st.agency_count else 0
        out.append((_saturate(a_code, BUYER_CODE_SCALE), a_code) if a_code else _NO_COUNT)
    return out


def _buyer_code_reason(nv: NoticeView, stats: SupplierStats, a_code: int) -> Reason:
    return reason("buyer_code_awards", awards=a_code) if a_code else NONE


def _repeat(nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims) -> Values[int]:
    """The notice's very title won before: from this buyer fully, from others by ``REPEAT_ELSEWHERE_SHARE``;
    evidence: how often from this buyer (how often at all is in the statistics)."""
    out: Values[int] = []
    desc, key = nv.desc, (nv.agency, nv.desc)
    for st in stats:
        rep_any = st.desc_count.get(desc, 0)
        if not rep_any:
            out.append(_NO_COUNT)
            continue
        rep_ag = st.agency_desc_count.get(key, 0)
        out.append((_saturate(rep_ag + REPEAT_ELSEWHERE_SHARE * rep_any, REPEAT_SCALE), rep_ag))
    return out


def _repeat_reason(nv: NoticeView, stats: SupplierStats, rep_ag: int) -> Reason:
    rep_any = stats.desc_count.get(nv.desc, 0)
    return reason("repeat", times=rep_any, from_buyer=rep_ag) if rep_any else NONE


def _value(nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims) -> Values[float | None]:
    """How close the notice value is to the supplier's median award (orders of magnitude apart, same currency);
    evidence: that gap, None when the two cannot be compared (then the score is ``VALUE_UNKNOWN``)."""
    out: Values[float | None] = []
    log_value, currency = nv.log_value, nv.value_currency
    for st in stats:
        if log_value is not None and st.log_value_median is not None and currency == st.value_currency:
            gap = abs(log_value - st.log_value_median)
            out.append((math.exp(-gap), gap))
        else:
            out.append((VALUE_UNKNOWN, None))
    return out


def _value_reason(nv: NoticeView, stats: SupplierStats, gap: float | None) -> Reason:
    if gap is None:
        return reason("value_unknown")
    return reason("value_close" if gap < VALUE_CLOSE_GAP else "value_unlike")


def _activity(nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims) -> Values[None]:
    """How much and how recently the supplier wins at all (the counts are in the statistics)."""
    hl, when = config.recency_half_life_days, nv.when
    return [
        (_saturate(st.n_awards, ACTIVITY_SCALE) * _recency(st.last_award, when, hl) if st.n_awards else 0.0, None)
        for st in stats
    ]


def _activity_reason(nv: NoticeView, stats: SupplierStats, _: None) -> Reason:
    return reason("activity", awards=stats.n_awards, last=iso(stats.last_award)) if stats.n_awards else NONE


def _semantic(nv: NoticeView, stats: Stats, config: ScoringConfig, sims: Sims) -> Values[float | None]:
    """The cosine between the notice's vector and the profile's as a 0..1 score (``semantic.semantic_score``);
    evidence: the cosine, ``None`` when either has no vector."""
    nvec = nv.vector
    if nvec is None:
        return [(0.0, None)] * len(stats)
    out: Values[float | None] = []
    score = semantic.semantic_score
    for st in stats:
        v = st.vectors
        if v is None:
            out.append((0.0, None))
            continue
        # ``ndarray.dot`` of two vectors is ``@``'s product (BLAS ``sdot``), the same bits, at less dispatch cost.
        cosine = float(v.vector.dot(nvec))
        out.append((score(cosine), cosine))
    return out


def _semantic_reason(nv: NoticeView, stats: SupplierStats, cosine: float | None) -> Reason:
    """Which of the supplier's own phrases (in its own words and language) is closest in meaning to the notice,
    quoted with the notice's title; nothing when neither the whole profile nor that phrase reach ``semantic.SHOWN``."""
    if cosine is None or nv.vector is None or stats.vectors is None or cosine < semantic.SHOWN:
        return NONE
    if not nv.heading:
        return NONE
    v = stats.vectors
    best = semantic.closest_phrase(nv.vector, v.phrases, v.phrase_vectors)
    if best is None or best[1] < semantic.SHOWN:
        return NONE
    return reason(
        "meaning_close",
        phrase=best[0][:SHOWN_PHRASE].rstrip(),
        notice_words=nv.heading[:SHOWN_PHRASE].rstrip(),
    )


#: Every component, in ``config.COMPONENTS`` order (the order weights are summed in).
COMPONENT_LIST: tuple[Component[Any], ...] = (
    Component("category", _category, _category_reason),
    Component("text", _text, _text_reason),
    Component("wording", _wording, _wording_reason, costly=True),
    Component("history", _history, _history_reason),
    Component("buyer", _buyer, _buyer_reason),
    Component("buyer_code", _buyer_code, _buyer_code_reason),
    Component("repeat", _repeat, _repeat_reason),
    Component("value", _value, _value_reason),
    Component("activity", _activity, _activity_reason),
    Component("semantic", _semantic, _semantic_reason),
)
if tuple(c.name for c in COMPONENT_LIST) != COMPONENTS:
    raise RuntimeError("scoring.COMPONENT_LIST and config.COMPONENTS must name the same components in one order")


def component_values(
    nv: NoticeView,
    stats: Stats,
    config: ScoringConfig,
    text_similarities: Sims | None = None,
    components: Sequence[Component[Any]] = COMPONENT_LIST,
) -> list[Values[Any]]:
    """Per component of ``components`` (all by default), each candidate's ``(score, evidence)``: the one
    computation behind the ranking (which sums the scores with the weights) and the explanation (which shows them
    with the reasons their evidence gives). ``text_similarities``: the fitted model's TF-IDF cosines, if any."""
    sims = text_similarities if text_similarities is not None else [None] * len(stats)
    return [c.values(nv, stats, config, sims) for c in components]


@dataclass(frozen=True)
class Scored:
    scores: dict[str, float]
    #: Per component: its line, ``REASON_CODES`` code and args (``reasons.Reason``; ``NONE``: nothing to say).
    reasons: dict[str, Reason]


def explain(
    nv: NoticeView, stats: SupplierStats, config: ScoringConfig, text_similarity: float | None = None
) -> Scored:
    """Every component's score for one candidate with its reason, from ``component_values``."""
    scores: dict[str, float] = {}
    reasons: dict[str, Reason] = {}
    for c, values in zip(COMPONENT_LIST, component_values(nv, [stats], config, [text_similarity]), strict=True):
        score, evidence = values[0]
        scores[c.name] = score
        reasons[c.name] = c.reason(nv, stats, evidence)
    return Scored(scores, reasons)

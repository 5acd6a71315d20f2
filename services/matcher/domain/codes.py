"""Scheme-tagged code prefixes and how strongly two codes match.

A tag is ``"<scheme letter>:<significant prefix>"``: ``"U:421322"`` is the UNSPSC class 421322, ``"C:3314"`` the CPV
class 3314. Tags make one keyword field serve every scheme and level in Elasticsearch without collisions between
UNSPSC and CPV digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from contracts.codes import ancestors, prefix
from contracts.common import Classification, CodeScheme
from contracts.supplier import SupplierProfile
from services.matcher.domain.crosswalk import CROSSWALK_PAIRS, MAX_CROSSWALK_CODES, Crosswalk, cross
from services.matcher.domain.suggest import SuggestedCode

_LETTER = {CodeScheme.UNSPSC: "U", CodeScheme.CPV: "C", CodeScheme.OTHER: "O"}
_SCHEME_NAME = {"U": "UNSPSC", "C": "CPV", "O": "code"}


@dataclass(frozen=True)
class Level:
    """A level of a code hierarchy and what it is worth, or how two codes relate (``EXACT``, ``ONE_LEVEL``).

    ``depth`` counts from the top (1: UNSPSC segment, CPV division; 2: UNSPSC family, CPV group; 3: class in both;
    4: UNSPSC commodity, CPV category; 5: CPV subdivisions). Its numbers, in ``LEVELS``, are what the category
    score, the history credit and retrieval read.
    """

    #: As reasons and pages name it (``contracts.shortlist.REASON_CODES``): ``family``, ``group``, ``exact``...
    name: str
    depth: int
    #: ``category`` score when this is the deepest level a notice code and a supplier code share.
    match: float
    #: ``history`` credit of a past award in the notice code's ancestor at this level (the code itself: ``EXACT``).
    credit: float
    #: Retrieval boost of a supplier with a code under the notice code's ancestor at this level.
    boost: float


#: The same code.
EXACT = Level("exact", 0, 1.0, 1.0, 8.0)
#: A supplier code one level above or below the notice's code (UNGM's Tender Alert rule); a ``category`` score only.
ONE_LEVEL = Level("one level", 0, 0.85, 0.0, 0.0)

#: The levels by scheme letter and significant digits. UNSPSC (https://www.unspsc.org/): two digits per level. CPV
#: (Regulation (EC) 213/2008, ``contracts.codes``): division 2 digits, group 3, class 4, category 5, subdivisions
#: 6 to 8. A CPV level is worth what the UNSPSC level at the same depth is (division = segment, group = family,
#: class = class) for history credit and retrieval; its ``category`` scores keep the CPV ladder by digits (a
#: deeper shared level scores more). A shared commodity (UNSPSC) or 8-digit subdivision (CPV) is the same code.
LEVELS: dict[tuple[str, int], Level] = {
    ("U", 2): Level("segment", 1, 0.15, 0.08, 0.5),
    ("U", 4): Level("family", 2, 0.4, 0.35, 2.0),
    ("U", 6): Level("class", 3, 0.6, 0.6, 4.0),
    ("U", 8): Level("commodity", 4, EXACT.match, EXACT.credit, EXACT.boost),
    ("C", 2): Level("division", 1, 0.15, 0.08, 0.5),
    ("C", 3): Level("group", 2, 0.3, 0.35, 2.0),
    ("C", 4): Level("class", 3, 0.45, 0.6, 4.0),
    ("C", 5): Level("category", 4, 0.6, 0.7, 4.0),
    ("C", 6): Level("subdivision", 5, 0.65, 0.8, 4.0),
    ("C", 7): Level("subdivision", 5, 0.7, 0.8, 4.0),
    ("C", 8): Level("subdivision", 5, EXACT.match, EXACT.credit, EXACT.boost),
}
#: The depth of UNSPSC families and CPV groups: what ``buyer`` and ``history`` reasons call "the family".
FAMILY_DEPTH = 2


def tag(scheme: CodeScheme, code: str) -> str | None:
    """``tag(UNSPSC, "42130000")`` -> ``"U:4213"``; ``None`` for a code the scheme rejects (buyers miscode)."""
    try:
        return f"{_LETTER[scheme]}:{prefix(scheme, code)}"
    except ValueError:
        return None


def tag_of(classification: Classification) -> str | None:
    return tag(classification.scheme, classification.code)


def tag_ancestors(classification: Classification) -> list[str]:
    """Every level's tag from the top down: UNSPSC 42132203 -> ``["U:42", "U:4213", "U:421322", "U:42132203"]``."""
    try:
        letter = _LETTER[classification.scheme]
        return [f"{letter}:{p}" for p in ancestors(classification.scheme, classification.code)]
    except ValueError:
        return []


def parent_tags(t: str) -> list[str]:
    """Ancestors of a tag, nearest first, excluding itself."""
    letter, digits = t[0], t[2:]
    step = 2 if letter == "U" else 1
    if letter == "O":
        return []
    return [f"{letter}:{digits[:n]}" for n in range(len(digits) - step, 1, -step)]


def level_of(t: str) -> Level | None:
    """The hierarchy level a tag names (``"U:4213"`` -> family, ``"C:331"`` -> group); None for other schemes."""
    return LEVELS.get((t[0], len(t) - 2))


def level_name(t: str) -> str:
    level = level_of(t)
    return "code" if level is None else level.name


def chain(t: str) -> list[tuple[str, Level]]:
    """A notice code and its ancestors, nearest first, each with how a supplier code under it relates to the notice
    code: ``EXACT`` for the code itself, else the ancestor's level (the deepest level the two share)."""
    out = [(t, EXACT)]
    for up in parent_tags(t):
        level = level_of(up)
        if level is not None:
            out.append((up, level))
    return out


def family_tag(t: str) -> str | None:
    """The tag's family (UNSPSC) or group (CPV): itself or the ancestor at ``FAMILY_DEPTH``; None above it."""
    for up in [t, *parent_tags(t)]:
        level = level_of(up)
        if level is not None and level.depth == FAMILY_DEPTH:
            return up
    return None


def describe(t: str) -> str:
    return f"{_SCHEME_NAME[t[0]]} {t[2:]}"


@dataclass(frozen=True)
class CodeMatch:
    score: float
    notice_tag: str
    supplier_tag: str
    #: ``exact``, ``one level``, or the shared level name (``class``, ``family``, ``group``, ``segment``...).
    kind: str

    @classmethod
    def at(cls, level: Level, notice_tag: str, supplier_tag: str) -> CodeMatch:
        return cls(level.match, notice_tag, supplier_tag, level.name)


def _common_len(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def relation(notice_tag: str, supplier_tag: str) -> Level | None:
    """How a supplier code relates to a notice code: ``EXACT``, ``ONE_LEVEL`` (one is the other's parent), else
    the deepest level they share; None when they share none (another scheme, another segment or division)."""
    if notice_tag == supplier_tag:
        return EXACT
    letter = notice_tag[0]
    if letter != supplier_tag[0] or letter == "O":
        return None
    a, b = notice_tag[2:], supplier_tag[2:]
    step = 2 if letter == "U" else 1
    common = _common_len(a, b)
    if common == min(len(a), len(b)) and abs(len(a) - len(b)) == step:
        return ONE_LEVEL
    common -= common % step
    return LEVELS.get((letter, common))


def match(notice_tag: str, supplier_tag: str) -> CodeMatch | None:
    """How a supplier code matches a notice code: exact > one level up/down > shared class > family > segment."""
    level = relation(notice_tag, supplier_tag)
    return None if level is None else CodeMatch.at(level, notice_tag, supplier_tag)


def _shared(t: str) -> CodeMatch | None:
    level = level_of(t)
    return None if level is None else CodeMatch.at(level, t, t)


@dataclass(frozen=True)
class CodeSet:
    """A supplier's codes prepared for matching: its own tags, every ancestor of them, and their parents."""

    own: frozenset[str]
    every_level: frozenset[str]
    parents: dict[str, str]

    @classmethod
    def of(cls, own_tags: set[str] | frozenset[str]) -> CodeSet:
        every: set[str] = set(own_tags)
        parents: dict[str, str] = {}
        # Sorted: a parent with several own children names the lowest one in a "one level" reason, the same in
        # every process (set order follows the per-process string hash seed).
        for t in sorted(own_tags):
            ups = parent_tags(t)
            every.update(ups)
            if ups:
                parents.setdefault(ups[0], t)
        return cls(frozenset(own_tags), frozenset(every), parents)


def best_match(notice_tags: list[str], codes: CodeSet, parents: list[list[str]] | None = None) -> CodeMatch | None:
    """The strongest match between any notice code and any supplier code (same ladder as ``match``).
    ``parents[i]`` may give ``parent_tags(notice_tags[i])`` precomputed."""
    best: CodeMatch | None = None
    own = codes.own
    # Built without ``CodeMatch.at``: this runs for every candidate of every notice.
    for n in notice_tags:
        if n in own:
            return CodeMatch(EXACT.match, n, n, EXACT.name)
    for i, n in enumerate(notice_tags):
        ups = parents[i] if parents is not None else parent_tags(n)
        if ups and ups[0] in codes.own:
            m: CodeMatch | None = CodeMatch(ONE_LEVEL.match, n, ups[0], ONE_LEVEL.name)
        elif n in codes.parents:
            m = CodeMatch(ONE_LEVEL.match, n, codes.parents[n], ONE_LEVEL.name)
        elif n in codes.every_level:
            m = _shared(n)
        else:
            m = None
            for up in ups:
                if up in codes.every_level:
                    m = _shared(up)
                    break
        if m is not None and (best is None or m.score > best.score):
            best = m
    return best


#: What a code suggested from free text is worth in the ``category`` component and in retrieval, against a code the
#: supplier or the buyer stated: the match it makes times this. A suggestion is a best guess from a description
#: (the right UNSPSC family is among the top 5 for about 80% of Chinese descriptions, so the top 3 are wrong about
#: a third of the time): it lets a code-less supplier be found by code, below every supplier that declared the code
#: (an exact suggested match, 0.5, scores below a declared code's shared family, 0.4, plus anything text adds).
#: Measured on bench.xling (``bench/xling/README.md``).
SUGGESTED_CREDIT = 0.5


@dataclass(frozen=True)
class CodeHints:
    """What the ``category`` component and code retrieval read besides the codes a notice and its suppliers state.

    - ``crosswalk``: the CPV <-> UNSPSC table (``crosswalk.Crosswalk``), so codes of the two schemes meet;
    - ``notice``: codes suggested from the notice's text, given only for a notice that states none (the buyer's
      classification is never replaced nor shown as these);
    - ``profiles``: supplier id -> codes suggested from the description of a profile that states none (its own
      ``codes`` stay as the supplier wrote them).
    """

    crosswalk: Crosswalk | None = None
    notice: tuple[SuggestedCode, ...] = ()
    profiles: Mapping[str, tuple[SuggestedCode, ...]] = field(default_factory=dict)


def wants_suggestions(profile: SupplierProfile) -> bool:
    """Whether a profile is matched on codes suggested from its text: it states no code (declared or of a past
    award) and describes itself (a description or keywords; a name alone says too little)."""
    if profile.codes or any(a.classification is not None for a in profile.past_awards):
        return False
    return any(t.strip() for t in [*profile.description.values(), *profile.keywords])


def suggested_tags(suggested: Sequence[SuggestedCode]) -> dict[str, SuggestedCode]:
    """Tag -> suggestion, best first (codes a scheme rejects are left out)."""
    out: dict[str, SuggestedCode] = {}
    for s in suggested:
        t = tag(s.scheme, s.code)
        if t is not None:
            out.setdefault(t, s)
    return out


_SCHEME_OF = {"U": CodeScheme.UNSPSC, "C": CodeScheme.CPV}


def cross_tags(table: Crosswalk | None, notice_tags: Sequence[str]) -> list[tuple[str, str, float]]:
    """``(notice tag, tag of the other scheme, pair score)`` for the notice's UNSPSC and CPV codes through the
    crosswalk: ``CROSSWALK_PAIRS`` per code, ``MAX_CROSSWALK_CODES`` in all, in the notice's order, best first."""
    if table is None:
        return []
    out: list[tuple[str, str, float]] = []
    seen: set[str] = set()
    for t in notice_tags:
        scheme = _SCHEME_OF.get(t[0])
        if scheme is None:
            continue
        for pair in cross(table, scheme, t[2:].ljust(8, "0"), CROSSWALK_PAIRS):
            other = tag(pair.scheme, pair.code)
            if other is None or other in seen:
                continue
            seen.add(other)
            out.append((t, other, pair.score))
            if len(out) == MAX_CROSSWALK_CODES:
                return out
    return out

"""Scheme-tagged code prefixes and how strongly two codes match.

A tag is ``"<scheme letter>:<significant prefix>"``: ``"U:421322"`` is the UNSPSC class 421322, ``"C:3314"`` the CPV
class 3314. Tags make one keyword field serve every scheme and level in Elasticsearch without collisions between
UNSPSC and CPV digits.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.codes import ancestors, prefix
from contracts.common import Classification, CodeScheme

_LETTER = {CodeScheme.UNSPSC: "U", CodeScheme.CPV: "C", CodeScheme.OTHER: "O"}
_SCHEME_NAME = {"U": "UNSPSC", "C": "CPV", "O": "code"}
_UNSPSC_LEVEL = {2: "segment", 4: "family", 6: "class", 8: "commodity"}
_CPV_LEVEL = {2: "division", 3: "group", 4: "class", 5: "category"}

#: Score of a match by the deepest level two codes share (UNSPSC digits -> score; CPV uses the same ladder by digits).
EXACT = 1.0
ONE_LEVEL = 0.85  #: a supplier code one level above or below the notice's code (UNGM's Tender Alert rule)
_SHARED_UNSPSC = {6: 0.6, 4: 0.4, 2: 0.15}
_SHARED_CPV = {7: 0.7, 6: 0.65, 5: 0.6, 4: 0.45, 3: 0.3, 2: 0.15}


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


def level_name(t: str) -> str:
    letter, digits = t[0], t[2:]
    if letter == "U":
        return _UNSPSC_LEVEL.get(len(digits), "code")
    if letter == "C":
        return _CPV_LEVEL.get(len(digits), "subdivision")
    return "code"


def describe(t: str) -> str:
    return f"{_SCHEME_NAME[t[0]]} {t[2:]}"


@dataclass(frozen=True)
class CodeMatch:
    score: float
    notice_tag: str
    supplier_tag: str
    #: ``exact``, ``one level``, or the shared level name (``class``, ``family``, ``segment``...).
    kind: str


def _common_len(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def match(notice_tag: str, supplier_tag: str) -> CodeMatch | None:
    """How a supplier code matches a notice code: exact > one level up/down > shared class > family > segment."""
    if notice_tag[0] != supplier_tag[0] or notice_tag[0] == "O":
        if notice_tag == supplier_tag:
            return CodeMatch(EXACT, notice_tag, supplier_tag, "exact")
        return None
    a, b = notice_tag[2:], supplier_tag[2:]
    if a == b:
        return CodeMatch(EXACT, notice_tag, supplier_tag, "exact")
    unspsc = notice_tag[0] == "U"
    step = 2 if unspsc else 1
    common = _common_len(a, b)
    if common == min(len(a), len(b)) and abs(len(a) - len(b)) == step:
        return CodeMatch(ONE_LEVEL, notice_tag, supplier_tag, "one level")
    if unspsc:
        common -= common % 2
        score = _SHARED_UNSPSC.get(common)
        kind = _UNSPSC_LEVEL.get(common, "")
    else:
        common = min(common, 7)
        score = _SHARED_CPV.get(common)
        kind = _CPV_LEVEL.get(common, "subdivision")
    if score is None:
        return None
    return CodeMatch(score, notice_tag, supplier_tag, kind)


def _shared(t: str) -> CodeMatch | None:
    digits = t[2:]
    if t[0] == "U":
        score, kind = _SHARED_UNSPSC.get(len(digits)), _UNSPSC_LEVEL.get(len(digits), "")
    elif t[0] == "C":
        score, kind = _SHARED_CPV.get(min(len(digits), 7)), _CPV_LEVEL.get(len(digits), "subdivision")
    else:
        return None
    return None if score is None else CodeMatch(score, t, t, kind)


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
    for n in notice_tags:
        if n in own:
            return CodeMatch(EXACT, n, n, "exact")
    for i, n in enumerate(notice_tags):
        ups = parents[i] if parents is not None else parent_tags(n)
        if ups and ups[0] in codes.own:
            m: CodeMatch | None = CodeMatch(ONE_LEVEL, n, ups[0], "one level")
        elif n in codes.parents:
            m = CodeMatch(ONE_LEVEL, n, codes.parents[n], "one level")
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

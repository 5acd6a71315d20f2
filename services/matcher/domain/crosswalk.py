"""CPV <-> UNSPSC: the closest codes of the other scheme, with a score per pair.

No open official correspondence exists, so the table is derived (``python -m bench.xling.build_codes``): from the
two lists' titles (multilingual sentence embeddings and rapidfuzz word overlap), their hierarchies (the parents'
titles agree) and labelled text (AusTender award descriptions filed under a UNSPSC code). A score is 0..1 and says
how alike the two codes read, not that they are equivalent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from contracts.codes import ancestors
from contracts.common import CodeScheme


@dataclass(frozen=True)
class CrosswalkPair:
    scheme: CodeScheme  #: the scheme of ``code``: the other one than the code looked up
    code: str  #: 8 digits
    title: str
    score: float


@dataclass(frozen=True)
class Crosswalk:
    #: ``(scheme, 8-digit code)`` -> the closest codes of the other scheme, best first.
    pairs: Mapping[tuple[CodeScheme, str], tuple[CrosswalkPair, ...]]


def cross(table: Crosswalk, scheme: CodeScheme, code: str, top: int = 5) -> list[CrosswalkPair]:
    """The codes of the other scheme closest to ``code``, best first. A code the table lacks (a commodity it never
    listed, a code padded at a higher level) is read as its nearest listed ancestor; an unknown code of a known
    shape gives ``[]``. Raises ``ValueError`` for a scheme other than UNSPSC or CPV, or a code that is not one."""
    if scheme not in (CodeScheme.UNSPSC, CodeScheme.CPV):
        raise ValueError(f"the crosswalk joins UNSPSC and CPV, not {scheme}")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    for prefix in reversed(ancestors(scheme, code)):  # ValueError for a code that is not 8 digits
        found = table.pairs.get((scheme, prefix.ljust(8, "0")))
        if found:
            return list(found[:top])
    return []


#: What a code reached through the crosswalk is worth in the ``category`` component, times the pair's score: a
#: CPV notice code and a UNSPSC supplier code that read alike (0.7) score 0.56, below an exact same-scheme match
#: (1.0) and a shared class (UNSPSC 0.6), above a shared family (0.4). The table's scores say how alike two
#: titles read, not that the codes are the same (most pairs score 0.4-0.8).
CROSSWALK_CREDIT = 0.8
#: Codes of the other scheme followed per notice code (the table lists 3), and at most this many in all per notice:
#: a notice with 40 codes must not add 120 retrieval clauses.
CROSSWALK_PAIRS = 3
MAX_CROSSWALK_CODES = 12

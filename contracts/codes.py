"""The code hierarchies every service reasons with.

UNSPSC (https://www.unspsc.org/): 8 digits, two per level: segment ``42``, family ``4213``, class ``421322``,
commodity ``42132203``. A code published at a higher level is padded with zeros (``42130000`` is the family
``4213``); its *prefix* is the significant part.

CPV 2008 (Regulation (EC) 213/2008): 8 digits (plus a check digit after a dash). Division ``33``, group
``331``, class ``3314``, category ``33141``, then finer subdivisions; trailing zeros are padding the same way.
"""

from __future__ import annotations

import re

from contracts.common import CodeScheme

_DIGITS = re.compile(r"\D")


def clean_digits(code: str) -> str:
    return _DIGITS.sub("", code)


_CPV_WRITTEN = re.compile(r"^\s*(\d{8})\s*(?:-\s*(\d))?\s*$")


def read_code(scheme: CodeScheme, text: str) -> tuple[str, str | None] | None:
    """A UNSPSC or CPV code as people write it -> ``(8 digits, CPV check digit or None)``, or None if it is not one.

    UNSPSC: spaces and dashes ignored, a 2-, 4- or 6-digit code padded to its 8-digit form (``4213`` ->
    ``42130000``), segment ``00`` refused. CPV: 8 digits with an optional check digit after a dash
    (``33141000-1``); whether the check digit is right is left to the reader (ingest warns on a wrong one).
    """
    if scheme == CodeScheme.UNSPSC:
        digits = text.replace(" ", "").replace("-", "")
        if len(digits) in (2, 4, 6) and digits.isdigit():  # published at a higher level, unpadded
            digits = digits.ljust(8, "0")
        ok = len(digits) == 8 and digits.isdigit() and digits[:2] != "00"
        return (digits, None) if ok else None
    if scheme == CodeScheme.CPV:
        m = _CPV_WRITTEN.match(text)
        return (m.group(1), m.group(2)) if m else None
    return None


def unspsc_prefix(code: str) -> str:
    """Significant prefix of an 8-digit UNSPSC code: ``42130000`` -> ``4213``. Raises ValueError otherwise."""
    if len(code) != 8 or not code.isdigit():
        raise ValueError(f"UNSPSC codes have 8 digits, got {code!r}")
    prefix = code
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def cpv_prefix(code: str) -> str:
    """Significant prefix of an 8-digit CPV code: ``33141000`` -> ``33141``; at least the 2-digit division."""
    if len(code) != 8 or not code.isdigit():
        raise ValueError(f"CPV codes have 8 digits before the check digit, got {code!r}")
    prefix = code.rstrip("0")
    return prefix if len(prefix) >= 2 else code[:2]


def prefix(scheme: CodeScheme, code: str) -> str:
    if scheme == CodeScheme.UNSPSC:
        return unspsc_prefix(code)
    if scheme == CodeScheme.CPV:
        return cpv_prefix(code)
    return code


def ancestors(scheme: CodeScheme, code: str) -> list[str]:
    """Prefixes from the top of the hierarchy down to the code itself.

    UNSPSC ``42132203`` -> ``["42", "4213", "421322", "42132203"]``; CPV ``33141000`` ->
    ``["33", "331", "3314", "33141"]``; other schemes -> ``[code]``.
    """
    p = prefix(scheme, code)
    if scheme == CodeScheme.UNSPSC:
        return [p[:n] for n in range(2, len(p) + 1, 2)]
    if scheme == CodeScheme.CPV:
        return [p[:n] for n in range(2, len(p) + 1)]
    return [p]


#: The levels' names by language and scheme (UNSPSC: 2 digits per level; CPV: division 2 digits, then one per
#: level), as explanations show them to suppliers and buyers.
LEVEL_NAMES: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "UNSPSC": {"segment": "segment", "family": "family", "class": "class", "commodity": "commodity"},
        "CPV": {
            "division": "division",
            "group": "group",
            "class": "class",
            "category": "category",
            "subdivision": "subdivision",
        },
    },
    "zh-Hans": {
        "UNSPSC": {"segment": "大类", "family": "中类", "class": "小类", "commodity": "商品"},
        "CPV": {"division": "大类", "group": "组别", "class": "类别", "category": "子类", "subdivision": "细类"},
    },
}

"""Text that reaches a header or a page line: one rule for every email, reason and page."""

from __future__ import annotations

import re
import unicodedata

from contracts.common import normalize_text

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def header_safe(text: str, limit: int = 180) -> str:
    """One header-safe line: CR, LF and every other control character become a space, runs of spaces collapse,
    the result is cut to ``limit`` characters."""
    cleaned = "".join(" " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch for ch in text)
    cleaned = _SPACES.sub(" ", _CONTROL.sub(" ", cleaned)).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


#: Text a mail client would turn into a link: a URL with a scheme, ``www.``..., a domain name (a dot, then a
#: top-level label of two letters or more), with what follows it up to the next space.
_LINKABLE = re.compile(r"(?i)(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b(?:[/:?#]\S*)?")

#: How many characters of a name someone typed an email shows (a company name fits; a paragraph does not).
NAME_LIMIT = 80


def inert(text: str) -> str:
    """``text`` with what looks like a URL or a domain made inert, as threat reports write them: ``://`` as
    ``[:]//`` and its dots as ``[.]`` (``https://evil.example/login`` -> ``https[:]//evil[.]example/login``), so
    no mail client links it and no reader takes it for one of ours."""
    return _LINKABLE.sub(lambda m: m.group(0).replace("://", "[:]//").replace(".", "[.]"), text)


def shown_name(text: str, limit: int = NAME_LIMIT) -> str:
    """A name someone typed (a supplier's, a registrant's), as an email shows it: as data, not as our words. Control,
    bidi and zero-width characters removed (``contracts.common.normalize_text``), one line of at most ``limit``
    characters (``header_safe``), URLs and domains inert (``inert``); the templates put it in quotes."""
    return inert(header_safe(normalize_text(text), limit))

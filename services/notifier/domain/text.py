"""Text that reaches a header or a page line: one rule for every email, reason and page."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def header_safe(text: str, limit: int = 180) -> str:
    """One header-safe line: CR, LF and every other control character become a space, runs of spaces collapse,
    the result is cut to ``limit`` characters."""
    cleaned = "".join(" " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch for ch in text)
    cleaned = _SPACES.sub(" ", _CONTROL.sub(" ", cleaned)).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"

"""Reading code lists (CSV with ``code`` and ``title`` columns) into the titles emails show beside codes."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from contracts import CodeScheme


def load_code_titles(paths: Iterable[Path]) -> dict[tuple[CodeScheme, str], str]:
    """Read code lists with ``code`` and ``title`` columns. Codes with a check digit (``03000000-1``) are CPV;
    the others UNSPSC."""
    out: dict[tuple[CodeScheme, str], str] = {}
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                code, title = (row.get("code") or "").strip(), (row.get("title") or "").strip()
                if not code or not title:
                    continue
                scheme = CodeScheme.CPV if "-" in code else CodeScheme.UNSPSC
                out[(scheme, code.split("-")[0])] = title
    return out

"""A small code index made with the fake encoder, for the tests of code suggestion."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from contracts.common import CodeScheme
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.domain.suggest import CodeIndex


def title_index(
    encoder: HashingEncoder,
    titles: Mapping[str, str],
    scheme: CodeScheme = CodeScheme.UNSPSC,
    extra: Mapping[str, str] | None = None,
    extra_offset: float = 0.0,
    model: str | None = None,
) -> CodeIndex:
    """One row per title (offset 0), then one per ``extra`` text filed under a code (offset ``extra_offset``)."""
    rows = [*titles.items(), *(extra or {}).items()]
    return CodeIndex(
        scheme=scheme,
        codes=tuple(code for code, _ in rows),
        vectors=encoder.encode([text for _, text in rows]),
        offsets=np.array([0.0] * len(titles) + [extra_offset] * len(extra or {}), dtype=np.float32),
        titles=titles,
        model=model or encoder.model,
    )

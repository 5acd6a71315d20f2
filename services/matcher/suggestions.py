"""Code suggestion as a use case: texts in any language -> UNSPSC or CPV codes, through the ``Encoder`` port and the
code index the caller gives (``adapters.codebook.code_index`` in production, a small index in tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from contracts.common import CodeScheme
from services.matcher.domain.suggest import CodeIndex, SuggestedCode, suggest_codes
from services.matcher.exceptions import InvalidInput
from services.matcher.ports import Encoder

#: The most codes one text may ask for, and the most texts one call may carry.
MAX_TOP = 50
MAX_TEXTS = 1000


class CodeSuggester:
    def __init__(self, encoder: Encoder, index_of: Callable[[CodeScheme], CodeIndex]) -> None:
        self._encoder = encoder
        self._index_of = index_of

    def suggest(self, texts: Sequence[str], scheme: CodeScheme, top: int = 5) -> list[list[SuggestedCode]]:
        """The ``top`` codes of ``scheme`` for each text, best first. ``InvalidInput`` for a blank text, too many
        texts, a ``top`` out of 1..``MAX_TOP``, a scheme other than UNSPSC or CPV, or an index made with another
        encoder than this one (their vectors cannot be compared)."""
        if scheme not in (CodeScheme.UNSPSC, CodeScheme.CPV):
            raise InvalidInput(f"codes are suggested in UNSPSC or CPV, not {scheme}")
        if not 1 <= top <= MAX_TOP:
            raise InvalidInput(f"top must be between 1 and {MAX_TOP}, got {top}")
        if len(texts) > MAX_TEXTS:
            raise InvalidInput(f"at most {MAX_TEXTS} texts at once, got {len(texts)}")
        blank = [i for i, t in enumerate(texts) if not t.strip()]
        if blank:
            raise InvalidInput(f"text {blank[0] + 1} is empty: there is nothing to suggest codes from")
        if not texts:
            return []
        index = self._index_of(scheme)
        if index.model != self._encoder.model:
            raise InvalidInput(
                f"the {scheme} code index was made with {index.model} and the encoder is {self._encoder.model}: "
                "rebuild the index (python -m bench.xling.build_codes) or use that encoder"
            )
        return suggest_codes(self._encoder.encode(list(texts)), index, top)

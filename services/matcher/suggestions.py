"""Code suggestion as a use case: texts in any language -> UNSPSC or CPV codes, through the ``Encoder`` port and the
code index the caller gives (``adapters.codebook.code_index`` in production, a small index in tests): for people
(``CodeSuggester``: the CLI, ``POST /codes/suggest``, the profile page) and for matching (``TextCodes``: profiles and
notices that state no codes are matched on suggested ones, kept apart from their own)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from contracts.common import CodeScheme
from contracts.supplier import SupplierProfile
from services.matcher.domain.codes import wants_suggestions
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


#: Codes suggested per scheme for a profile or a notice that states none: UNSPSC (UNGM, most UN notices) and CPV
#: (TED), so that either kind of notice meets a code-less supplier without going through the crosswalk. Three
#: UNSPSC codes hold the right family for about three Chinese descriptions in four (bench.xling), and a wrong one
#: costs little at ``codes.SUGGESTED_CREDIT``.
HINT_TOP: Mapping[CodeScheme, int] = MappingProxyType({CodeScheme.UNSPSC: 3, CodeScheme.CPV: 2})


class TextCodes:
    """Codes suggested for the profiles and notices that state none (``codes.CodeHints``), from the vectors the
    matcher already computed for them (``semantic.semantic_text`` of a profile, ``semantic.notice_semantic_text`` of
    a notice): no text is encoded a second time. The index must have been made with the encoder of those vectors
    (``for_encoder`` checks)."""

    def __init__(self, index_of: Callable[[CodeScheme], CodeIndex], top: Mapping[CodeScheme, int] = HINT_TOP) -> None:
        self._index_of = index_of
        self._top = dict(top)

    @classmethod
    def for_encoder(cls, encoder: Encoder, index_of: Callable[[CodeScheme], CodeIndex]) -> TextCodes | None:
        """Suggestions for the vectors of ``encoder``; ``None`` when an index was made with another model (its
        vectors cannot be compared)."""
        if any(index_of(scheme).model != encoder.model for scheme in HINT_TOP):
            return None
        return cls(index_of)

    def for_vectors(self, vectors: npt.NDArray[np.float32]) -> list[tuple[SuggestedCode, ...]]:
        """Per row of ``vectors``: the suggested UNSPSC codes, then CPV, each scheme best first."""
        out: list[list[SuggestedCode]] = [[] for _ in range(vectors.shape[0])]
        if not len(out):
            return []
        for scheme, top in self._top.items():
            for row, found in zip(out, suggest_codes(vectors, self._index_of(scheme), top), strict=True):
                row.extend(found)
        return [tuple(row) for row in out]

    def for_profiles(
        self, profiles: Sequence[SupplierProfile], vectors: npt.NDArray[np.float32] | None
    ) -> list[tuple[SuggestedCode, ...]]:
        """Per profile (``vectors``: their rows): its suggested codes if it states none and describes itself
        (``codes.wants_suggestions``), else nothing."""
        out: list[tuple[SuggestedCode, ...]] = [() for _ in profiles]
        wanted = [i for i, p in enumerate(profiles) if wants_suggestions(p)]
        if vectors is None or not wanted:
            return out
        for i, found in zip(wanted, self.for_vectors(vectors[wanted]), strict=True):
            out[i] = found
        return out

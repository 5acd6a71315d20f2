"""Code suggestion: free text in any language -> UNSPSC or CPV codes, with titles and scores.

Pure: the caller encodes the text (the ``Encoder`` port) and passes the scheme's ``CodeIndex`` (package data, read
by ``services.matcher.adapters.codebook``). The index holds one row per code title (UNSPSC via UNGM, CPV from
Regulation (EC) 213/2008) and, for UNSPSC, one per centroid of labelled descriptions (the mean vector of the
AusTender award descriptions filed under a code) and one per distinct labelled description, each row with an offset:
a title is a few words of taxonomy language, so it has to be clearly closer than what buyers actually wrote under a
code before it wins; a single description, noisier than a centroid, has to be closer still, but it keeps the many
ways buyers word one code (``utes``, ``tyres``, ``fleet rubber``) apart instead of averaging them away.

The method: the ``neighbours`` nearest rows vote, each with weight ``exp((s - s_best) / temperature)``, for their code
and for every ancestor of it in the hierarchy (UNSPSC family and class, CPV group and class); a code's score is its
own best vote plus its family's and class's share of all votes. The list keeps at most one code per family
(UNSPSC) or group (CPV), so that five suggestions are five different readings of the text rather than five
neighbours of the first one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from contracts.codes import ancestors
from contracts.common import CodeScheme

#: The prefix lengths votes go up to (family and class; CPV group and class), and the one the list is diverse over.
_VOTE_LEVELS = {CodeScheme.UNSPSC: (4, 6), CodeScheme.CPV: (3, 4)}
_DIVERSE_LEVEL = {CodeScheme.UNSPSC: 4, CodeScheme.CPV: 3}


@dataclass(frozen=True)
class CodeIndex:
    """One scheme's searchable codes. ``codes[i]`` (8 digits) is what row ``vectors[i]`` (L2-normalised) stands for;
    ``offsets[i]`` is added to its cosine; ``titles`` gives every code's title; ``projection`` (dimension of the
    encoder x dimension of the rows), when set, maps an encoder vector into the rows' space; ``model`` names the
    encoder the rows were made with."""

    scheme: CodeScheme
    codes: tuple[str, ...]
    vectors: npt.NDArray[np.float32]
    offsets: npt.NDArray[np.float32]
    titles: Mapping[str, str]
    model: str
    projection: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        if not (len(self.codes) == self.vectors.shape[0] == self.offsets.shape[0]):
            raise ValueError(
                f"a code index needs one code and one offset per vector: {len(self.codes)} codes, "
                f"{self.vectors.shape[0]} vectors, {self.offsets.shape[0]} offsets"
            )
        if self.projection is not None and self.projection.shape[1] != self.vectors.shape[1]:
            raise ValueError(f"projection to {self.projection.shape[1]} dimensions, rows have {self.vectors.shape[1]}")

    @property
    def input_dimension(self) -> int:
        return int(self.vectors.shape[1] if self.projection is None else self.projection.shape[0])

    def project(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Encoder vectors (rows) -> the index's space, L2-normalised."""
        if vectors.ndim != 2 or vectors.shape[1] != self.input_dimension:
            raise ValueError(f"this index takes {self.input_dimension}-dimensional vectors, got shape {vectors.shape}")
        out = vectors if self.projection is None else vectors @ self.projection
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: npt.NDArray[np.float32] = (out / norms).astype(np.float32, copy=False)
        return result


@dataclass(frozen=True)
class SuggestedCode:
    scheme: CodeScheme
    code: str  #: 8 digits, as ``Classification.code``
    title: str
    #: The code's share of the neighbours' votes, its family's and its class's, 0..1 (higher is surer).
    score: float


def suggest_codes(
    vectors: npt.NDArray[np.float32],
    index: CodeIndex,
    top: int = 5,
    *,
    neighbours: int = 40,
    temperature: float = 0.05,
) -> list[list[SuggestedCode]]:
    """The ``top`` codes for each text whose encoder vector is a row of ``vectors``, best first."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if neighbours < 1 or temperature <= 0:
        raise ValueError(f"neighbours must be at least 1 and temperature above 0, got {neighbours}, {temperature}")
    if not index.codes:
        return [[] for _ in range(vectors.shape[0])]
    sims = index.project(vectors) @ index.vectors.T + index.offsets
    return [_vote(row, index, top, min(neighbours, len(index.codes)), temperature) for row in sims]


def _vote(sims: npt.NDArray[np.float32], index: CodeIndex, top: int, n: int, temperature: float) -> list[SuggestedCode]:
    return diverse_top(vote_scores(sims, index, n, temperature), index, top)


def vote_scores(sims: npt.NDArray[np.float32], index: CodeIndex, n: int, temperature: float) -> dict[str, float]:
    """Every code the ``n`` rows nearest by ``sims`` (one query's cosines plus offsets) vote for, with its score: its
    own best vote plus its family's and class's share of all votes, 0..1."""
    levels = _VOTE_LEVELS.get(index.scheme, ())
    nearest = np.argpartition(-sims, n - 1)[:n]
    nearest = nearest[np.argsort(-sims[nearest], kind="stable")]
    weights = np.exp((sims[nearest] - sims[nearest[0]]) / temperature)
    total = float(weights.sum())
    own: dict[str, float] = {}
    votes: dict[str, float] = {}
    for row, weight in zip(nearest.tolist(), weights.tolist(), strict=True):
        code = index.codes[row]
        own[code] = max(own.get(code, 0.0), weight)
        for length in levels:
            votes[code[:length]] = votes.get(code[:length], 0.0) + weight
    return {
        code: (best + sum(votes[code[:length]] for length in levels) / total) / (1 + len(levels))
        for code, best in own.items()
    }


def diverse_top(scores: Mapping[str, float], index: CodeIndex, top: int) -> list[SuggestedCode]:
    """The ``top`` best-scored codes, at most one per family (UNSPSC) or group (CPV)."""
    diverse = _DIVERSE_LEVEL.get(index.scheme, 8)
    out: list[SuggestedCode] = []
    seen: set[str] = set()
    for code in sorted(scores, key=lambda c: (-scores[c], c)):
        if code[:diverse] in seen:
            continue
        seen.add(code[:diverse])
        out.append(SuggestedCode(index.scheme, code, title_of(index, code), round(scores[code], 4)))
        if len(out) == top:
            break
    return out


def title_of(index: CodeIndex, code: str) -> str:
    """The code's title, else its nearest titled ancestor's: buyers use codes of other UNSPSC versions than UNGM's
    list (18 of AusTender's 512), which still read right at the class or family above them."""
    for prefix in reversed(ancestors(index.scheme, code)):
        title = index.titles.get(prefix.ljust(8, "0"))
        if title:
            return title
    return ""

"""Scoring configuration: component weights, threshold, shortlist size, retrieval size."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Bumped whenever the scoring code changes what it computes; part of ``ScoringConfig.algorithm``.
CODE_VERSION = "tbm-2"

#: Hand-set weights used when no fitted model is given (``rank(..., model=None)``). Component names:
#: ``category`` (code hierarchy), ``text`` (TF-IDF cosine), ``wording`` (rapidfuzz token-set vs keywords and
#: past-award descriptions), ``history`` (past awards in the same codes, recency-weighted), ``buyer`` (past awards
#: with the same buyer), ``buyer_code`` (past awards from the same buyer in the same code), ``repeat`` (the same
#: contract won before from this buyer), ``value`` (value fit),
#: ``activity`` (recent award activity overall), ``semantic`` (multilingual sentence-embedding cosine between notice
#: and profile text; counted only when vectors are given, i.e. an encoder is configured).
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "category": 0.25,
        "text": 0.20,
        "wording": 0.10,
        "history": 0.15,
        "buyer": 0.10,
        "buyer_code": 0.05,
        "repeat": 0.05,
        "value": 0.05,
        "activity": 0.05,
        "semantic": 0.50,
    }
)
COMPONENTS: tuple[str, ...] = tuple(DEFAULT_WEIGHTS)


@dataclass(frozen=True)
class ScoringConfig:
    """How ``rank`` and ``build_candidate_query`` behave.

    ``weights`` apply when ``rank`` gets no fitted model; a ``MatchModel`` carries learned weights instead (and its
    own identifier is appended to ``algorithm``).
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    #: Minimum total score (0..1, weights normalised to sum 1) for a supplier to be shortlisted.
    threshold: float = 0.05
    #: Shortlist length.
    top_k: int = 10
    #: How many candidates retrieval returns for scoring.
    candidate_limit: int = 300
    #: Shortlist places kept for suppliers without award history that fit on codes and text (cold start).
    cold_start_slots: int = 2
    #: Minimum category+text fit (0..1) for a supplier without history to claim a cold-start place.
    cold_start_min_fit: float = 0.5
    #: Least rapidfuzz token-set ratio (0..100) between the notice title and a supplier's wording for the wording
    #: component to count; below it the two share a few letters, not words ("beehive frames" against "bacteriology
    #: reagents" scores 47), and neither the score nor a reason should claim a likeness. 50 costs 0.0015 of HR@10
    #: on the development split (0.5149 -> 0.5134; 60: 0.5110, 70: 0.5124; bench/README.md).
    wording_floor: float = 50.0
    #: Half-life in days of the recency weighting of past awards.
    recency_half_life_days: float = 180.0
    #: Whether retrieval also matches on the top level (UNSPSC segment, CPV division); off by default because it is
    #: broad. The boosts of the other levels are ``codes.LEVELS``' ``boost``.
    retrieve_segment: bool = False
    #: Boost of each text-term clause in retrieval, and how many notice terms retrieval uses.
    retrieval_text_boost: float = 1.0
    #: Boosts that only order candidates already matched by a code or a term (they never add one): a past award
    #: from the notice's buyer, and from that buyer in the notice's family or code.
    retrieval_buyer_boost: float = 3.0
    retrieval_buyer_code_boost: float = 8.0
    retrieval_max_terms: int = 24
    #: Profiles nearest in meaning to the notice that the kNN channel adds to the candidates (with an encoder).
    retrieval_knn_k: int = 50

    @property
    def algorithm(self) -> str:
        """``tbm-2/w=<digest>``: identifies code and weights; goes into ``Shortlist.algorithm``."""
        parts = [f"{k}={v:.4f}" for k, v in sorted(self.weights.items())]
        parts += [f"threshold={self.threshold}", f"top_k={self.top_k}", f"cold={self.cold_start_slots}"]
        if self.wording_floor:
            parts.append(f"wording_floor={self.wording_floor}")
        digest = hashlib.sha256(";".join(parts).encode()).hexdigest()[:10]
        return f"{CODE_VERSION}/w={digest}"

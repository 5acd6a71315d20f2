"""The matching domain: pure functions over contract models, no I/O.

Public surface (everything the matcher service and the benchmarks import):

- ``ScoringConfig``: weights, threshold, top-k, candidate limit, ``algorithm`` identifier.
- ``profile_document(profile)`` and ``PROFILE_MAPPING``: the flattened profile indexed for retrieval.
- ``CandidateQuery``, ``build_candidate_query(notice, config)``, ``candidate_query_to_es(query)``: retrieval as data
  and as an Elasticsearch search body; ``InMemoryProfileIndex``: the same retrieval in process.
- ``rank(notice, candidates, config, now, *, model=None, ineligible=frozenset())`` -> ``RankResult``; a candidate
  is what ``candidates.Candidate`` says rank reads: a ``SupplierProfile``, or the ``CompactCandidate`` a packed
  ``InMemoryProfileIndex`` decodes instead (``ranking_candidates``); ``screen(notice, candidates, now)`` ->
  ``Screened``: the hard rules alone, for a caller that reads records and vectors only for the candidates kept
  (then ``rank(..., exclusions=screened.exclusions)``).
- ``MatchModel``, ``fit_model(profiles)``: the optional fitted model (TF-IDF vocabulary and IDF, learned weights;
  nothing per profile: ``scoring.SupplierStats`` records come with the candidates, ``rank(..., stored=...)``).
- ``RULES`` and the rule functions in ``rules``; ``deciding_component(entry)``.
"""

from services.matcher.domain.config import COMPONENTS, DEFAULT_WEIGHTS, ScoringConfig
from services.matcher.domain.documents import PROFILE_MAPPING, profile_document
from services.matcher.domain.model import MatchModel, fit_model
from services.matcher.domain.ranking import RankResult, Screened, deciding_component, rank, screen
from services.matcher.domain.retrieval import (
    CandidateQuery,
    InMemoryProfileIndex,
    build_candidate_query,
    candidate_query_to_es,
)
from services.matcher.domain.rules import RULES

__all__ = [
    "COMPONENTS",
    "DEFAULT_WEIGHTS",
    "PROFILE_MAPPING",
    "RULES",
    "CandidateQuery",
    "InMemoryProfileIndex",
    "MatchModel",
    "RankResult",
    "ScoringConfig",
    "Screened",
    "build_candidate_query",
    "candidate_query_to_es",
    "deciding_component",
    "fit_model",
    "profile_document",
    "rank",
    "screen",
]

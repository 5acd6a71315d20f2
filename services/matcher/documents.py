"""How notices and profiles become Elasticsearch documents (pure: no client here).

Profiles: the domain's ``profile_document`` fields (mapped by ``PROFILE_MAPPING``) plus the whole profile kept
unindexed under ``profile``. Notices: keyword fields for filters and reverse matching (every prefix of every code,
so a filter on ``4213`` finds ``42132203``), a text field, the whole notice under ``notice``, and, with an encoder,
the notice's vector (``NOTICE_VECTOR_FIELD``) for reverse matching's kNN channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from contracts import SupplierProfile, TenderNotice
from contracts.codes import ancestors, clean_digits
from contracts.common import Classification, CodeScheme
from services.matcher.domain import ScoringConfig, build_candidate_query, profile_document
from services.matcher.domain import codes as domain_codes
from services.matcher.domain.semantic import Vector, vector_mapping
from services.matcher.keys import notice_agencies

NOTICE_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "notice_id": {"type": "keyword"},
        "version": {"type": "integer"},
        "status": {"type": "keyword"},
        "agencies": {"type": "keyword"},
        "buyer_name": {"type": "keyword"},
        "codes": {"type": "keyword"},
        "code_prefixes": {"type": "keyword"},
        "retrieval_codes": {"type": "keyword"},
        "retrieval_terms": {"type": "keyword"},
        "countries": {"type": "keyword"},
        "deadline_at": {"type": "date"},
        "published_at": {"type": "date"},
        "text": {"type": "text"},
        "notice": {"type": "object", "enabled": False},
    },
}

#: The notice's vector (``semantic.notice_semantic_text`` of its title and description, encoded when it is stored):
#: the open notices nearest in meaning to a profile are found by it (``NoticeStore.open_for_profile``).
NOTICE_VECTOR_FIELD = "semantic_vector"


#: Cosine from which reverse matching's kNN channel counts a notice near a profile. ``semantic.FLOOR`` (0.10) is where
#: meaning starts to score; just above it the supplier would need its other components to be shortlisted, and those
#: find the notice by codes or keywords anyway. Measured on ``bench.match.imports``' data (the real encoder, 101
#: suppliers saved into 60 open notices): of 2,649 notices reached by meaning alone from 0.10, the supplier was put
#: on 65 shortlists, every one at cosine 0.157 or more; from 0.15, 1,716 re-ranks and all 65 (0.20: 890 and 59).
REVERSE_KNN_FLOOR = 0.15


def notice_mapping(vector_dimension: int | None = None) -> dict[str, Any]:
    """``NOTICE_MAPPING``, plus the notice vector's field given the encoder's dimension."""
    if vector_dimension is None:
        return NOTICE_MAPPING
    properties = {**NOTICE_MAPPING["properties"], NOTICE_VECTOR_FIELD: vector_mapping(vector_dimension)}
    return {**NOTICE_MAPPING, "properties": properties}


SHORTLIST_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "notice_id": {"type": "keyword"},
        "notice_version": {"type": "integer"},
        "notice_status": {"type": "keyword"},
        "supplier_ids": {"type": "keyword"},
        "generated_at": {"type": "date"},
        "shortlist": {"type": "object", "enabled": False},
    },
}

KEY_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "key_hash": {"type": "keyword"},
        "role": {"type": "keyword"},
        "agency": {"type": "keyword"},
        "supplier_id": {"type": "keyword"},
        "label": {"type": "keyword"},
        "created_at": {"type": "date"},
        # Added later (optional): ``ensure_indexes`` puts them into an existing index's mapping.
        "expires_at": {"type": "date"},
        "revoked_at": {"type": "date"},
        "revoked_reason": {"type": "keyword", "index": False},
        "last_used_at": {"type": "date"},
    },
}


def code_prefixes(c: Classification) -> list[str]:
    """Every level of one code, top first; a malformed code is kept as written so it can still match itself."""
    try:
        return ancestors(c.scheme, clean_digits(c.code) if c.scheme != CodeScheme.OTHER else c.code)
    except ValueError:
        return [c.code]


def code_filter_tags(code: str) -> list[str]:
    """The profile ``code_prefixes`` tags a search by code means: ``42130000`` or ``4213`` -> UNSPSC family 4213,
    CPV ``4213``; any other code as written."""
    digits = clean_digits(code)
    out = [f"O:{code}"]
    if len(digits) == 8:
        out += [t for s in (CodeScheme.UNSPSC, CodeScheme.CPV) if (t := domain_codes.tag(s, digits))]
    elif digits:
        out += [f"U:{digits}", f"C:{digits}"]
    return out


def notice_code_prefixes(notice: TenderNotice) -> list[str]:
    seen: dict[str, None] = {}
    for c in notice.all_classifications():
        for p in code_prefixes(c):
            seen.setdefault(p, None)
    return list(seen)


def notice_retrieval_keys(notice: TenderNotice, config: ScoringConfig) -> tuple[list[str], list[str]]:
    """The code tags and text terms forward retrieval asks profiles for (the domain's candidate query)."""
    query = build_candidate_query(notice, config)
    return [t for t, _ in query.code_terms], [t for t, _ in query.text_terms]


def profile_retrieval_keys(profile: SupplierProfile) -> tuple[list[str], list[str]]:
    """The code tags and text terms a profile is found by. Reverse matching looks for open notices whose
    retrieval keys share one of these, which is exactly when forward retrieval of that notice would return the
    profile (up to the candidate limit)."""
    doc = profile_document(profile)
    return list(doc["code_prefixes"]), list(doc["text_terms"])


def reverse_hits(matched: Sequence[TenderNotice], nearest: Sequence[TenderNotice], limit: int) -> list[TenderNotice]:
    """The open notices reverse matching re-ranks for a profile, at most ``limit``: those nearest in meaning
    (``nearest``, closest first) keep their places, and those sharing a code or a keyword with it (``matched``, in
    their order) fill what is left; listed matched first, then the nearest not among them (``union_candidates``'
    order). A profile whose codes reach ``limit`` notices still meets the notices close to it in meaning, which are
    all that a supplier writing in another language and stating no code has. One rule for every store."""
    near = list(nearest[: max(limit, 0)])
    near_ids = {n.notice_id for n in near}
    room = max(limit - len(near), 0)
    others = [n for n in matched if n.notice_id not in near_ids][:room]
    kept = {n.notice_id for n in others} | near_ids
    first = [n for n in matched if n.notice_id in kept]
    listed = {n.notice_id for n in first}
    return [*first, *(n for n in near if n.notice_id not in listed)]


def notice_text(notice: TenderNotice) -> str:
    parts = [notice.title, notice.description]
    parts.extend(item.description or "" for item in notice.items)
    return "\n".join(p for p in parts if p)


def notice_document(notice: TenderNotice, config: ScoringConfig, vector: Vector | None = None) -> dict[str, Any]:
    retrieval_codes, retrieval_terms = notice_retrieval_keys(notice, config)
    countries = dict.fromkeys([*notice.delivery_countries, *notice.beneficiary_countries])
    doc: dict[str, Any] = {
        "notice_id": notice.notice_id,
        "version": notice.version,
        "status": notice.status.value,
        "agencies": notice_agencies(notice),
        "buyer_name": notice.buyer.name,
        "codes": [c.code for c in notice.all_classifications()],
        "code_prefixes": notice_code_prefixes(notice),
        "retrieval_codes": retrieval_codes,
        "retrieval_terms": retrieval_terms,
        "countries": list(countries),
        "deadline_at": _iso(notice.deadline_at),
        "published_at": _iso(notice.published_at),
        "text": notice_text(notice),
        "notice": notice.model_dump(mode="json"),
    }
    if vector is not None:
        doc[NOTICE_VECTOR_FIELD] = [float(x) for x in vector]
    return doc


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()

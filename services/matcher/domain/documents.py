"""The flattened view of a supplier profile that retrieval works on, in process and in Elasticsearch, and the codes
and text of a notice that retrieval and scoring compare with it."""

from __future__ import annotations

from typing import Any

from contracts.notice import TenderNotice
from contracts.supplier import SupplierProfile
from services.matcher.domain import codes, text

#: Distinct past-award descriptions kept in a profile's text (most recent first); bounds the document size.
MAX_AWARD_TEXTS = 200

#: Elasticsearch mapping of ``profile_document`` (the service adds the full profile under a non-indexed field).
#: ``code_prefixes`` and ``text_terms`` are the fields candidate retrieval queries; ``text_en``/``text_zh`` serve
#: free-text search (BM25): the built-in ``standard`` analyzer for English and the built-in ``cjk`` analyzer
#: (character bigrams) for Chinese.
PROFILE_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "supplier_id": {"type": "keyword"},
        "name": {"type": "text", "analyzer": "standard", "fields": {"raw": {"type": "keyword"}}},
        "country": {"type": "keyword"},
        "code_prefixes": {"type": "keyword"},
        "declared_codes": {"type": "keyword"},
        "award_codes": {"type": "keyword"},
        "text_terms": {"type": "keyword"},
        "text_en": {"type": "text", "analyzer": "standard"},
        "text_zh": {"type": "text", "analyzer": "cjk"},
        "keywords": {"type": "keyword"},
        "agencies": {"type": "keyword"},
        "agency_codes": {"type": "keyword"},
        "certifications": {"type": "keyword"},
        "registration_rank": {"type": "integer"},
        "max_value_amount": {"type": "double"},
        "max_value_currency": {"type": "keyword"},
        "award_count": {"type": "integer"},
        "last_award_date": {"type": "date"},
        "preference_countries": {"type": "keyword"},
        "unsubscribed": {"type": "boolean"},
    },
}


def notice_tags(notice: TenderNotice) -> list[str]:
    """Distinct scheme-tagged codes of a notice (invalid codes skipped), in order of appearance."""
    out: dict[str, None] = {}
    for c in notice.all_classifications():
        t = codes.tag_of(c)
        if t:
            out.setdefault(t, None)
    return list(out)


def notice_text(notice: TenderNotice) -> str:
    parts = [notice.title, notice.description]
    parts.extend(i.description for i in notice.items if i.description)
    parts.extend(c.description for c in notice.all_classifications() if c.description)
    return "\n".join(p for p in parts if p)


def profile_text(profile: SupplierProfile) -> tuple[str, str]:
    """(non-Chinese text, Chinese text) of a profile: names, keywords, descriptions, past-award descriptions."""
    parts: list[str] = list(profile.names.values())
    parts.extend(profile.keywords)
    parts.extend(profile.description.values())
    parts.extend(c.description for c in profile.codes if c.description)
    seen: dict[str, None] = {}
    for award in sorted(profile.past_awards, key=lambda a: a.date, reverse=True):
        if award.description and len(seen) < MAX_AWARD_TEXTS:
            seen.setdefault(award.description, None)
    parts.extend(seen)
    latin = [p for p in parts if not text.has_cjk(p)]
    cjk = [p for p in parts if text.has_cjk(p)]
    return "\n".join(latin), "\n".join(cjk)


def declared_tags(profile: SupplierProfile) -> set[str]:
    return {t for c in profile.codes if (t := codes.tag_of(c))}


def award_tags(profile: SupplierProfile) -> set[str]:
    return {t for a in profile.past_awards if a.classification and (t := codes.tag_of(a.classification))}


def code_prefixes(profile: SupplierProfile) -> list[str]:
    """Every level of every declared and past-award code, scheme-tagged and sorted."""
    out: set[str] = set()
    for c in profile.codes:
        out.update(codes.tag_ancestors(c))
    for a in profile.past_awards:
        if a.classification is not None:
            out.update(codes.tag_ancestors(a.classification))
    return sorted(out)


def agency_codes(profile: SupplierProfile) -> list[str]:
    """``"<normalised agency>|<tag>"`` for the family and the exact code of every past award: who bought what."""
    out: set[str] = set()
    for a in profile.past_awards:
        if a.classification is None:
            continue
        agency = text.normalize_phrase(a.agency)
        tags = codes.tag_ancestors(a.classification)
        out.update(f"{agency}|{t}" for t in tags[1:2] + tags[-1:])
    return sorted(out)


def profile_document(profile: SupplierProfile) -> dict[str, Any]:
    """The document indexed for a profile (JSON-serialisable; types in ``PROFILE_MAPPING``).

    - ``supplier_id``, ``country`` (keyword); ``name`` (text, with ``name.raw`` keyword): display name.
    - ``code_prefixes`` (keyword): ``"U:42"``, ``"U:4213"``, ``"U:421322"``, ``"U:42132203"``, ``"C:3314"``... every
      level of every declared and past-award code; ``declared_codes`` / ``award_codes`` (keyword): the codes themselves.
    - ``text_terms`` (keyword): ``text.terms`` of all profile text (names, keywords, descriptions in every language,
      past-award descriptions), distinct; retrieval matches notice terms against it exactly.
    - ``text_en`` / ``text_zh`` (text): the same text split by script, for BM25 search.
    - ``keywords``, ``certifications`` (keyword); ``agencies`` (keyword): normalised buyer names of past awards;
      ``agency_codes`` (keyword): ``"<agency>|<family tag>"`` and ``"<agency>|<code tag>"`` of past awards.
    - ``registration_rank`` (integer, 0 basic .. 2 level 2); ``max_value_amount`` (double) + ``max_value_currency``.
    - ``award_count`` (integer), ``last_award_date`` (date, ``YYYY-MM-DD``, absent without awards).
    - ``preference_countries`` (keyword), ``unsubscribed`` (boolean): from the alert preferences.
    """
    latin, cjk = profile_text(profile)
    last = max((a.date for a in profile.past_awards), default=None)
    return {
        "supplier_id": profile.supplier_id,
        "name": profile.display_name,
        "country": profile.country,
        "code_prefixes": code_prefixes(profile),
        "declared_codes": sorted(declared_tags(profile)),
        "award_codes": sorted(award_tags(profile)),
        "text_terms": sorted(set(text.terms(latin + "\n" + cjk))),
        "text_en": latin,
        "text_zh": cjk,
        "keywords": list(profile.keywords),
        "agencies": sorted({text.normalize_phrase(a.agency) for a in profile.past_awards}),
        "agency_codes": agency_codes(profile),
        "certifications": list(profile.certifications),
        "registration_rank": profile.registration_level.rank,
        "max_value_amount": profile.max_contract_value.amount if profile.max_contract_value else None,
        "max_value_currency": profile.max_contract_value.currency if profile.max_contract_value else None,
        "award_count": len(profile.past_awards),
        "last_award_date": last.isoformat() if last else None,
        "preference_countries": list(profile.preferences.countries),
        "unsubscribed": profile.preferences.unsubscribed,
    }

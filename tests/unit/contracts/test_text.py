"""Text normalised at the contract boundary: controls, bidi overrides and zero-width characters removed, NFC."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import SupplierProfile, TenderNotice
from contracts.common import normalize_text
from services.ingest.domain.jsonl import from_dict
from services.ingest.domain.model import Context

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("Water pumps", "Water pumps"),
        ("tab\tand\nnew line kept", "tab\tand\nnew line kept"),
        ("NUL\x00 inside", "NUL inside"),
        ("carriage\r\nreturn", "carriage\nreturn"),
        ("DEL\x7f and C1\x85\x9b", "DEL and C1"),
        ("UNICEF\u202e nigol/elpmaxe.live", "UNICEF nigol/elpmaxe.live"),
        ("\u2066isolate\u2069 \u202aembedding\u202c", "isolate embedding"),
        ("zero\u200bwidth\u200c\u200d\u2060\ufeff", "zerowidth"),
        ("cafe\u0301", "café"),  # decomposed -> NFC
        ("宁波医疗有限公司", "宁波医疗有限公司"),
        ("no-break\xa0space kept", "no-break\xa0space kept"),
    ],
)
def test_normalize_text(written: str, read: str) -> None:
    assert normalize_text(written) == read


_NOTICE = {"notice_id": "push:1", "source": "push", "source_id": "1", "buyer": {"name": "UNICEF"}}


def test_notice_text_fields_are_normalized() -> None:
    notice = TenderNotice.model_validate(
        {
            **_NOTICE,
            "title": "Pumps\x00\u202e",
            "description": "d\u200be",
            "buyer": {"name": "UNI\u202eCEF"},
            "items": [{"description": "x\x00", "unit": "k\u200bg", "classification": None}],
            "classifications": [{"scheme": "OTHER", "code": "1", "description": "a\u2066b", "scheme_name": "C\x00U"}],
            "documents": [{"url": "https://example.org/a", "title": "R\u202dFP"}],
        }
    )
    assert (notice.title, notice.description, notice.buyer.name) == ("Pumps", "de", "UNICEF")
    assert (notice.items[0].description, notice.items[0].unit) == ("x", "kg")
    assert (notice.classifications[0].description, notice.classifications[0].scheme_name) == ("ab", "CU")
    assert notice.documents[0].title == "RFP"


@pytest.mark.parametrize("title", ["\u200b", "\u202e\x00", " \ufeff "])
def test_a_title_of_invisible_characters_only_is_refused(title: str) -> None:
    with pytest.raises(ValidationError, match="title"):
        TenderNotice.model_validate({**_NOTICE, "title": title})


def test_supplier_text_fields_are_normalized() -> None:
    profile = SupplierProfile.model_validate(
        {
            "supplier_id": "s1",
            "names": {"en": "UNICEF Supply Division\u202e ACTION REQUIRED", "zh-Hans": "宁波\x00医疗"},
            "country": "CN",
            "keywords": ["pu\u200bmps"],
            "description": {"en": "text\x00"},
            "certifications": ["ISO\u20609001"],
            "preferences": {"agencies": ["UNI\u200bCEF"]},
        }
    )
    assert profile.names == {"en": "UNICEF Supply Division ACTION REQUIRED", "zh-Hans": "宁波医疗"}
    assert (profile.keywords, profile.description, profile.certifications) == (["pumps"], {"en": "text"}, ["ISO9001"])
    assert profile.preferences.agencies == ["UNICEF"]


_CLEAN = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs")), max_size=40).map(
    lambda t: unicodedata.normalize("NFC", t)
)


@given(_CLEAN)
def test_clean_text_comes_out_unchanged(text: str) -> None:
    """Text without those characters, in NFC, is not touched: content hashes of such notices do not change."""
    assert normalize_text(text) == text


def test_a_notice_with_such_characters_hashes_as_its_clean_twin() -> None:
    ctx = Context(source="push", detect_language=False)
    clean = from_dict({**_NOTICE, "title": "Water pumps"}, "", ctx)
    dirty = from_dict({**_NOTICE, "title": "Water\u200b pumps\x00"}, "", ctx)
    assert isinstance(clean, TenderNotice)
    assert isinstance(dirty, TenderNotice)
    assert dirty.title == clean.title
    assert dirty.content_hash == clean.content_hash

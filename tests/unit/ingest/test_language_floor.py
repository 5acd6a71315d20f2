"""The confidence floor under detected languages: short, ambiguous or unknown-script text states no language."""

from __future__ import annotations

import pytest

from contracts import TenderNotice
from services.ingest.domain.model import Context
from services.ingest.domain.normalize import detect_language, finish

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Supply of solar powered water pumps for the refugee camps in the north", "en"),
        ("Fourniture de pompes à eau solaires pour les camps de réfugiés du nord", "fr"),
        ("Suministro de bombas de agua para la planta de tratamiento municipal", "es"),
        ("为乍得采购血库冰箱，用于联合国儿童基金会项目", "zh"),
        # In capitals langdetect reads this as German; in lower case as what it is.
        ("ADQUISICIÓN DE EQUIPOS E INSUMOS INFORMATICOS", "es"),
    ],
)
def test_a_clear_sentence_gets_its_language(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text",
    [
        "Solar panels",  # langdetect: ca
        "Labour Hire",  # langdetect: fr, p 0.99999
        "太阳能电池板",  # six characters: too little to tell
        "Ավտոմեքենաների լվացման ծառայություն",  # Armenian: langdetect has no profile and answers et, p 1.0
        "",
        "12345 67890 / 2026-11",
    ],
)
def test_short_ambiguous_or_unknown_text_gets_none(text: str) -> None:
    assert detect_language(text) is None


def fields(title: str, **extra: object) -> dict[str, object]:
    return {"source_id": "1", "title": title, "buyer": {"name": "UNICEF"}, **extra}


def test_a_notice_with_a_short_title_states_no_language() -> None:
    notice = finish(fields("Solar panels"), [], Context(source="push", detect_language=True), {})
    assert isinstance(notice, TenderNotice)
    assert notice.language is None


def test_a_stated_language_is_kept_and_its_notice_hashes_as_without_detection() -> None:
    on = finish(fields("Solar panels", language="en"), [], Context(source="push", detect_language=True), {})
    off = finish(fields("Solar panels", language="en"), [], Context(source="push", detect_language=False), {})
    assert isinstance(on, TenderNotice)
    assert isinstance(off, TenderNotice)
    assert on.language == "en"
    assert on.content_hash == off.content_hash

"""The supplier's pages share one layout: the page's language in ``<html lang>``, a header with the supplier's two
pages, everything else in one ``<main>``; a page without a supplier speaks the reader's language (``?lang=``, else
``Accept-Language``) and offers the other on the same signed link."""

from __future__ import annotations

import html
import re

import pytest

from services.notifier.domain import tokens
from services.notifier.domain.pages import PAGE_LABELS
from tests.unit.notifier.factories import profile
from tests.unit.notifier.rig import Rig, http, seed

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
@pytest.mark.parametrize(("path", "purpose"), [("preferences", tokens.PREFERENCES), ("profile", tokens.PREFERENCES)])
def test_a_suppliers_page_is_in_its_language_with_its_content_in_main(
    rig: Rig, language: str, path: str, purpose: str
) -> None:
    seed(rig, profile("a", language=language))
    n, client = http(rig)
    page = client.get(f"/{path}?token={n.signer.token(purpose, 'a')}").text
    assert f'<html lang="{language}">' in page
    assert page.count("<main>") == 1
    assert page.count("</main>") == 1
    header = page[page.index("<header>") : page.index("</header>")]
    t = PAGE_LABELS[language]
    assert f">{t['nav_preferences']}</a>" in header
    assert f">{t['nav_profile']}</a>" in header
    # nothing but the closing tags after the main content
    assert re.search(r"</main>\s*</body>\s*</html>\s*$", page)


@pytest.mark.parametrize(
    ("headers", "query", "language"),
    [
        ({}, "", "en"),
        ({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}, "", "zh-Hans"),
        ({"Accept-Language": "fr-FR,en;q=0.5"}, "", "en"),
        ({"Accept-Language": "zh-CN"}, "&lang=en", "en"),
        ({}, "&lang=zh-Hans", "zh-Hans"),
        ({}, "&lang=xx", "en"),
    ],
)
def test_a_page_without_a_supplier_speaks_the_readers_language_with_a_switch(
    rig: Rig, headers: dict[str, str], query: str, language: str
) -> None:
    n, client = http(rig)
    token = n.signer.token(tokens.PREFERENCES, "nobody")
    resp = client.get(f"/profile?token={token}{query}", headers=headers)
    assert resp.status_code == 404
    assert f'<html lang="{language}">' in resp.text
    assert PAGE_LABELS[language]["gone_title"] in resp.text
    switch = re.findall(r'<a href="([^"]+)" lang="([^"]+)"', resp.text)
    assert [lang for _, lang in switch] == ["en", "zh-Hans"]
    for href, lang in switch:
        assert html.unescape(href) == f"/profile?token={token}&lang={lang}"

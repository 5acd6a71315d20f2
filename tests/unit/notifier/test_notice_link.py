"""The notice link of an email is one a supplier can open: the notice's own page on its portal (``source_url``),
else the operator's supplier-facing page, else no link at all (never the buyers' sign-in page)."""

from __future__ import annotations

import re

import pytest

from contracts import NotificationKind
from services.notifier.domain.rendering import Links, Rendered, render_digest, render_notice_email
from services.notifier.domain.rules import DigestItem, digest_sections
from services.notifier.settings import Settings
from tests.unit.notifier.factories import NOW, entry, notice, profile

pytestmark = pytest.mark.unit

LANGUAGES = {"en": "View the notice", "zh-Hans": "查看公告"}
UNSUBSCRIBE = "http://127.0.0.1:8002/unsubscribe?token=abc.def"
PREFERENCES = "http://127.0.0.1:8002/preferences?token=ghi.jkl"
PORTAL = "https://tenders.example.org/n/{notice_id}"
OWN = "https://www.ungm.org/Public/Notice/1001"


def links(template: str) -> Links:
    return Links(template, UNSUBSCRIBE, PREFERENCES)


def hrefs(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]*)"', html)) - {UNSUBSCRIBE, PREFERENCES}


def email(language: str, template: str, **extra: object) -> Rendered:
    return render_notice_email(
        NotificationKind.NEW_MATCH, profile(language=language), notice(**extra), entry("sup-1"), links(template), {}
    )


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", ["", PORTAL])
def test_the_notices_own_source_url_is_the_link(language: str, template: str) -> None:
    rendered = email(language, template, source_url=OWN)
    assert hrefs(rendered.html) == {OWN}
    assert f"{LANGUAGES[language]}: {OWN}" in rendered.text
    assert "tenders.example.org" not in rendered.text + rendered.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_source_url_the_operators_portal_is_the_link(language: str) -> None:
    rendered = email(language, PORTAL)
    assert hrefs(rendered.html) == {"https://tenders.example.org/n/ungm:1001"}
    assert f"{LANGUAGES[language]}: https://tenders.example.org/n/ungm:1001" in rendered.text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("source_url", [None, "", "javascript:alert(1)", "/Public/Notice/1", "ftp://x/y", "http://"])
def test_no_usable_link_means_no_link_but_every_other_line(language: str, source_url: str | None) -> None:
    rendered = email(language, "", source_url=source_url)
    assert hrefs(rendered.html) == set()
    for part in (rendered.text, rendered.html):
        assert LANGUAGES[language] not in part
        assert "Supply of nitrile examination gloves" in part
        assert "UNICEF Supply Division" in part
        assert "1,250,000.00 USD" in part
        assert "42132203" in part
        assert UNSUBSCRIBE in part
        assert PREFERENCES in part
    assert "javascript" not in rendered.html


def test_a_source_url_with_spaces_or_controls_is_not_linked() -> None:
    rendered = email("en", PORTAL, source_url="https://x.example/a b\r\nBcc: y")
    assert hrefs(rendered.html) == {"https://tenders.example.org/n/ungm:1001"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_digest_links_each_notice_to_its_own_page_or_to_nothing(language: str) -> None:
    soon = notice("1", title="Closing soon tender", deadline=NOW.replace(day=28), source_url="https://ted.example/1")
    later = notice("2", title="Later tender", deadline=NOW.replace(month=12, day=30))
    sections = digest_sections([DigestItem("k1", soon, entry("sup-1")), DigestItem("k2", later, None)], NOW)
    rendered = render_digest(profile(language=language), sections, NOW.date(), links(""), {})
    assert hrefs(rendered.html) == {"https://ted.example/1"}
    assert rendered.text.count(LANGUAGES[language]) == 1
    assert "Later tender" in rendered.text


def test_the_default_setting_is_no_portal_not_the_buyers_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TB_NOTIFIER_NOTICE_URL_TEMPLATE", raising=False)
    assert Settings().notifier_notice_url_template == ""
    rendered = email("en", Settings().notifier_notice_url_template)
    assert "/ui/notices/" not in rendered.text + rendered.html

"""The buyer pages in English and Simplified Chinese over the in-memory fakes: the language comes from
Accept-Language, ``?lang=`` overrides it and the switch's choice is kept for the next pages; the sign-in refusal, the
marks and their reasons are said in the page's language; what the matcher writes itself is marked as English."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from contracts.feedback import FeedbackMark, FeedbackReason
from contracts.notice import NoticeType
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain.config import COMPONENTS
from services.matcher.entrypoints.http import create_app
from services.matcher.entrypoints.routers.buyer_texts import BUYER_TEXTS, LANGUAGE_COOKIE
from services.matcher.keys import ApiKey, Role, hash_token
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.unit

BUYER = "key-buyer-unicef"
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
ZH, EN = BUYER_TEXTS["zh-Hans"], BUYER_TEXTS["en"]


@pytest.fixture
def browser() -> Iterator[TestClient]:
    c: Container = bootstrap_in_memory(Settings(), clock=lambda: NOW)
    c.keys.put(
        ApiKey(
            key_hash=hash_token(BUYER), role=Role.BUYER, agency="UNICEF", created_at=datetime(2026, 1, 1, tzinfo=UTC)
        )
    )
    for p in (supplier("S1"), supplier("S2")):
        c.matcher.profiles.put(p)
    c.matcher.handle_notice(notice("a1"))
    with TestClient(create_app(c), follow_redirects=False) as client:
        yield client


def sign_in(browser: TestClient, **headers: str) -> None:
    assert browser.post("/ui/login", data={"api_key": BUYER, "next": "/ui/notices"}, headers=headers).status_code == 303


def heading(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page)
    assert found is not None, page
    return found.group(1)


def language(page: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_both_languages_have_the_same_words_and_every_mark_reason_status_and_component_has_its_own() -> None:
    assert BUYER_TEXTS["en"].keys() == BUYER_TEXTS["zh-Hans"].keys()
    # Templates read ``t.key``: Jinja finds a dict's own attribute (``t.items``, the method) before a key of that name.
    assert [k for k in EN if hasattr(dict, k)] == []
    wanted = (
        [f"mark_{m.value}" for m in FeedbackMark]
        + [f"reason_{r.value}" for r in FeedbackReason]
        + [f"component_{c}" for c in COMPONENTS]
        + ["status_active", "status_amended", "status_cancelled"]
        + [f"type_{t.value}" for t in NoticeType]
    )
    assert [k for k in wanted if k not in ZH] == []
    same = [k for k in ZH if ZH[k] == EN[k] and k not in ("nav", "nav_api", "rank")]
    assert same == []  # nothing left untranslated


def test_the_sign_in_page_follows_accept_language_and_lang_overrides_it(browser: TestClient) -> None:
    chinese = browser.get("/ui/login", headers=CHINESE).text
    assert (language(chinese), heading(chinese)) == ("zh-Hans", ZH["sign_in"])
    assert f">{ZH['api_key']} <input" in chinese
    assert 'href="/ui/login?lang=en"' in chinese  # the switch
    english = browser.get("/ui/login?lang=en", headers=CHINESE).text
    assert (language(english), heading(english)) == ("en", "Sign in")


def test_a_refused_key_is_said_in_the_language_of_the_form(browser: TestClient) -> None:
    refused = browser.post("/ui/login", data={"api_key": "nope", "lang": "zh-Hans", "next": "/ui/notices"})
    assert refused.status_code == 401
    assert f'<p class="error" role="alert">{ZH["refusal_unknown"]}</p>' in refused.text
    assert language(refused.text) == "zh-Hans"


def test_the_switch_is_kept_for_the_next_pages(browser: TestClient) -> None:
    sign_in(browser)
    switched = browser.get("/ui/notices?show=all&lang=zh-Hans")
    assert (language(switched.text), heading(switched.text)) == ("zh-Hans", ZH["notices"])
    assert browser.cookies.get(LANGUAGE_COOKIE) == "zh-Hans"
    assert 'href="/ui/notices?show=all&amp;lang=en"' in switched.text  # back to English, the filters kept
    page = browser.get("/ui/notices/ungm%3Aa1").text  # no lang, an English browser: the choice holds
    assert language(page) == "zh-Hans"
    assert f"<h2>{ZH['shortlist']}</h2>" in page
    assert f"<h2>{ZH['items_heading']}</h2>" in page
    assert browser.get("/ui/notices?lang=en").text.count(f"<h1>{EN['notices']}</h1>") == 1


def test_the_notice_page_in_chinese_offers_the_marks_in_chinese_and_marks_the_same(browser: TestClient) -> None:
    sign_in(browser, **CHINESE)
    page = browser.get("/ui/notices/ungm%3Aa1", headers=CHINESE).text
    assert language(page) == "zh-Hans"
    for mark in ("mark_invite", "mark_relevant", "mark_not_relevant"):
        assert f">{ZH[mark]}</button>" in page
    assert f'<option value="wrong_products">{ZH["reason_wrong_products"]}</option>' in page
    assert '<span lang="en">' in page  # the matcher's own English reasons, marked as such
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "supplier_id": "S2", "mark": "not_relevant", "reason": "wrong_products"}
    assert browser.post("/ui/notices/ungm%3Aa1/feedback", data=form, headers=CHINESE).status_code == 303
    after = browser.get("/ui/notices/ungm%3Aa1", headers=CHINESE).text
    assert f"{ZH['mark_not_relevant']}</span>{ZH['colon']}{ZH['reason_wrong_products']}" in after


def test_an_expired_mark_form_is_refused_in_the_pages_language(browser: TestClient) -> None:
    sign_in(browser, **CHINESE)
    form = {"csrf": "1.expired", "supplier_id": "S2", "mark": "invite"}
    refused = browser.post("/ui/notices/ungm%3Aa1/feedback", data=form, headers=CHINESE)
    assert refused.status_code == 403
    assert (heading(refused.text), ZH["form_expired"] in refused.text) == (ZH["not_marked_title"], True)

"""The buyer pages in English and Simplified Chinese over the in-memory fakes: the language comes from
Accept-Language, ``?lang=`` overrides it and the switch's choice is kept for the next pages; the sign-in refusal, the
marks and their reasons are said in the page's language, and so are a shortlist's reasons (from each component's
``reason_code`` and ``reason_args``); what the matcher writes only in English (a reason code without a Chinese wording,
args that do not fit it) is its stored English line, marked ``lang="en"``."""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from contracts.feedback import FeedbackMark, FeedbackReason
from contracts.notice import NoticeType
from contracts.shortlist import ADJUSTMENT_CODES, REASON_CODES, ScoreComponent
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain.config import COMPONENTS
from services.matcher.domain.reasons import reason
from services.matcher.entrypoints.http import create_app
from services.matcher.entrypoints.routers.buyer_texts import BUYER_REASONS, BUYER_TEXTS, LANGUAGE_COOKIE, reason_line
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
def container() -> Container:
    c: Container = bootstrap_in_memory(Settings(), clock=lambda: NOW)
    c.keys.put(
        ApiKey(
            key_hash=hash_token(BUYER), role=Role.BUYER, agency="UNICEF", created_at=datetime(2026, 1, 1, tzinfo=UTC)
        )
    )
    for p in (supplier("S1"), supplier("S2")):
        c.matcher.profiles.put(p)
    c.matcher.handle_notice(notice("a1"))
    return c


@pytest.fixture
def browser(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), follow_redirects=False) as client:
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
    assert '<span lang="en">' not in page  # the reasons too are said in Chinese (below)
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


PAGE = "/ui/notices/ungm%3Aa1"
#: The notice's code is the supplier's own: the category component's reason is ``code_exact``.
EXACT_ZH = "UNSPSC 42132203 是该供应商登记的代码之一"
EXACT_EN = "UNSPSC 42132203 is one of the supplier's codes"

#: An example value for every arg name of ``REASON_CODES``, as the matcher gives them (code prefixes, level names).
SAMPLE_ARGS: dict[str, str | int | float] = {
    "scheme": "UNSPSC",
    "code": "421322",
    "supplier_code": "4213",
    "supplier_scheme": "CPV",
    "level": "family",
    "percent": 87,
    "words": "gloves,nitrile",
    "phrase": "nitrile gloves",
    "notice_words": "examination gloves",
    "awards": 3,
    "family_awards": 5,
    "last": "2025-03-01",
    "times": 2,
    "from_buyer": 1,
    "notice_id": "ungm:1",
}


def reason_items(page: str) -> list[str]:
    """The reason lines of the page's shortlist (each ``<li>`` after a component's name and contribution)."""
    return [html.unescape(m) for m in re.findall(r"</strong> \d\.\d{3}: (.*?)</li>", page, flags=re.S)]


def test_the_chinese_notice_page_says_a_reason_in_chinese_from_its_code_and_args(browser: TestClient) -> None:
    sign_in(browser)
    page = browser.get(f"{PAGE}?lang=zh-Hans").text
    items = reason_items(page)
    assert EXACT_ZH in items  # the category's reason, in the page's language: no lang="en" around it
    assert not any(EXACT_EN in item for item in items)
    english = browser.get(f"{PAGE}?lang=en").text
    assert EXACT_EN in reason_items(english)  # the English page keeps the stored line


def test_a_reason_code_without_a_chinese_wording_shows_the_stored_english_line_marked_english(
    browser: TestClient, container: Container
) -> None:
    stored = container.matcher.shortlists.get("ungm:a1", 1)
    assert stored is not None
    entry = stored.entries[0]
    category = next(c for c in entry.components if c.reason_code == "code_exact")
    unknown = category.model_copy(update={"reason_code": "code_from_a_newer_matcher", "reason": "a newer line"})
    components = [unknown if c is category else c for c in entry.components]
    container.matcher.shortlists.put(
        stored.model_copy(update={"entries": [entry.model_copy(update={"components": components})]})
    )
    sign_in(browser)
    items = reason_items(browser.get(f"{PAGE}?lang=zh-Hans").text)
    assert '<span lang="en">a newer line</span>' in items
    assert EXACT_ZH not in items


@pytest.mark.parametrize("code", sorted(set(REASON_CODES) - ADJUSTMENT_CODES))
def test_every_component_reason_code_has_a_chinese_line_from_the_args_the_matcher_gives(code: str) -> None:
    made = reason(code, **{name: SAMPLE_ARGS[name] for name in REASON_CODES[code]})
    component = ScoreComponent(
        name="category", score=1, weight=1, contribution=1, reason=made.text, reason_code=code, reason_args=made.args
    )
    line, language = reason_line(component, "zh-Hans")
    assert (language, line != made.text, "{" in line) == ("zh-Hans", True, False)
    assert re.search(r"[\u4e00-\u9fff]", line), line  # Chinese words, not the English line


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ({"scheme": "UNSPSC", "code": "421322", "level": "shelf", "supplier_code": "4213"}, "a level no scheme has"),
        ({"scheme": "UNSPSC", "code": "421322"}, "args missing"),
    ],
)
def test_args_that_do_not_fit_a_code_show_the_stored_english_line(args: dict[str, str], why: str) -> None:
    component = ScoreComponent(
        name="category", score=1, weight=1, contribution=1, reason="the stored line", reason_code="code_near",
        reason_args=args,
    )  # fmt: skip
    assert reason_line(component, "zh-Hans") == ("the stored line", "en"), why


def test_a_code_of_another_scheme_is_named_a_code_and_written_as_published() -> None:
    made = reason("code_exact", scheme="other", code="X-17")
    component = ScoreComponent(
        name="category", score=1, weight=1, contribution=1, reason=made.text, reason_code="code_exact",
        reason_args=made.args,
    )  # fmt: skip
    assert reason_line(component, "zh-Hans") == ("代码 X-17 是该供应商登记的代码之一", "zh-Hans")
    assert reason_line(component, "en") == ("code X-17 is one of the supplier's codes", "en")
    assert set(BUYER_REASONS) == {"zh-Hans"}  # English is the stored line itself, never written twice

"""axe-core in Chromium on every page of the matcher, in both languages (English and Simplified Chinese, asked for
by the browser's Accept-Language: the registration pages, the sign-in, the notice list, the notice with its
shortlist and a refused mark; the revoked-key page is English only): no serious or critical violation, and every
page's content within landmarks (``landmark-one-main``, ``region``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By

from services.matcher.entrypoints.routers.buyer_texts import BUYER_TEXTS
from services.matcher.keys import ApiKey, Role, hash_token
from tests.browser.conftest import Site, sign_in

pytestmark = pytest.mark.browser

#: Rules that must pass besides every serious and critical one: what axe found on every page before.
LANDMARK_RULES = {"landmark-one-main", "region"}
ENGLISH, CHINESE = "en-US,en", "zh-CN,zh"


def register_with_errors(browser: Any, site: Site) -> None:
    browser.get(f"{site.url}/register")
    browser.find_element(By.NAME, "company").send_keys("Co")
    browser.find_element(By.NAME, "country").send_keys("X1")
    browser.find_element(By.NAME, "email").send_keys("shop@gloves")
    browser.find_element(By.NAME, "description").send_keys("gloves")
    browser.find_element(By.NAME, "codes").send_keys("12, abc")
    browser.find_element(By.ID, "register-submit").click()
    assert browser.find_elements(By.CLASS_NAME, "field-error"), "the form was not refused"


def notice_page(browser: Any, site: Site) -> None:
    sign_in(browser, site)
    browser.get(f"{site.url}/ui/notices/{quote(site.notice_id, safe='')}")


def revoked_key_page(browser: Any, site: Site) -> None:
    token = "tbk_browser-revoked"
    keys = site.container.keys
    keys.put(ApiKey(key_hash=hash_token(token), role=Role.BUYER, agency="UNICEF", created_at=datetime.now(UTC)))
    sign_in(browser, site, token)
    keys.revoke(hash_token(token), datetime.now(UTC), "browser test")
    browser.get(f"{site.url}/ui/notices")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in again"


def registration_refused_for_too_many(browser: Any, site: Site) -> None:
    from services.matcher.service import SlidingWindows

    registration = site.container.registration
    before = registration.per_client
    registration.per_client = SlidingWindows({"hour": (timedelta(hours=1), 1)})
    try:
        for n in range(2):
            browser.get(f"{site.url}/register")
            for name, value in (("company", "Limit Co"), ("country", "CN"), ("description", "gloves")):
                browser.find_element(By.NAME, name).send_keys(value)
            browser.find_element(By.NAME, "email").send_keys(f"limit-{n}-{uuid.uuid4().hex[:8]}@example.com")
            browser.find_element(By.ID, "register-submit").click()
    finally:
        registration.per_client = before
    assert browser.find_element(By.TAG_NAME, "h1").text in ("Too many registrations", "注册次数过多")


def mark_with_an_expired_form(browser: Any, site: Site) -> None:
    notice_page(browser, site)
    form = browser.find_element(By.XPATH, "//form[input[@name='mark' and @value='invite']]")
    browser.execute_script("arguments[0].querySelector('[name=csrf]').value = '1.expired'", form)
    form.find_element(By.TAG_NAME, "button").click()
    assert browser.find_element(By.TAG_NAME, "h1").text in ("Not marked", BUYER_TEXTS["zh-Hans"]["not_marked_title"])


PAGES: dict[str, Callable[[Any, Site], None]] = {
    "registration form": lambda b, s: b.get(f"{s.url}/register"),
    "registration form with errors": register_with_errors,
    "registration sent": lambda b, s: b.get(f"{s.url}/register/sent"),
    "registration refused for too many": registration_refused_for_too_many,
    "sign-in": lambda b, s: b.get(f"{s.url}/ui/login"),
    "notice list": lambda b, s: sign_in(b, s),
    "notice with its shortlist": notice_page,
    "revoked key": revoked_key_page,
    "mark refused (expired form)": mark_with_an_expired_form,
}
CASES = [(page, language) for page in PAGES for language in (ENGLISH, CHINESE)]


@pytest.mark.parametrize(("page", "browser"), CASES, indirect=["browser"])
def test_no_serious_accessibility_violation(
    page: str, browser: Any, site: Site, request: pytest.FixtureRequest
) -> None:
    from axe_selenium_python import Axe

    PAGES[page](browser, site)
    if page != "revoked key":  # each page in the language the browser asks for
        expected = "zh-Hans" if request.node.callspec.params["browser"] == CHINESE else "en"
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == expected
    axe = Axe(browser.wrapped_driver)
    axe.inject()
    violations = axe.run()["violations"]
    found = [
        (v["id"], v["impact"], [n["html"][:120] for n in v["nodes"][:3]])
        for v in violations
        if v.get("impact") in ("serious", "critical") or v["id"] in LANDMARK_RULES
    ]
    assert not found, f"{page}: {found}"

"""A supplier registers itself in a real browser, in English and in Chinese: the page speaks the browser's language
(with a switch), every wrong field is said beside it in that language, and the registration creates a profile
whose address waits for its owner's confirmation (no alert before it). A known mailbox gets the same answer and
no second profile."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from services.matcher.domain.registration import self_supplier_id
from tests.browser.conftest import FORM_SECRET, Site, unique_address

pytestmark = pytest.mark.browser


def fill(browser: Any, **fields: str) -> None:
    for name, value in fields.items():
        element = browser.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)


def submit(browser: Any) -> None:
    browser.find_element(By.ID, "register-submit").click()


def stored(site: Site, address: str) -> Any:
    return site.container.matcher.profiles.get(self_supplier_id(FORM_SECRET.encode(), address))


def test_a_supplier_registers_in_english_and_its_address_waits_for_confirmation(browser: Any, site: Site) -> None:
    address = unique_address("ningbo")
    browser.get(f"{site.url}/register")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Register your company"
    fill(
        browser,
        company="Ningbo Care Gloves Co.",
        country="CN",
        email=address,
        description="We make nitrile examination gloves and surgical masks.",
        codes="42132203, CPV 33141420-0",
        frequency="daily_digest",
        timezone="Asia/Shanghai",
    )
    submit(browser)
    assert browser.find_element(By.ID, "sent").text == "Check your inbox"
    profile = stored(site, address)
    assert profile is not None, "the registration created no profile"
    assert profile.unconfirmed_emails() == [address]
    assert profile.alert_emails() == []  # no alert before the owner confirms
    assert profile.email_confirmations[address].registered_by == "Ningbo Care Gloves Co."
    assert [(c.scheme.value, c.code) for c in profile.codes] == [("UNSPSC", "42132203"), ("CPV", "33141420")]
    assert profile.preferences.frequency.value == "daily_digest"
    assert profile.preferences.timezone == "Asia/Shanghai"


@pytest.mark.parametrize("browser", ["zh-CN,zh;q=0.9,en;q=0.5"], indirect=True)
def test_a_supplier_registers_in_chinese_from_the_browsers_language(browser: Any, site: Site) -> None:
    address = unique_address("yiwu")
    browser.get(f"{site.url}/register")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-Hans"
    assert browser.find_element(By.TAG_NAME, "h1").text == "注册您的公司"
    fill(browser, company="义乌手套厂", country="CN", email="shop@gloves", description="我们生产丁腈手套")
    submit(browser)
    # A wrong address is said beside its field, in Chinese, and what was typed stays.
    error = browser.find_element(By.ID, "email-error")
    assert "不是可以发送邮件的电子邮箱地址" in error.text
    assert browser.find_element(By.NAME, "email").get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.NAME, "company").get_attribute("value") == "义乌手套厂"
    fill(browser, email=address)
    submit(browser)
    assert browser.find_element(By.ID, "sent").text == "请查收邮件"
    profile = stored(site, address)
    assert profile is not None, "the registration created no profile"
    assert profile.names == {"zh-Hans": "义乌手套厂"}
    assert profile.description == {"zh-Hans": "我们生产丁腈手套"}
    assert profile.preferences.language == "zh-Hans"
    assert profile.preferences.timezone == "Asia/Shanghai"
    assert profile.unconfirmed_emails() == [address]


@pytest.mark.parametrize("browser", ["zh-CN,zh"], indirect=True)
def test_the_language_switch_turns_the_page_into_english(browser: Any, site: Site) -> None:
    browser.get(f"{site.url}/register")
    browser.find_element(By.ID, "switch-language").click()
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Register your company"


def test_a_known_mailbox_gets_the_same_answer_and_no_second_profile(browser: Any, site: Site) -> None:
    address = unique_address("repeat")
    form = {"company": "Repeat Co.", "country": "VN", "description": "Cotton bed sheets"}
    browser.get(f"{site.url}/register")
    fill(browser, email=address, **form)
    submit(browser)
    first = browser.find_element(By.TAG_NAME, "main").text
    before = stored(site, address)
    local, domain = address.split("@")
    browser.get(f"{site.url}/register")
    fill(browser, email=f"{local.upper()}+again@{domain}", **form)  # the same mailbox, spelled otherwise
    submit(browser)
    assert browser.find_element(By.TAG_NAME, "main").text == first
    assert stored(site, address) == before  # not written again: no second confirmation


def test_a_supplier_keeps_a_suggested_code_with_its_title(browser: Any, site: Site) -> None:
    address = unique_address("suggest")
    browser.get(f"{site.url}/register")
    fill(
        browser,
        company="Suzhou Surgical Gloves Ltd.",
        country="CN",
        email=address,
        description="We make sterile latex surgical gloves for hospitals.",
    )
    browser.find_element(By.ID, "suggest-codes").click()
    offered = browser.find_elements(By.CSS_SELECTOR, "#suggested-codes label")
    assert offered, "no code was suggested"
    assert not [o for o in offered if o.find_element(By.NAME, "accept").is_selected()]  # the supplier chooses
    # What was typed stays; the supplier ticks the suggestions whose titles say gloves.
    assert browser.find_element(By.NAME, "company").get_attribute("value") == "Suzhou Surgical Gloves Ltd."
    gloves = [o for o in offered if "glove" in o.text.lower()]
    assert gloves, f"no glove code among {[o.text for o in offered]}"
    for label in gloves:
        label.find_element(By.NAME, "accept").click()
    kept = {label.find_element(By.NAME, "accept").get_attribute("value") for label in gloves}
    submit(browser)
    assert browser.find_element(By.ID, "sent").text == "Check your inbox"
    profile = stored(site, address)
    assert profile is not None
    assert {f"{c.scheme.value}:{c.code}" for c in profile.codes} == kept

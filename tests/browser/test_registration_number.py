"""The official registration number on the registration form in a real browser, in English and in Chinese: its
check digit's error said beside it, what was typed kept, and the number kept pending (it claims nothing before the
address is confirmed). A module of its own: its own site, so the registrations of ``test_registration`` do not spend
this client's hourly posts (``TB_MATCHER_REGISTER_PER_CLIENT_HOUR``)."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import Site, unique_address
from tests.browser.test_registration import fill, stored, submit

pytestmark = pytest.mark.browser


def test_a_supplier_gives_its_abn_and_it_waits_for_the_address_before_claiming_anything(
    browser: Any, site: Site
) -> None:
    address = unique_address("gw")
    browser.get(f"{site.url}/register")
    help_text = browser.find_element(By.ID, "identifier-help").text
    assert "A company name alone adds none of them" in help_text
    fill(
        browser,
        company="GW Medical",
        country="AU",
        email=address,
        id_scheme="AU-ABN",
        id_value="51 824 753 557",
        description="Nitrile examination gloves.",
    )
    submit(browser)
    # A wrong check digit is said beside the number, which stays as typed.
    value = browser.find_element(By.NAME, "id_value")
    assert "is not a number of the register chosen" in browser.find_element(By.ID, "id_value-error").text
    assert value.get_attribute("aria-invalid") == "true"
    assert value.get_attribute("value") == "51 824 753 557"
    assert Select(browser.find_element(By.NAME, "id_scheme")).first_selected_option.get_attribute("value") == "AU-ABN"
    fill(browser, id_value="51 824 753 556")
    submit(browser)
    assert browser.find_element(By.ID, "sent").text == "Check your inbox"
    profile = stored(site, address)
    assert profile is not None, "the registration created no profile"
    assert (profile.pending_identifiers, profile.identifiers) == (["AU-ABN:51824753556"], [])


@pytest.mark.parametrize("browser", ["zh-CN,zh;q=0.9,en;q=0.5"], indirect=True)
def test_the_number_field_and_its_errors_are_in_chinese(browser: Any, site: Site) -> None:
    browser.get(f"{site.url}/register")
    assert "仅凭公司名称不会加入任何合同" in browser.find_element(By.ID, "identifier-help").text
    options = [o.text for o in Select(browser.find_element(By.NAME, "id_scheme")).options]
    assert "统一社会信用代码（中国）" in options
    fill(
        browser,
        company="宁波医疗用品有限公司",
        country="CN",
        email=unique_address("nb"),
        id_scheme="CN-USCC",
        id_value="91350100M000100Y44",
        description="我们生产丁腈手套",
    )
    submit(browser)
    assert "不是所选登记机构的号码" in browser.find_element(By.ID, "id_value-error").text

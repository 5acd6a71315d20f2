"""A buyer decides on a shortlist in a real browser: sign in, the notice list, the notice's shortlist, *not
relevant* with a reason; the mark shows on the page, is stored for the buyer's agency and published on the feedback
topic. Then the same with the keyboard alone: Tab and Enter reach every action of every entry; and the whole
journey by keyboard, in English and in Chinese, up to the rematched shortlist where the supplier marked not relevant
has moved down, its score lowered and the mark explained."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from contracts.feedback import FeedbackMark, FeedbackReason, feedback_id
from services.matcher.entrypoints.routers.buyer_texts import BUYER_TEXTS
from services.matcher.keys import ApiKey, Role, hash_token
from tests.browser.conftest import BUYER, Site, sign_in
from tests.integration.ingest.helpers import read_topic
from tests.unit.matcher_service.builders import notice

pytestmark = pytest.mark.browser


def open_notice_from_list(browser: Any, site: Site) -> None:
    assert browser.current_url.endswith("/ui/notices"), browser.current_url
    browser.find_element(By.LINK_TEXT, "Nitrile examination gloves").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Nitrile examination gloves"


def test_a_buyer_marks_a_supplier_not_relevant_with_a_reason_and_sees_the_mark(browser: Any, site: Site) -> None:
    sign_in(browser, site)
    open_notice_from_list(browser, site)
    supplier_id = site.supplier_ids[1]
    row = browser.find_element(By.ID, f"entry-{supplier_id}")
    assert row.find_element(By.ID, f"mark-{supplier_id}").text == "Not marked yet"
    Select(row.find_element(By.NAME, "reason")).select_by_value("wrong_products")
    row.find_element(By.XPATH, ".//button[normalize-space()='Not relevant']").click()
    shown = browser.find_element(By.ID, f"mark-{supplier_id}").text
    assert shown.startswith("Not relevant: wrong products"), shown
    other = site.supplier_ids[0]
    assert browser.find_element(By.ID, f"mark-{other}").text == "Not marked yet"  # only the entry marked
    marks = site.container.matcher.feedback.for_notice(site.notice_id, "unicef")  # type: ignore[union-attr]
    assert [(m.supplier_id, m.mark, m.reason) for m in marks] == [
        (supplier_id, FeedbackMark.NOT_RELEVANT, FeedbackReason.WRONG_PRODUCTS)
    ]
    published = read_topic(site.settings.kafka_bootstrap_servers, site.settings.topic_feedback, expected=1)
    key = feedback_id("unicef", site.notice_id, supplier_id)
    assert [(k, json.loads(v)["mark"]) for k, v in published] == [(key, "not_relevant")]


def press(browser: Any, *keys: str) -> Any:
    ActionChains(browser.wrapped_driver).send_keys(*keys).perform()
    return browser.switch_to.active_element


def tab_to(browser: Any, wanted: Any, limit: int = 200) -> None:
    """Tab until ``wanted`` (a predicate of the focused element) holds; fails if it is never reached."""
    for _ in range(limit):
        focused = press(browser, Keys.TAB)
        if wanted(focused):
            return
    pytest.fail("Tab never reached the element")


def tab_around(browser: Any) -> list[str]:
    """The ids of the elements Tab focuses, in order, once around the page."""
    reached: list[str] = []
    for _ in range(300):
        focused = press(browser, Keys.TAB).id
        if focused in reached:
            break
        reached.append(focused)
    return reached


def test_keyboard_alone_signs_in_opens_a_notice_and_reaches_every_action(browser: Any, site: Site) -> None:
    browser.get(f"{site.url}/ui/login")
    tab_to(browser, lambda e: e.get_attribute("name") == "api_key")
    press(browser, BUYER, Keys.ENTER)
    loaded(browser, "Notices")
    assert browser.current_url.endswith("/ui/notices")
    tab_to(browser, lambda e: e.tag_name == "a" and e.text == "Nitrile examination gloves")
    press(browser, Keys.ENTER)
    loaded(browser, "Nitrile examination gloves")
    actions = browser.wrapped_driver.find_elements(By.CSS_SELECTOR, ".actions button, .actions select")
    assert len(actions) == 4 * len(site.supplier_ids)  # invite, relevant, reason, not relevant per entry
    reached = tab_around(browser)
    missed = [a.get_attribute("aria-label") or a.get_attribute("name") for a in actions if a.id not in reached]
    assert not missed, f"Tab does not reach {missed}"
    first = site.supplier_ids[0]
    tab_to(browser, lambda e: e.get_attribute("aria-label") == "Relevant: Ningbo Gloves Co.")
    submit(browser, Keys.ENTER)
    assert browser.find_element(By.ID, f"mark-{first}").text.startswith("Relevant")


def test_keyboard_alone_reaches_every_field_of_the_registration_form(browser: Any, site: Site) -> None:
    browser.get(f"{site.url}/register")
    fields = browser.wrapped_driver.find_elements(
        By.CSS_SELECTOR,
        "form.register input:not([type=hidden]), form.register select, form.register textarea, form.register button",
    )
    reached = tab_around(browser)
    honeypot = browser.wrapped_driver.find_element(By.NAME, "website")
    assert honeypot.id not in reached  # people never land in the field meant for robots
    missed = [f.get_attribute("name") or f.text for f in fields if f.id not in reached and f.id != honeypot.id]
    assert not missed, f"Tab does not reach {missed}"


def loaded(browser: Any, heading: str) -> None:
    """Wait until the page's heading is ``heading`` (a key press that follows a link or submits a form returns before
    the next page is there, and a look at the old one while it goes fails in several ways: each is looked past);
    fails, naming what was shown, after 20 s."""
    wait = WebDriverWait(browser.wrapped_driver, 20, ignored_exceptions=(WebDriverException,))
    shown = "const h = document.querySelector('h1'); return h === null ? null : h.innerText.trim();"
    try:
        wait.until(lambda d: d.execute_script(shown) == heading)
    except TimeoutException:
        pytest.fail(f"the page {heading!r} did not come; shown: {browser.find_element(By.TAG_NAME, 'h1').text!r}")


def submit(browser: Any, *keys: str) -> None:
    """Press ``keys`` that submit a form to the page it is on, and wait until the page came back (a key press does
    not wait for the page it loads: the old page must go first)."""
    page = browser.wrapped_driver.find_element(By.TAG_NAME, "html")
    press(browser, *keys)
    wait = WebDriverWait(browser.wrapped_driver, 20, ignored_exceptions=(WebDriverException,))
    wait.until(expected_conditions.staleness_of(page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


@dataclass(frozen=True)
class Row:
    """A shortlist entry as the page shows it."""

    supplier_id: str
    rank: int
    score: float
    adjustment: str | None


def shortlist_rows(browser: Any) -> list[Row]:
    rows = []
    for row in browser.wrapped_driver.find_elements(By.CSS_SELECTOR, "tr[id^='entry-']"):
        cells = row.find_elements(By.TAG_NAME, "td")
        lines = row.find_elements(By.CSS_SELECTOR, "p.adjustment")
        rows.append(
            Row(row.get_attribute("id").removeprefix("entry-"), int(cells[0].text), float(cells[3].text),
                lines[0].text if lines else None)
        )  # fmt: skip
    return rows


@pytest.mark.parametrize(("browser", "language"), [("en-US,en", "en"), ("zh-CN,zh", "zh-Hans")], indirect=["browser"])
def test_by_keyboard_a_supplier_marked_not_relevant_moves_down_on_the_rematched_shortlist(
    browser: Any, site: Site, language: str
) -> None:
    # An agency of its own, so that no other test's marks count here: its two suppliers tie, and rank by id.
    agency, token = f"WHO-{language}", f"tbk_browser-who-{language}"
    now = datetime.now(UTC)
    container = site.container
    container.keys.put(ApiKey(key_hash=hash_token(token), role=Role.BUYER, agency=agency, created_at=now))
    title = f"Examination gloves for clinics ({language})"
    seeded = container.matcher.handle_notice(
        notice(f"browser-who-{language}", agency=agency, title=title, deadline=now + timedelta(days=20))
    )
    container.matcher.publisher.flush()
    assert seeded is not None
    container.es.indices.refresh(index=f"{site.settings.matcher_index_prefix}-*")
    words = BUYER_TEXTS[language]

    browser.get(f"{site.url}/ui/login")
    assert browser.find_element(By.TAG_NAME, "h1").text == words["sign_in"]
    tab_to(browser, lambda e: e.get_attribute("name") == "api_key")
    press(browser, token, Keys.ENTER)
    loaded(browser, words["notices"])
    tab_to(browser, lambda e: e.tag_name == "a" and e.text == title)
    press(browser, Keys.ENTER)
    loaded(browser, title)
    before = shortlist_rows(browser)
    top = before[0]
    assert [r.supplier_id for r in before] == site.supplier_ids  # tied, by id
    assert top.adjustment is None
    name = "Ningbo Gloves Co."
    # The reason, then the button, with the keyboard alone.
    tab_to(browser, lambda e: e.get_attribute("aria-label") == words["reason_label"].format(name=name))
    press(browser, Keys.ARROW_DOWN)  # "wrong products", the first reason on the list
    reason = browser.switch_to.active_element
    assert Select(reason).first_selected_option.get_attribute("value") == "wrong_products"
    not_relevant = words["mark_label"].format(mark=words["mark_not_relevant"].capitalize(), name=name)
    tab_to(browser, lambda e: e.get_attribute("aria-label") == not_relevant)
    submit(browser, Keys.ENTER)

    after = shortlist_rows(browser)
    assert [r.supplier_id for r in after] == site.supplier_ids[::-1]  # the marked supplier moved down
    moved = next(r for r in after if r.supplier_id == top.supplier_id)
    assert (moved.rank, moved.score < top.score) == (2, True)
    assert moved.adjustment is not None
    assert "marked not relevant (wrong products) by this agency on this notice" in moved.adjustment
    shown = browser.find_element(By.ID, f"mark-{top.supplier_id}").text
    said = f"{words['mark_not_relevant'].capitalize()}{words['colon']}{words['reason_wrong_products']}"
    assert shown.startswith(said), shown

"""The supplier's side in a real browser, over the real local stack: the matcher (``site``) and a notifier of this
module's own (its worker reading the matcher's topics, its store in Elasticsearch, its email through the stack's
SMTP sink into the Maildir, its pages served on a real port).

Registration on the matcher's ``/register`` -> the confirmation email read from the Maildir -> its link -> the
confirmation page -> confirm -> the profile page; the preferences page (frequency changed, saved, seen saved); an
alert's "not relevant for me" link -> the page -> confirm -> the supplier's own mark on the feedback topic; keyboard
only (Tab reaches every action, Enter submits); axe on every notifier page in both languages with no serious or
critical violation and all content in landmarks. Screenshots on failure as the other browser tests take them.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import SecretStr
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from contracts import AlertFrequency, SupplierProfile
from contracts.feedback import FeedbackReason, ShortlistFeedback
from services.infra.bus import KafkaPublisher
from services.matcher.domain.registration import self_supplier_id
from services.notifier.bootstrap import Container, bootstrap
from services.notifier.domain import tokens
from services.notifier.entrypoints.http import app_for
from services.notifier.entrypoints.worker import worker_for
from services.notifier.settings import Settings
from tests.browser.conftest import ADMIN, FORM_SECRET, Site, unique_address
from tests.conftest import Endpoints
from tests.integration.notifier.helpers import free_port, read_topic, wait_until
from tests.unit.notifier.factories import notice, profile, shortlist

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

LANDMARK_RULES = {"landmark-one-main", "region"}
ENGLISH, CHINESE = "en-US,en", "zh-CN,zh"


@dataclass
class Notifier:
    """The notifier served on a real port beside ``site``, its container, and the Maildir its emails land in."""

    url: str
    container: Container
    settings: Settings
    maildir: Path

    def link(self, purpose: str, supplier_id: str, path: str) -> str:
        token = self.container.notifier.signer.token(purpose, supplier_id)
        return f"{self.url}/{path}?token={quote(token, safe='')}"

    def knows(self, supplier_id: str, check: Callable[[SupplierProfile], bool] = lambda p: True) -> None:
        """Wait until the notifier's worker has read the supplier's profile (and ``check`` holds of it)."""

        def known() -> bool:
            p = self.container.notifier.profiles.get(supplier_id)
            return p is not None and check(p)

        wait_until(known, 60, f"the notifier to know {supplier_id}")


@pytest.fixture(scope="module")
def notifier(endpoints: Endpoints, site: Site) -> Iterator[Notifier]:
    """A notifier worker and HTTP app over the matcher's topics (profiles, shortlists, feedback), confirming and
    saving through the matcher's HTTP API, sending through the stack's SMTP sink."""
    import uvicorn

    if endpoints.maildir is None:
        pytest.skip("the SMTP sink keeps no Maildir here (TB_TEST_BACKEND=docker)")
    token = os.urandom(4).hex()
    port = free_port()
    m = site.settings
    settings = Settings(
        kafka_bootstrap_servers=endpoints.kafka_bootstrap,
        elasticsearch_url=endpoints.elasticsearch_url,
        topic_profiles=m.topic_profiles,
        topic_shortlists=m.topic_shortlists,
        topic_shortlists_dlq=m.topic_shortlists_dlq,
        topic_notifications=m.topic_notifications,
        topic_notifications_dlq=m.topic_notifications_dlq,
        topic_feedback=m.topic_feedback,
        notifier_index_prefix=f"t-browser-n-{token}",
        notifier_consumer_group=f"t-browser-notifier-{token}",
        notifier_smtp_host=endpoints.smtp_host,
        notifier_smtp_port=endpoints.smtp_port,
        notifier_rate_limit_per_s=0,
        notifier_confirmation_interval_s=0.2,
        notifier_digest_interval_s=3600,
        notifier_unsubscribe_sync_interval_s=3600,
        notifier_matcher_url=site.url,
        notifier_matcher_api_key=SecretStr(ADMIN),
        notifier_public_url=f"http://127.0.0.1:{port}",
        notifier_unsubscribe_secret=SecretStr("browser-notifier-secret"),
    )
    container = bootstrap(settings, instance_id=f"browser-{token}")
    worker = worker_for(container)
    worker_thread = threading.Thread(target=worker.run, name="browser-notifier-worker", daemon=True)
    worker_thread.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app = app_for(container, worker)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="browser-notifier", daemon=True)
    thread.start()
    try:
        wait_until(lambda: worker.started or worker.error is not None, 60, "the notifier's worker to start")
        wait_until(lambda: bool(server.started), 20, "the notifier to serve")
        assert worker.error is None, f"the notifier's worker crashed: {worker.error!r}"
        yield Notifier(settings.notifier_public_url, container, settings, endpoints.maildir)
    finally:
        server.should_exit = True
        thread.join(10)
        container.stop.set()
        worker_thread.join(60)
        container.close()


def mails_to(maildir: Path, address: str) -> list[EmailMessage]:
    """The messages in the Maildir addressed to ``address``, oldest first."""
    out: list[tuple[float, EmailMessage]] = []
    for sub in ("new", "cur"):
        folder = maildir / sub
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            raw = path.read_bytes()
            if address.encode() not in raw:
                continue
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if any(a.addr_spec == address for a in message["To"].addresses):
                out.append((path.stat().st_mtime, message))
    return [m for _, m in sorted(out, key=lambda pair: pair[0])]


def wait_for_mail(maildir: Path, address: str, count: int = 1) -> list[EmailMessage]:
    found: list[EmailMessage] = []

    def arrived() -> bool:
        nonlocal found
        found = mails_to(maildir, address)
        return len(found) >= count

    wait_until(arrived, 90, f"{count} email(s) to {address} in the Maildir")
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, path: str) -> str:
    [url] = re.findall(rf"(https?://\S+/{path}\?token=\S+)", text_of(message))
    return str(url)


def axe_findings(browser: Any) -> list[tuple[str, str, list[str]]]:
    """axe's serious and critical violations on the page, and any content outside the landmarks."""
    from axe_selenium_python import Axe

    axe = Axe(browser.wrapped_driver)
    axe.inject()
    return [
        (v["id"], v["impact"], [n["html"][:120] for n in v["nodes"][:3]])
        for v in axe.run()["violations"]
        if v.get("impact") in ("serious", "critical") or v["id"] in LANDMARK_RULES
    ]


#: What a glove maker types into the registration form, by the language it registers in.
TYPED = {
    "en": {"company": "Ningbo Journey Gloves Co.", "description": "We make nitrile examination gloves."},
    "zh-Hans": {"company": "义乌手套厂", "description": "我们生产丁腈手套"},
}


def register(browser: Any, site: Site, address: str, language: str = "en") -> str:
    """Through the matcher's registration form, in ``language`` (the page's and the alerts'); the new supplier's
    id."""
    browser.get(f"{site.url}/register?lang={language}")
    for name, value in {**TYPED[language], "country": "CN", "email": address, "codes": "42132203"}.items():
        browser.find_element(By.NAME, name).send_keys(value)
    Select(browser.find_element(By.NAME, "language")).select_by_value(language)
    Select(browser.find_element(By.NAME, "frequency")).select_by_value("immediate")
    browser.find_element(By.ID, "register-submit").click()
    assert browser.find_element(By.ID, "sent").is_displayed()
    return self_supplier_id(FORM_SECRET.encode(), address)


def test_registration_email_link_confirm_and_the_profile_page(browser: Any, site: Site, notifier: Notifier) -> None:
    address = unique_address("journey")
    supplier_id = register(browser, site, address)

    [asked] = wait_for_mail(notifier.maildir, address)
    browser.get(link_in(asked, "confirm"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Confirm tender alerts"
    assert address in browser.find_element(By.TAG_NAME, "main").text
    assert axe_findings(browser) == []
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Address confirmed"
    assert axe_findings(browser) == []
    stored = site.container.matcher.profiles.get(supplier_id)
    assert stored is not None
    assert stored.alert_emails() == [address]

    browser.find_element(By.LINK_TEXT, "Matching profile").click()
    assert browser.current_url.startswith(f"{notifier.url}/profile?token=")
    assert "Ningbo Journey Gloves Co." in browser.find_element(By.TAG_NAME, "h1").text
    assert "42132203" in browser.find_element(By.ID, "codes").text


def test_the_preferences_page_saves_a_new_frequency(browser: Any, site: Site, notifier: Notifier) -> None:
    supplier = profile(f"pref-{os.urandom(3).hex()}", emails=[unique_address("pref")])
    site.container.matcher.save_profile(supplier)
    site.container.matcher.publisher.flush()
    notifier.knows(supplier.supplier_id)

    browser.get(notifier.link(tokens.PREFERENCES, supplier.supplier_id, "preferences"))
    assert browser.find_element(By.CSS_SELECTOR, "input[name=frequency][value=immediate]").is_selected()
    browser.find_element(By.CSS_SELECTOR, "input[name=frequency][value=daily_digest]").click()
    browser.find_element(By.XPATH, "//button[normalize-space()='Save preferences']").click()
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Preferences saved")
    saved = site.container.matcher.profiles.get(supplier.supplier_id)
    assert saved is not None
    assert saved.preferences.frequency == AlertFrequency.DAILY_DIGEST

    browser.find_element(By.LINK_TEXT, "Change them again").click()
    assert browser.find_element(By.CSS_SELECTOR, "input[name=frequency][value=daily_digest]").is_selected()


def test_an_alerts_not_relevant_link_publishes_the_suppliers_own_mark(
    browser: Any, site: Site, notifier: Notifier
) -> None:
    address = unique_address("nr")
    supplier = profile(f"nr-{os.urandom(3).hex()}", emails=[address], language="zh-Hans")
    site.container.matcher.save_profile(supplier)
    site.container.matcher.publisher.flush()
    notifier.knows(supplier.supplier_id)
    tender = notice(f"nr-{os.urandom(3).hex()}", buyer="UNICEF Supply Division")
    publisher = KafkaPublisher(notifier.settings.kafka_bootstrap_servers, client_id="browser-test")
    publisher.publish(notifier.settings.topic_shortlists, tender.notice_id, shortlist(tender, [supplier.supplier_id]))
    publisher.flush()
    publisher.close()

    [alert] = wait_for_mail(notifier.maildir, address)
    browser.get(link_in(alert, "not-relevant"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-Hans"
    assert tender.notice_id in browser.find_element(By.TAG_NAME, "main").text
    browser.find_element(By.CSS_SELECTOR, "input[name=reason][value=too_small]").click()
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "谢谢"

    marks = [
        m
        for _, m in read_topic(
            notifier.settings.kafka_bootstrap_servers, notifier.settings.topic_feedback, ShortlistFeedback
        )
        if m.supplier_id == supplier.supplier_id
    ]
    assert [(m.notice_id, m.by_supplier, m.reason, m.agency) for m in marks] == [
        (tender.notice_id, True, FeedbackReason.TOO_SMALL, "unicef supply division")
    ]


def focus_order(browser: Any, limit: int = 80) -> list[str]:
    """The elements Tab reaches from the top of the page, in order (as ``describe`` names them)."""
    browser.find_element(By.TAG_NAME, "body").click()
    seen: list[str] = []
    for _ in range(limit):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        key = describe(browser.switch_to.active_element)
        if seen and key == seen[0]:
            break
        seen.append(key)
    return seen


def describe(element: Any) -> str:
    """An element as the test names it: a radio group by its name (Tab stops once in a group, the arrow keys move
    within it, as in every browser), anything else by the start of its markup."""
    if element.get_attribute("type") == "radio":
        return f"radio group {element.get_attribute('name')}"
    return str(element.get_attribute("outerHTML") or "")[:200]


def tab_to(browser: Any, element: Any, limit: int = 80) -> None:
    """Press Tab until ``element`` has the focus."""
    browser.find_element(By.TAG_NAME, "body").click()
    for _ in range(limit):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        if browser.switch_to.active_element == element:
            return
    raise AssertionError(f"Tab never reached {describe(element)}")


def test_keyboard_alone_reaches_every_action_and_submits(browser: Any, site: Site, notifier: Notifier) -> None:
    supplier = profile(f"kb-{os.urandom(3).hex()}", emails=[unique_address("kb")])
    site.container.matcher.save_profile(supplier)
    site.container.matcher.publisher.flush()
    notifier.knows(supplier.supplier_id)
    pages = {
        "preferences": notifier.link(tokens.PREFERENCES, supplier.supplier_id, "preferences"),
        "profile": notifier.link(tokens.PREFERENCES, supplier.supplier_id, "profile"),
        "not-relevant": _not_relevant_url(notifier, supplier.supplier_id),
    }
    for name, url in pages.items():
        browser.get(url)
        actions = browser.find_elements(By.CSS_SELECTOR, "a[href], button, input:not([type=hidden]), select, textarea")
        reached = focus_order(browser)
        missing = [describe(a) for a in actions if describe(a) not in reached]
        assert not missing, f"{name}: Tab does not reach {missing}"

    # The frequency chosen with the arrow keys, saved with Enter on the save button.
    browser.get(pages["preferences"])
    tab_to(browser, browser.find_element(By.CSS_SELECTOR, "input[name=frequency][value=immediate]"))
    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    assert browser.find_element(By.CSS_SELECTOR, "input[name=frequency][value=daily_digest]").is_selected()
    save = browser.find_element(By.XPATH, "//button[normalize-space()='Save preferences']")
    tab_to(browser, save)
    save.send_keys(Keys.ENTER)
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Preferences saved")
    saved = site.container.matcher.profiles.get(supplier.supplier_id)
    assert saved is not None
    assert saved.preferences.frequency == AlertFrequency.DAILY_DIGEST

    # "Not relevant for me" answered with Enter alone.
    browser.get(pages["not-relevant"])
    button = browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]")
    tab_to(browser, button)
    button.send_keys(Keys.ENTER)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Thank you"


def _seeded(site: Site, notifier: Notifier, language: str) -> SupplierProfile:
    supplier = profile(f"axe-{language}-{os.urandom(3).hex()}", emails=[unique_address("axe")], language=language)
    site.container.matcher.save_profile(supplier)
    site.container.matcher.publisher.flush()
    notifier.knows(supplier.supplier_id)
    return supplier


def _not_relevant_url(notifier: Notifier, supplier_id: str) -> str:
    return notifier.container.notifier.signer.not_relevant_url(supplier_id, notice("axe-1")).replace(
        notifier.settings.notifier_public_url, notifier.url
    )


def _post_form(browser: Any) -> None:
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()


#: Each notifier page, reached as a supplier reaches it: (page, how to open it for a supplier of that language).
PAGES: dict[str, Callable[[Any, Notifier, SupplierProfile], None]] = {
    "preferences": lambda b, n, s: b.get(n.link(tokens.PREFERENCES, s.supplier_id, "preferences")),
    "preferences_saved": lambda b, n, s: (
        b.get(n.link(tokens.PREFERENCES, s.supplier_id, "preferences")),
        b.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click(),
    ),
    "profile": lambda b, n, s: b.get(n.link(tokens.PREFERENCES, s.supplier_id, "profile")),
    "unsubscribe": lambda b, n, s: b.get(n.link(tokens.UNSUBSCRIBE, s.supplier_id, "unsubscribe")),
    "unsubscribed": lambda b, n, s: (
        b.get(n.link(tokens.UNSUBSCRIBE, s.supplier_id, "unsubscribe")),
        _post_form(b),
    ),
    "not_relevant": lambda b, n, s: b.get(_not_relevant_url(n, s.supplier_id)),
    "not_relevant_done": lambda b, n, s: (b.get(_not_relevant_url(n, s.supplier_id)), _post_form(b)),
    "no_profile": lambda b, n, s: b.get(
        n.link(tokens.PREFERENCES, "nobody-" + s.supplier_id, "profile")
        + ("&lang=zh-Hans" if s.preferences.language == "zh-Hans" else "")
    ),
}


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
@pytest.mark.parametrize("page", sorted(PAGES))
def test_no_serious_accessibility_violation_on_the_suppliers_pages(
    page: str, language: str, browser: Any, site: Site, notifier: Notifier
) -> None:
    supplier = _seeded(site, notifier, language)
    PAGES[page](browser, notifier, supplier)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    found = axe_findings(browser)
    assert not found, f"{page} ({language}): {found}"


def test_registration_in_chinese_is_confirmed_on_pages_in_chinese_that_pass_axe(
    browser: Any, site: Site, notifier: Notifier
) -> None:
    address = unique_address("zh-confirm")
    register(browser, site, address, "zh-Hans")
    [asked] = wait_for_mail(notifier.maildir, address)
    for step in ("confirm", "confirmed"):
        if step == "confirm":
            browser.get(link_in(asked, "confirm"))
        else:
            _post_form(browser)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-Hans"
        found = axe_findings(browser)
        assert not found, f"{step}: {found}"
    assert browser.find_element(By.TAG_NAME, "h1").text == "邮箱已确认"

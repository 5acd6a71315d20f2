"""Browser tests: the matcher's pages in a real headless Chromium (the distribution's ``chromium`` and
``chromium-driver``, installed by ``make browser``), driven by Selenium, against the matcher served by uvicorn on a
real port over the real local stack (Elasticsearch, Kafka), with indexes and topics of its own.

Skipped, with the reason, when Chromium or its driver is absent. When a test fails, a screenshot of every page it
saw lands in ``$TB_DATA_DIR/browser-screenshots/`` (default ``.data/browser-screenshots/``), named after the test.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.matcher.bootstrap import Container, bootstrap
from services.matcher.entrypoints.http import create_app
from services.matcher.keys import ApiKey, Role, hash_token
from services.matcher.settings import Settings
from tests.conftest import REPO, Endpoints
from tests.unit.matcher_service.builders import notice, supplier

ADMIN = "browser-admin-key"
BUYER = "tbk_browser-buyer-unicef"
FORM_SECRET = "browser-tests-form-secret"
#: Chromium's switches: headless, no sandbox (containers, root), and nothing that talks to Google meanwhile.
CHROMIUM_ARGUMENTS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)


def _find(*names: str) -> str | None:
    return next((path for name in names if (path := shutil.which(name)) is not None), None)


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """The paths of Chromium and its driver; the test skips, saying what to install, when either is absent."""
    binary = _find("chromium", "chromium-browser")
    driver = _find("chromedriver")
    if binary is None or driver is None:
        missing = " and ".join(n for n, p in (("chromium", binary), ("chromium-driver", driver)) if p is None)
        pytest.skip(f"{missing} not installed (as root: make browser, or apt-get install chromium chromium-driver)")
    return binary, driver


@dataclass
class Site:
    """The matcher served on a real port, its container (real stores), and what was seeded."""

    url: str
    container: Container
    settings: Settings
    notice_id: str
    supplier_ids: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def site(endpoints: Endpoints) -> Iterator[Site]:
    """The matcher over the local stack: a buyer key of UNICEF, two suppliers of nitrile gloves and an open UNICEF
    notice for them, ranked by the matcher itself; uvicorn in a thread."""
    import uvicorn

    token = os.urandom(4).hex()
    settings = Settings(
        elasticsearch_url=endpoints.elasticsearch_url,
        kafka_bootstrap_servers=endpoints.kafka_bootstrap,
        matcher_index_prefix=f"t-browser-{token}",
        topic_profiles=f"t-profiles-{token}",
        topic_shortlists=f"t-shortlists-{token}",
        topic_feedback=f"t-feedback-{token}",
        topic_notices=f"t-notices-{token}",
        topic_notices_dlq=f"t-notices-dlq-{token}",
        topic_shortlists_dlq=f"t-shortlists-dlq-{token}",
        topic_notifications=f"t-notifications-{token}",
        topic_notifications_dlq=f"t-notifications-dlq-{token}",
        matcher_admin_api_key=ADMIN,
        matcher_form_secret=FORM_SECRET,
        matcher_worker_enabled=False,
    )
    container = bootstrap(settings)
    now = datetime.now(UTC)
    container.keys.put(ApiKey(key_hash=hash_token(BUYER), role=Role.BUYER, agency="UNICEF", created_at=now))
    suppliers = [supplier("BR1", names={"en": "Ningbo Gloves Co."}), supplier("BR2", names={"en": "Hebei Latex Ltd."})]
    for profile in suppliers:
        container.matcher.save_profile(profile)
    shortlisted = container.matcher.handle_notice(notice("browser-1", deadline=now + timedelta(days=20)))
    container.matcher.publisher.flush()
    assert shortlisted is not None, "the seeded notice was not ranked"
    assert shortlisted.entries, "the seeded notice must have a shortlist"
    container.es.indices.refresh(index=f"{settings.matcher_index_prefix}-*")  # the list page searches
    port = _free_port()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app = create_app(container)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="browser-matcher", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the matcher did not start serving")
        time.sleep(0.05)
    try:
        ids = [p.supplier_id for p in suppliers]
        yield Site(f"http://127.0.0.1:{port}", container, settings, shortlisted.notice_id, ids)
    finally:
        server.should_exit = True
        thread.join(10)
        for index in container.es.indices.get(index=f"{settings.matcher_index_prefix}-*"):
            container.es.indices.delete(index=index)
        container.close()


class Pages:
    """Screenshots of every page a test saw (kept in memory, written out only if the test fails)."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.shots: list[tuple[str, bytes]] = []

    def snap(self, what: str) -> None:
        with contextlib.suppress(Exception):  # a screenshot is evidence, never a reason to fail
            self.shots.append((what, self.driver.get_screenshot_as_png()))


def screenshot_dir() -> Path:
    base = Path(os.environ.get("TB_DATA_DIR") or REPO / ".data")
    return base / "browser-screenshots"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def browser(chromium: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh headless Chromium (its own profile directory), asking for the languages of ``request.param``
    (``Accept-Language``; default English; parametrize with ``indirect=True``). Every page it loads or is clicked
    to is screenshotted; the screenshots are written when the test fails."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.events import AbstractEventListener, EventFiringWebDriver

    binary, driver_path = chromium
    profile = tempfile.mkdtemp(prefix="tb-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (*CHROMIUM_ARGUMENTS, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": getattr(request, "param", "en-US,en")})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    pages = Pages(driver)

    class Snap(AbstractEventListener):  # type: ignore[misc]
        def after_navigate_to(self, url: str, driver: Any) -> None:
            pages.snap(url)

        def after_click(self, element: Any, driver: Any) -> None:
            pages.snap(f"after click -> {driver.current_url}")

    wrapped = EventFiringWebDriver(driver, Snap())
    wrapped.pages = pages
    try:
        yield wrapped
    finally:
        if request.node.stash.get(_FAILED, False):
            pages.snap(f"at failure: {driver.current_url}")
            folder = screenshot_dir()
            folder.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            for n, (_, png) in enumerate(pages.shots, 1):
                (folder / f"{name}-{n:02d}.png").write_bytes(png)
            (folder / f"{name}.txt").write_text("\n".join(f"{n:02d} {w}" for n, (w, _) in enumerate(pages.shots, 1)))
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(browser: Any, site: Site, key: str = BUYER) -> None:
    """Through the sign-in form, as a buyer does."""
    from selenium.webdriver.common.by import By

    browser.get(f"{site.url}/ui/login")
    browser.find_element(By.NAME, "api_key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def unique_address(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}@example.com"

"""The buyer pages over the in-memory fakes: the list's filters and paging, the notice's facts, the CSV link with
the sign-in cookie, the empty states, escaping; and the notice store's "open only" filter (the fake)."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from contracts import Buyer, Classification, CodeScheme, Item, Money, NoticeStatus, ProcurementMethod
from services.matcher.adapters.memory import InMemoryNoticeStore
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.entrypoints.http import create_app
from services.matcher.entrypoints.pages import UI_PAGE_SIZE
from services.matcher.keys import ApiKey, Role, hash_token
from services.matcher.ports import NoticeFilter
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit

ADMIN = "admin-secret"
BUYER_A, BUYER_B = "key-buyer-a", "key-buyer-b"
LINK = re.compile(r'href="/ui/notices/([^"?/]+)"')


@pytest.fixture
def container() -> Container:
    c = bootstrap_in_memory(Settings(matcher_admin_api_key=ADMIN), clock=lambda: NOW)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    c.keys.put(ApiKey(key_hash=hash_token(BUYER_A), role=Role.BUYER, agency="UNICEF", created_at=created))
    c.keys.put(ApiKey(key_hash=hash_token(BUYER_B), role=Role.BUYER, agency="WFP", created_at=created))
    for p in (supplier("S1"), supplier("S2", country="IN"), supplier("S3", codes=("43211503",), keywords=("laptop",))):
        c.matcher.profiles.put(p)
    m = c.matcher
    m.handle_notice(notice("gloves", delivery_countries=["KE"], deadline=NOW + timedelta(days=20)))
    m.handle_notice(
        notice("laptops", codes=("43211503",), title="Laptops", delivery_countries=["AF"], deadline=NOW + timedelta(5))
    )
    m.handle_notice(notice("closed", deadline=NOW - timedelta(days=1)))
    m.handle_notice(notice("nodeadline", deadline_at=None))
    m.handle_notice(notice("dropped", status=NoticeStatus.CANCELLED, deadline=NOW + timedelta(days=3)))
    m.handle_notice(notice("amended", version=2, status=NoticeStatus.AMENDED, deadline=NOW + timedelta(days=40)))
    m.handle_notice(notice("wfp", agency="WFP", delivery_countries=["AF"]))
    return c


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), follow_redirects=False) as c:
        yield c


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def listed(html: str) -> list[str]:
    """The notice ids the list page links to, in order."""
    return [unquote(m) for m in LINK.findall(html)]


UNICEF_OPEN = ["ungm:laptops", "ungm:gloves", "ungm:amended", "ungm:nodeadline"]  # "dropped" is cancelled


def test_the_list_shows_open_notices_of_the_buyers_agency_by_default(client: TestClient) -> None:
    page = client.get("/ui/notices", headers=h(BUYER_A))
    assert page.status_code == 200
    ids = listed(page.text)
    assert sorted(ids) == sorted(UNICEF_OPEN)
    assert ids.index("ungm:laptops") < ids.index("ungm:gloves") < ids.index("ungm:nodeadline")  # soonest first
    assert "ungm:closed" not in ids  # deadline passed
    assert "ungm:wfp" not in ids  # another agency
    assert "4 notices: open (not cancelled, deadline not passed or none), buyer UNICEF." in page.text
    assert '<option value="open" selected>' in page.text


@pytest.mark.parametrize(
    ("params", "expected", "says"),
    [
        ({"show": "all"}, [*UNICEF_OPEN, "ungm:dropped", "ungm:closed"], "6 notices: buyer UNICEF"),
        ({"status": "amended"}, ["ungm:amended"], "status amended"),
        ({"status": "cancelled"}, [], "status cancelled"),  # cancelled: not open
        ({"show": "all", "status": "cancelled"}, ["ungm:dropped"], "status cancelled"),
        ({"code": "4321"}, ["ungm:laptops"], "code 4321"),
        ({"code": "42132203"}, ["ungm:gloves", "ungm:amended", "ungm:nodeadline"], "code 42132203"),
        ({"country": "af"}, ["ungm:laptops"], "delivery to AF"),
        ({"deadline_to": "2026-03-06"}, ["ungm:laptops"], "deadline to 2026-03-06"),
        ({"deadline_from": "2026-03-10", "deadline_to": "2026-03-21"}, ["ungm:gloves"], "deadline from 2026-03-10"),
        ({"show": "all", "deadline_to": "2026-03-01"}, ["ungm:closed"], "deadline to 2026-03-01"),
        ({"status": "active", "code": "4213", "country": "KE"}, ["ungm:gloves"], "code 4213, delivery to KE"),
        # A buyer key cannot widen the list to another agency: the agency field is not even read.
        ({"agency": "WFP"}, UNICEF_OPEN, "buyer UNICEF"),
    ],
)
def test_each_filter_narrows_the_list(
    client: TestClient, params: dict[str, str], expected: list[str], says: str
) -> None:
    page = client.get("/ui/notices", params=params, headers=h(BUYER_A))
    assert page.status_code == 200
    assert sorted(listed(page.text)) == sorted(expected)
    assert says in page.text
    for name, value in params.items():
        if name != "agency":  # echoed back into the form
            assert f'value="{value.upper() if name == "country" else value}"' in page.text


def test_admins_filter_by_agency_and_see_every_agency_without(client: TestClient) -> None:
    everyone = listed(client.get("/ui/notices", headers=h(ADMIN)).text)
    assert sorted(everyone) == sorted([*UNICEF_OPEN, "ungm:wfp"])
    page = client.get("/ui/notices", params={"agency": "wfp"}, headers=h(ADMIN))
    assert listed(page.text) == ["ungm:wfp"]
    assert "buyer wfp" in page.text
    assert 'name="agency"' in page.text
    assert 'name="agency"' not in client.get("/ui/notices", headers=h(BUYER_A)).text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "closed"}, "Status: &#39;closed&#39; is not one of active, amended, cancelled."),
        ({"country": "Kenya"}, "Delivery country: &#39;KENYA&#39; is not a two-letter country code"),
        ({"code": "42 1x"}, "Code: &#39;42 1x&#39; is not a UNSPSC or CPV code"),
        ({"deadline_from": "31/03/2026"}, "Deadline from: &#39;31/03/2026&#39; is not a date"),
        ({"deadline_to": "tomorrow"}, "Deadline to: &#39;tomorrow&#39; is not a date"),
        ({"deadline_from": "2026-04-01", "deadline_to": "2026-03-01"}, "Deadline from is after deadline to"),
        ({"offset": "-100"}, "Page: offset &#39;-100&#39; must be a whole number from 0 to 9800."),
        ({"offset": "20000"}, "Page: offset &#39;20000&#39; must be a whole number"),
        ({"offset": "²"}, "Page: offset &#39;²&#39; must be a whole number"),
        ({"show": "closed"}, "Show: choose open notices or all notices."),
    ],
)
def test_a_wrong_filter_is_explained_on_the_page(client: TestClient, params: dict[str, str], message: str) -> None:
    page = client.get("/ui/notices", params=params, headers=h(BUYER_A))
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert message in page.text
    assert listed(page.text) == []  # no list that pretends to be filtered
    assert '<form class="filters"' in page.text


def test_paging_keeps_the_filters(client: TestClient, container: Container) -> None:
    for i in range(UI_PAGE_SIZE + 5):
        container.matcher.notices.put(
            notice(f"bulk-{i:03d}", delivery_countries=["UG"], deadline=NOW + timedelta(hours=i + 1))
        )
    container.matcher.notices.put(notice("elsewhere", delivery_countries=["KE"], deadline=NOW + timedelta(hours=1)))
    first = client.get("/ui/notices", params={"country": "UG", "code": "4213"}, headers=h(BUYER_A))
    assert f"{UI_PAGE_SIZE + 5} notices" in first.text
    assert f"showing 1–{UI_PAGE_SIZE}" in first.text
    assert listed(first.text) == [f"ungm:bulk-{i:03d}" for i in range(UI_PAGE_SIZE)]
    assert "Previous" not in first.text
    following = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert following is not None
    next_url = following.group(1).replace("&amp;", "&")
    assert next_url == f"/ui/notices?code=4213&country=UG&offset={UI_PAGE_SIZE}"
    second = client.get(next_url, headers=h(BUYER_A))
    assert listed(second.text) == [f"ungm:bulk-{i:03d}" for i in range(UI_PAGE_SIZE, UI_PAGE_SIZE + 5)]
    assert 'rel="next"' not in second.text
    assert 'href="/ui/notices?code=4213&amp;country=UG" rel="prev"' in second.text
    # "all" is kept too (open only is the default and needs no parameter).
    every = client.get("/ui/notices", params={"show": "all", "country": "UG"}, headers=h(BUYER_A)).text
    assert f'href="/ui/notices?show=all&amp;country=UG&amp;offset={UI_PAGE_SIZE}" rel="next"' in every


def test_signing_in_returns_to_the_filtered_list(container: Container) -> None:
    with TestClient(create_app(container), follow_redirects=False) as browser:
        asked = browser.get("/ui/notices", params={"code": "4321", "show": "all"})
        assert asked.status_code == 303
        form = browser.get(asked.headers["location"])
        assert 'value="/ui/notices?code=4321&amp;show=all"' in form.text
        signed_in = browser.post("/ui/login", data={"api_key": BUYER_A, "next": "/ui/notices?code=4321&show=all"})
        assert signed_in.headers["location"] == "/ui/notices?code=4321&show=all"
        assert listed(browser.get(signed_in.headers["location"]).text) == ["ungm:laptops"]


def test_the_notice_page_shows_the_facts_a_buyer_checks(client: TestClient, container: Container) -> None:
    container.matcher.handle_notice(
        notice(
            "RFQ-2026-77",
            title="Syringes",
            notice_type="rfq",
            buyer=Buyer(name="UNICEF", id="UNICEF-SD", country="DK"),
            source_url="https://www.ungm.org/Public/Notice/77",
            published_at=datetime(2026, 2, 20, 9, 30, tzinfo=UTC),
            # Published in Nairobi time: the page says the same instant in UTC.
            deadline=datetime(2026, 3, 20, 20, 0, tzinfo=timezone(timedelta(hours=3))),
            estimated_value=Money(amount=1250000, currency="USD"),
            procurement_method=ProcurementMethod.OPEN,
            delivery_countries=["KE", "UG"],
            items=[
                Item(
                    description="Auto-disable syringes 0.5 ml",
                    quantity=200000,
                    unit="each",
                    classification=Classification(
                        scheme=CodeScheme.UNSPSC, code="42142523", description="Hypodermic syringes"
                    ),
                    additional_classifications=[
                        Classification(scheme=CodeScheme.CPV, code="33141310", check_digit="6")
                    ],
                )
            ],
        )
    )
    page = client.get("/ui/notices/ungm:RFQ-2026-77", headers=h(BUYER_A)).text
    for fact in (
        '<a href="https://www.ungm.org/Public/Notice/77" rel="noopener noreferrer">RFQ-2026-77</a>',
        'UNICEF <span class="muted">(UNICEF-SD)</span> · DK',
        "2026-02-20 09:30 UTC",
        "2026-03-20 17:00 UTC",
        "USD 1,250,000",
        "<dd>open</dd>",
        "request for quotation (RFQ)",
        "KE, UG",
        "Auto-disable syringes 0.5 ml",
        "200000 each",
        "UNSPSC 42142523 (commodity): Hypodermic syringes",
        "CPV 33141310-6",
    ):
        assert fact in page, fact


def test_outside_text_is_escaped_and_only_web_links_are_links(client: TestClient, container: Container) -> None:
    container.matcher.handle_notice(
        notice(
            "x",
            title="<img src=x onerror=alert(1)>",
            source_url="javascript:alert(document.cookie)",
            buyer=Buyer(name="UNICEF", id='"><script>alert(2)</script>'),
        )
    )
    page = client.get("/ui/notices/ungm:x", headers=h(BUYER_A)).text
    assert "<img src=x" not in page
    assert "<script>" not in page
    assert "javascript:" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    container.matcher.handle_notice(notice("y", source_url="http://[::1/broken"))
    broken = client.get("/ui/notices/ungm:y", headers=h(BUYER_A))
    assert broken.status_code == 200
    assert "http://[::1/broken" not in broken.text
    listing = client.get("/ui/notices", params={"code": "<b>x"}, headers=h(BUYER_A)).text
    assert "<b>x" not in listing
    assert 'value="&lt;b&gt;x"' in listing


def test_the_shortlist_downloads_as_csv_with_the_sign_in_cookie(container: Container) -> None:
    with TestClient(create_app(container), follow_redirects=False) as browser:
        assert browser.get("/ui/notices/ungm:gloves/shortlist.csv").status_code == 303
        browser.post("/ui/login", data={"api_key": BUYER_A, "next": "/ui/notices"})
        page = browser.get("/ui/notices/ungm:gloves").text
        link = re.search(r'<a href="([^"]+)" download>Download as CSV</a>', page)
        assert link is not None
        assert link.group(1) == "/ui/notices/ungm%3Agloves/shortlist.csv"
        download = browser.get(link.group(1))
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(download.text)))
        assert [(r["rank"], r["notice_id"]) for r in rows] == [("1", "ungm:gloves"), ("2", "ungm:gloves")]
        assert {r["supplier_id"] for r in rows} == {"S1", "S2"}
        # The same file as the API's export.
        api = browser.get("/notices/ungm:gloves/shortlist", params={"format": "csv"}, headers=h(BUYER_A))
        assert api.text == download.text
        # Another agency's notice is not there, whatever the link.
        assert browser.get("/ui/notices/ungm:wfp/shortlist.csv").status_code == 404


def test_empty_shortlists_say_why(client: TestClient, container: Container) -> None:
    container.matcher.notices.put(notice("waiting"))  # stored, not ranked yet
    waiting = client.get("/ui/notices/ungm:waiting", headers=h(BUYER_A)).text
    assert "No shortlist yet: the matcher has not ranked version 1" in waiting
    assert "Download as CSV" not in waiting

    cancelled = client.get("/ui/notices/ungm:dropped", headers=h(BUYER_A)).text
    assert "This notice is cancelled: no suppliers are matched any more" in cancelled
    assert "Download as CSV" not in cancelled

    container.matcher.handle_notice(notice("nobody", codes=("10101501",), title="Live cattle"))
    nobody = client.get("/ui/notices/ungm:nobody", headers=h(BUYER_A)).text
    assert "No supplier matched this notice" in nobody
    assert "Download as CSV" not in nobody

    # A cancellation after a shortlist names who is told; a newer version not ranked yet shows the last ranking.
    container.matcher.handle_notice(notice("gloves", version=2, status=NoticeStatus.CANCELLED))
    told = client.get("/ui/notices/ungm:gloves", headers=h(BUYER_A)).text
    assert "These suppliers were shortlisted before and are told so" in told
    assert "Supplier S1 (S1)" in told
    container.matcher.notices.put(notice("laptops", version=2, status=NoticeStatus.AMENDED, codes=("43211503",)))
    stale = client.get("/ui/notices/ungm:laptops", headers=h(BUYER_A)).text
    assert "This shortlist ranks version 1; version 2 has not been ranked yet." in stale
    assert "Supplier S3" in stale


def test_the_fake_store_lists_open_notices_only_when_asked() -> None:
    store = bootstrap_in_memory(Settings()).matcher.notices
    assert isinstance(store, InMemoryNoticeStore)
    store.put(notice("open", deadline=NOW + timedelta(minutes=1)))
    store.put(notice("now", deadline=NOW))  # closes at this very instant: closed
    store.put(notice("past", deadline=NOW - timedelta(days=1)))
    store.put(notice("none", deadline_at=None))
    items, total = store.find(NoticeFilter(open_at=NOW), 0, 10)
    assert ([n.notice_id for n in items], total) == (["ungm:open", "ungm:none"], 2)
    items, total = store.find(NoticeFilter(), 0, 10)
    assert total == 4

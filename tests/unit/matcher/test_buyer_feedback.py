"""What a buyer is told, over the in-memory fakes: a filter value without meaning is a 422 that says what is wrong
(API: problem+json; the list page: a sentence), a code filter is read like every other code; a revoked or expired
key on the pages gets a page that says so with a link to sign in; reasons write codes as the 8-digit codes people
register; a buyer told that a supplier exists is not sent to a PUT it may not use."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from httpx import Response

from contracts import Classification, CodeScheme, Item
from localrun.demodata.data import generate_notices, generate_suppliers
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain import InMemoryProfileIndex, ScoringConfig, build_candidate_query, rank
from services.matcher.entrypoints.http import create_app
from services.matcher.entrypoints.pages import read_filter_code
from services.matcher.keys import ApiKey, Role, hash_token
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit

ADMIN = "admin-secret"
BUYER, SUPPLIER_S1 = "tbk_buyer-unicef", "tbk_supplier-s1"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
LINK = re.compile(r'href="/ui/notices/([^"?/]+)"')


def cpv_notice(source_id: str, code: str, check: str) -> Any:
    item = Item(
        description="Syringes", classification=Classification(scheme=CodeScheme.CPV, code=code, check_digit=check)
    )
    return notice(source_id, source="ted", title="Syringes", codes=(), items=[item])


@pytest.fixture
def container() -> Container:
    c = bootstrap_in_memory(Settings(matcher_admin_api_key=ADMIN), clock=lambda: NOW)
    c.keys.put(ApiKey(key_hash=hash_token(BUYER), role=Role.BUYER, agency="UNICEF", created_at=CREATED))
    c.keys.put(ApiKey(key_hash=hash_token(SUPPLIER_S1), role=Role.SUPPLIER, supplier_id="S1", created_at=CREATED))
    c.matcher.profiles.put(supplier("S1"))
    c.matcher.profiles.put(supplier("BEE", codes=("10171500",), keywords=("beehives",)))
    m = c.matcher
    m.handle_notice(notice("gloves", deadline=NOW + timedelta(days=10)))  # UNSPSC 42132203
    m.handle_notice(notice("laptops", title="Laptops", codes=("43211503",), deadline=NOW + timedelta(days=5)))
    m.handle_notice(notice("hives", title="Beehives", codes=("10171500",), deadline=NOW + timedelta(days=15)))
    m.notices.put(cpv_notice("syringes", "33141310", "6"))
    return c


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), follow_redirects=False) as c:
        yield c


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def ids(response: Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {n["notice_id"] for n in response.json()["items"]}


# -- F11: filters that mean nothing are refused, saying why ---------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("4213", "4213"),
        ("42", "42"),
        ("421322", "421322"),
        ("42 13", "4213"),  # spaces and dashes ignored, as in profiles (contracts.codes.read_code)
        ("42-13-22-03", "42132203"),
        ("42130000", "4213"),  # a padded code is its level, as everywhere: the family 4213
        ("42132203", "42132203"),
        ("33141000-1", "33141"),  # CPV with its check digit: the category 33141
        ("33141000", "33141000"),  # UNSPSC would read class 331410, CPV category 33141: the code itself
        ("331", "331"),  # a CPV group
        ("3314131", "3314131"),
        (" 4213 ", "4213"),
        ("\t4213\n", "4213"),
    ],
)
def test_a_code_filter_is_read_like_every_other_code(written: str, read: str) -> None:
    assert read_filter_code(written) == read


@pytest.mark.parametrize(
    "written",
    [
        "abc",
        "4",
        "00",
        "0013",
        "421322033",
        "X-17",
        "4213a",
        "<b>x",
        "00000000-0",
        "-",
        "٤٢١٣",
        "²²",
        "42١٣",
        "331\nx",
        "42\n13",
    ],
)
def test_what_is_not_a_code_is_not_read_as_one(written: str) -> None:
    assert read_filter_code(written) is None


@pytest.mark.parametrize("code", ["abc", "4", "X-17", "421322033"])
def test_the_api_refuses_a_code_that_is_not_one(client: TestClient, code: str) -> None:
    body = problem(client.get("/notices", params={"code": code}, headers=h(BUYER)), 422)
    assert body["detail"].startswith(f"code: {code!r} is not a UNSPSC or CPV code")
    assert body["errors"] == [{"loc": ["query", "code"], "msg": body["detail"][len("code: ") :], "type": "value_error"}]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("4213", {"ungm:gloves"}),
        ("42 13", {"ungm:gloves"}),
        ("42130000", {"ungm:gloves"}),  # the family, not only a notice coded 42130000
        ("42132203", {"ungm:gloves"}),
        ("10171500", {"ungm:hives"}),
        ("33141310-6", {"ted:syringes"}),
        ("331", {"ted:syringes"}),
    ],
)
def test_the_api_finds_notices_by_a_code_at_any_level(client: TestClient, code: str, expected: set[str]) -> None:
    assert ids(client.get("/notices", params={"code": code}, headers=h(BUYER))) == expected


def test_the_api_refuses_a_deadline_window_that_ends_before_it_starts(client: TestClient) -> None:
    params = {"deadline_from": "2026-12-30", "deadline_to": "2026-12-01"}
    body = problem(client.get("/notices", params=params, headers=h(BUYER)), 422)
    assert body["detail"] == (
        "deadline_from: 2026-12-30T00:00:00+00:00 is after deadline_to 2026-12-01T00:00:00+00:00: no notice can match"
    )
    assert body["errors"][0]["loc"] == ["query", "deadline_from"]
    # One instant is a window; an instant without an offset is UTC, so it compares with one that has it.
    same = {"deadline_from": "2026-03-11T12:00:00Z", "deadline_to": "2026-03-11T12:00:00"}
    assert ids(client.get("/notices", params=same, headers=h(BUYER))) == {"ungm:gloves"}
    mixed = {"deadline_from": "2026-03-08", "deadline_to": "2026-03-12T00:00:00+03:00"}
    assert ids(client.get("/notices", params=mixed, headers=h(BUYER))) == {"ungm:gloves"}
    later = {"deadline_from": "2026-03-11T12:00:01", "deadline_to": "2026-03-11T14:00:00+03:00"}
    problem(client.get("/notices", params=later, headers=h(BUYER)), 422)


@pytest.mark.parametrize(("min_score", "status"), [("2", 422), ("1.0001", 422), ("-0.1", 422), ("1", 200), ("0", 200)])
def test_a_minimum_score_is_a_total_score_from_0_to_1(client: TestClient, min_score: str, status: int) -> None:
    response = client.get("/notices/ungm:gloves/shortlist", params={"min_score": min_score}, headers=h(BUYER))
    assert response.status_code == status, response.text
    if status == 422:
        body = problem(response, 422)
        assert body["errors"][0]["loc"] == ["query", "min_score"]


def listed(html: str) -> list[str]:
    return [unquote(m) for m in LINK.findall(html)]


def test_the_list_page_explains_a_code_that_is_not_one(client: TestClient) -> None:
    page = client.get("/ui/notices", params={"code": "abc"}, headers=h(BUYER))
    assert page.status_code == 422
    assert "Code: &#39;abc&#39; is not a UNSPSC or CPV code; write its digits at any level" in page.text
    assert listed(page.text) == []
    assert 'value="abc"' in page.text  # what was typed, to correct it


@pytest.mark.parametrize("code", ["4213", "42 13", "42130000"])
def test_the_list_page_reads_a_code_like_the_api(client: TestClient, code: str) -> None:
    page = client.get("/ui/notices", params={"code": code}, headers=h(BUYER))
    assert page.status_code == 200
    assert listed(page.text) == ["ungm:gloves"]
    assert "code 4213" in page.text
    assert ids(client.get("/notices", params={"code": code}, headers=h(BUYER))) == {"ungm:gloves"}


# -- F13: a revoked or expired key on the pages gets a page ---------------------------------------------------------


def sign_in(client: TestClient) -> None:
    assert client.post("/ui/login", content=f"api_key={BUYER}&next=/ui/notices").status_code == 303


@pytest.mark.parametrize(
    "path", ["/ui/notices?code=4213", "/ui/notices/ungm:gloves", "/ui/notices/ungm:gloves/shortlist.csv"]
)
def test_a_revoked_key_on_the_pages_gets_a_page_with_a_link_to_sign_in(
    client: TestClient, container: Container, path: str
) -> None:
    sign_in(client)
    assert client.get(path).status_code == 200
    container.keys.revoke(hash_token(BUYER), NOW, "left the agency")
    page = client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["www-authenticate"].startswith("Bearer")
    assert "This API key was revoked: it no longer opens these pages." in page.text
    link = re.search(r'<a href="([^"]+)" id="sign-in">', page.text)
    assert link is not None
    target = link.group(1).replace("&amp;", "&")
    assert target.startswith("/ui/login?next=")
    assert unquote(target.removeprefix("/ui/login?next=")) == path
    assert "Max-Age=0" in page.headers["set-cookie"]  # the cookie is cleared as before
    form = client.get(target)  # the link leads to the sign-in form
    assert form.status_code == 200
    assert 'name="api_key"' in form.text


def test_an_expired_key_on_the_pages_is_told_it_expired(client: TestClient, container: Container) -> None:
    container.keys.put(
        ApiKey(key_hash=hash_token(BUYER), role=Role.BUYER, agency="UNICEF", created_at=CREATED, expires_at=NOW)
    )
    page = client.get("/ui/notices", headers=h(BUYER))
    assert page.status_code == 401
    assert "This API key expired: it no longer opens these pages." in page.text
    assert "set-cookie" not in page.headers  # the key came in a header: no cookie to clear
    # The API keeps answering programs in problem+json.
    body = problem(client.get("/notices", headers=h(BUYER)), 401)
    assert body["detail"] == "this API key expired"


def test_the_openapi_says_the_score_range_and_the_pages_401_as_html(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    parameters = paths["/notices/{notice_id}/shortlist"]["get"]["parameters"]
    schema = next(p for p in parameters if p["name"] == "min_score")["schema"]
    number = next(s for s in schema["anyOf"] if s.get("type") == "number")
    assert (number["minimum"], number["maximum"]) == (0, 1)
    for path in ("/ui/notices", "/ui/notices/{notice_id}", "/ui/notices/{notice_id}/shortlist.csv"):
        assert list(paths[path]["get"]["responses"]["401"]["content"]) == ["text/html"], path
    assert "application/problem+json" in paths["/notices"]["get"]["responses"]["401"]["content"]


# -- F14: codes in reasons are 8-digit codes; a buyer is not sent to PUT --------------------------------------------


def test_a_reason_names_the_code_the_supplier_registered_not_its_prefix(client: TestClient) -> None:
    page = client.get("/notices/ungm:hives/shortlist", headers=h(BUYER)).json()
    bee = next(e for e in page["entries"] if e["supplier_id"] == "BEE")
    category = next(c for c in bee["components"] if c["name"] == "category")
    assert category["reason"] == "UNSPSC 10171500 is one of the supplier's codes"
    # The data stays as the contract documents it (as many digits as the level): emails pad it themselves.
    assert category["reason_args"] == {"scheme": "UNSPSC", "code": "101715"}
    html = client.get("/ui/notices/ungm:hives", headers=h(BUYER)).text
    assert "UNSPSC 10171500 is one of the supplier&#39;s codes" in html
    assert "101715 " not in html


_NAMED_CODE = re.compile(r"\b(?:UNSPSC|CPV|segment|family|class|commodity|division|group|category|subdivision) (\d+)\b")


def test_every_code_a_reason_names_on_demo_data_has_8_digits() -> None:
    now = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
    index = InMemoryProfileIndex()
    for p in generate_suppliers(150):
        index.upsert(p)
    config = ScoringConfig()
    named = 0
    short: set[str] = set()
    for n in generate_notices(15, now=now):
        for entry in rank(n, index.candidates(build_candidate_query(n, config)), config, now).entries:
            for c in entry.components:
                for code in _NAMED_CODE.findall(c.reason):
                    named += 1
                    if len(code) != 8:
                        short.add(c.reason)
    assert named > 100
    assert not short, sorted(short)[:5]


def test_a_buyer_told_a_supplier_exists_is_not_sent_to_put(client: TestClient) -> None:
    existing = supplier("S1").model_dump(mode="json")
    body = problem(client.post("/suppliers", json=existing, headers=h(BUYER)), 409)
    assert body["detail"] == "supplier 'S1' exists; only an admin or the supplier itself may change it"
    assert "PUT" not in body["detail"]
    problem(client.put("/suppliers/S1", json=existing, headers=h(BUYER)), 403)
    # Those who may PUT are told to.
    for key in (ADMIN, SUPPLIER_S1):
        told = problem(client.post("/suppliers", json=existing, headers=h(key)), 409)
        assert told["detail"] == "supplier 'S1' exists; use PUT to replace it"
        assert client.put("/suppliers/S1", json=existing, headers=h(key)).status_code == 200

"""The buyer API over the in-memory fakes: authorization matrix, problem+json, shortlist pages and CSV, HTML."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from services.matcher.bootstrap import Container
from services.matcher.entrypoints.http import create_app
from tests.unit.matcher_service.builders import ADMIN, BUYER_A, BUYER_B, SUPPLIER_S1, h, notice, supplier

pytestmark = pytest.mark.unit


@pytest.fixture
def client(api_container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(api_container)) as c:
        yield c


def assert_problem(response: object, status: int) -> dict[str, object]:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    return dict(body)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "nope"}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic " + BUYER_A}],
)
def test_missing_or_unknown_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    assert_problem(client.get("/notices/ungm:a1", headers=headers), 401)


def test_bearer_and_x_api_key_and_admin_setting_all_authenticate(client: TestClient) -> None:
    assert client.get("/notices/ungm:a1", headers={"Authorization": f"Bearer {BUYER_A}"}).status_code == 200
    assert client.get("/notices/ungm:a1", headers=h(BUYER_A)).status_code == 200
    assert client.get("/notices/ungm:b1", headers=h(ADMIN)).status_code == 200


@pytest.mark.parametrize(
    "path", ["/notices/ungm:b1", "/notices/ungm:b1/shortlist", "/ui/notices/ungm:b1", "/notices/ungm:missing"]
)
def test_a_buyer_gets_404_for_another_agencys_notice(client: TestClient, path: str) -> None:
    body = assert_problem(client.get(path, headers=h(BUYER_A)), 404)
    assert "WFP" not in str(body)


def test_a_buyer_cannot_rematch_another_agencys_notice(client: TestClient) -> None:
    assert_problem(client.post("/notices/ungm:b1/rematch", headers=h(BUYER_A)), 404)
    assert client.post("/notices/ungm:b1/rematch", headers=h(BUYER_B)).status_code == 200


def test_notice_list_is_scoped_to_the_buyers_agency(client: TestClient) -> None:
    own = client.get("/notices", headers=h(BUYER_A)).json()
    assert [n["notice_id"] for n in own["items"]] == ["ungm:a1"]
    assert own["total"] == 1
    other = client.get("/notices", params={"agency": "WFP"}, headers=h(BUYER_A)).json()
    assert other["items"] == []
    every = client.get("/notices", headers=h(ADMIN)).json()
    assert {n["notice_id"] for n in every["items"]} == {"ungm:a1", "ungm:b1"}
    filtered = client.get("/notices", params={"code": "4213", "status": "active"}, headers=h(ADMIN)).json()
    assert filtered["total"] == 2
    assert client.get("/notices", params={"code": "4321"}, headers=h(ADMIN)).json()["total"] == 0


def test_suppliers_may_not_read_notices(client: TestClient) -> None:
    assert_problem(client.get("/notices", headers=h(SUPPLIER_S1)), 403)
    assert_problem(client.get("/notices/ungm:a1/shortlist", headers=h(SUPPLIER_S1)), 403)


def test_a_supplier_reads_and_changes_only_its_own_profile(client: TestClient) -> None:
    assert client.get("/suppliers/S1", headers=h(SUPPLIER_S1)).json()["supplier_id"] == "S1"
    assert_problem(client.get("/suppliers/S2", headers=h(SUPPLIER_S1)), 403)
    s2 = supplier("S2", keywords=("hijacked",)).model_dump(mode="json")
    assert_problem(client.put("/suppliers/S2", json=s2, headers=h(SUPPLIER_S1)), 403)
    assert_problem(client.patch("/suppliers/S2/preferences", json={"unsubscribed": True}, headers=h(SUPPLIER_S1)), 403)
    assert_problem(client.delete("/suppliers/S2", headers=h(SUPPLIER_S1)), 403)
    assert client.get("/suppliers/S2", headers=h(ADMIN)).json()["keywords"] == ["gloves"]

    patched = client.patch("/suppliers/S1/preferences", json={"unsubscribed": True}, headers=h(SUPPLIER_S1))
    assert patched.status_code == 200
    assert patched.json()["preferences"]["unsubscribed"] is True


def test_buyers_register_suppliers_but_do_not_change_them(client: TestClient) -> None:
    new = supplier("NEW").model_dump(mode="json")
    created = client.post("/suppliers", json=new, headers=h(BUYER_A))
    assert created.status_code == 201
    assert created.json()["profile"]["supplier_id"] == "NEW"
    assert created.json()["rematched_notices"] >= 1  # the open UNICEF gloves notice now lists NEW
    assert_problem(client.post("/suppliers", json=new, headers=h(BUYER_A)), 409)
    assert_problem(client.put("/suppliers/NEW", json=new, headers=h(BUYER_A)), 403)
    assert_problem(client.delete("/suppliers/NEW", headers=h(BUYER_A)), 403)
    assert client.delete("/suppliers/NEW", headers=h(ADMIN)).status_code == 204
    assert_problem(client.get("/suppliers/NEW", headers=h(ADMIN)), 404)


def test_invalid_profile_is_422_problem(client: TestClient) -> None:
    bad = supplier("S9").model_dump(mode="json") | {"country": "china"}
    body = assert_problem(client.post("/suppliers", json=bad, headers=h(ADMIN)), 422)
    assert any("country" in e["loc"] for e in body["errors"])  # type: ignore[attr-defined]
    other_id = supplier("S9").model_dump(mode="json")
    assert_problem(client.put("/suppliers/S8", json=other_id, headers=h(ADMIN)), 422)


def test_import_reports_rejected_lines_and_stores_the_rest(client: TestClient, api_container: Container) -> None:
    lines = [
        supplier("I1").model_dump_json(),
        '{"supplier_id": "broken"}',
        "not json",
        supplier("I2").model_dump_json(),
    ]
    response = client.post("/suppliers/import", content="\n".join(lines), headers=h(BUYER_A))
    assert response.status_code == 200
    report = response.json()
    assert report["imported"] == 2
    assert [r["line"] for r in report["rejected"]] == [2, 3]
    assert api_container.matcher.profiles.get("I2") is not None
    assert_problem(client.post("/suppliers/import", content=lines[0], headers=h(SUPPLIER_S1)), 403)


def test_a_buyer_import_creates_but_never_replaces_and_csv_is_accepted(
    client: TestClient, api_container: Container
) -> None:
    replaced = supplier("S2", keywords=("hijacked",)).model_dump_json()
    report = client.post("/suppliers/import", content=replaced, headers=h(BUYER_A)).json()
    assert report["imported"] == 0
    assert "exists" in report["rejected"][0]["reason"]
    stored = api_container.matcher.profiles.get("S2")
    assert stored is not None
    assert stored.keywords == ["gloves"]
    assert client.post("/suppliers/import", content=replaced, headers=h(ADMIN)).json()["imported"] == 1
    again = client.post("/suppliers/import", content=replaced, headers=h(ADMIN)).json()
    assert (again["imported"], again["unchanged"]) == (0, 1)

    text = "supplier_id,name,country,codes,keywords\nC1,Kabul Gloves,AF,42132203,gloves\nC2,No country,,,\n"
    csv_headers = h(BUYER_A) | {"Content-Type": "text/csv"}
    report = client.post("/suppliers/import", content=text, headers=csv_headers).json()
    assert report["imported"] == 1
    assert [r["line"] for r in report["rejected"]] == [3]
    created = api_container.matcher.profiles.get("C1")
    assert created is not None
    assert created.country == "AF"


def test_shortlist_is_ranked_explained_filtered_and_paginated(client: TestClient) -> None:
    page = client.get("/notices/ungm:a1/shortlist", headers=h(BUYER_A)).json()
    assert page["total"] == 3
    assert [e["rank"] for e in page["entries"]] == [1, 2, 3]
    assert all(e["components"][0]["reason"] for e in page["entries"])
    # The deciding reason as data too (code and args from the catalog), for readers in another language or voice.
    deciding = page["entries"][0]["components"][0]
    assert (deciding["reason_code"], deciding["reason_args"]) == (
        "code_exact",
        {"scheme": "UNSPSC", "code": "42132203"},
    )
    assert deciding["reason"] == "UNSPSC 42132203 is one of the supplier's codes"
    second = client.get("/notices/ungm:a1/shortlist", params={"offset": 1, "limit": 1}, headers=h(BUYER_A)).json()
    assert [e["rank"] for e in second["entries"]] == [2]
    india = client.get("/notices/ungm:a1/shortlist", params={"country": "IN"}, headers=h(BUYER_A)).json()
    assert [e["supplier_id"] for e in india["entries"]] == ["S2"]
    top = page["entries"][0]["total_score"]
    high = client.get("/notices/ungm:a1/shortlist", params={"min_score": top + 0.001}, headers=h(BUYER_A)).json()
    assert high["entries"] == []


def test_shortlist_csv_export(client: TestClient, api_container: Container) -> None:
    api_container.matcher.save_profile(supplier("S3", names={"en": '=HYPERLINK("http://evil")'}))
    for request in (
        {"params": {"format": "csv"}, "headers": h(BUYER_A)},
        {"headers": h(BUYER_A) | {"Accept": "text/csv"}},
    ):
        response = client.get("/notices/ungm:a1/shortlist", **request)  # type: ignore[arg-type]
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [r["rank"] for r in rows] == ["1", "2", "3"]
        assert {r["supplier_id"] for r in rows} == {"S1", "S2", "S3"}
        assert all(r["reasons"] and float(r["total_score"]) > 0 for r in rows)
        assert "UNSPSC 42132203 is one of the supplier's codes" in rows[0]["reasons"]
        assert "score_category" in rows[0]
        evil = next(r for r in rows if r["supplier_id"] == "S3")
        assert evil["supplier_name"].startswith("'=")  # not a formula in a spreadsheet


def test_the_buyer_page_escapes_what_comes_from_outside(client: TestClient, api_container: Container) -> None:
    api_container.matcher.handle_notice(notice("x", agency="UNICEF", title="Gloves <script>alert(1)</script>"))
    page = client.get("/ui/notices/ungm:x", headers=h(BUYER_A))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert "Supplier S1" in page.text
    # The reasons are written for the buyer reading the page, not to the supplier.
    assert "UNSPSC 42132203 is one of the supplier&#39;s codes" in page.text
    assert "your" not in page.text.lower()


def test_supplier_search(client: TestClient) -> None:
    found = client.get("/suppliers/search", params={"code": "4213", "country": "IN"}, headers=h(BUYER_A)).json()
    assert [p["supplier_id"] for p in found["items"]] == ["S2"]
    assert client.get("/suppliers/search", params={"q": "nothing-like-this"}, headers=h(ADMIN)).json()["items"] == []
    assert_problem(client.get("/suppliers/search", headers=h(SUPPLIER_S1)), 403)


def test_ops_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    assert 'matcher_notices_matched_total{status="active"} 2.0' in metrics
    assert "matcher_shortlist_size_bucket" in metrics
    assert client.get("/openapi.json").json()["paths"]["/notices/{notice_id}/shortlist"]


def test_buyers_sign_in_to_the_pages_with_a_cookie_that_the_api_ignores(api_container: Container) -> None:
    with TestClient(create_app(api_container), follow_redirects=False) as browser:
        first = browser.get("/ui/notices/ungm:a1")
        assert first.status_code == 303
        assert first.headers["location"].startswith("/ui/login?next=")
        bad = browser.post("/ui/login", content="api_key=nope&next=/ui/notices/ungm:a1")
        assert bad.status_code == 401
        assert "unknown API key" in bad.text
        ok = browser.post("/ui/login", content=f"api_key={BUYER_A}&next=/ui/notices/ungm:a1")
        assert ok.status_code == 303
        assert ok.headers["location"] == "/ui/notices/ungm:a1"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        page = browser.get("/ui/notices/ungm:a1")
        assert page.status_code == 200
        assert "Supplier S1" in page.text
        listing = browser.get("/ui/notices")
        assert "ungm:a1" in listing.text
        assert "ungm:b1" not in listing.text
        assert browser.get("/ui/notices/ungm:b1").status_code == 404
        # The cookie is for the pages only: the API still wants the key in a header.
        assert browser.get("/notices/ungm:a1").status_code == 401
        assert browser.post("/notices/ungm:a1/rematch").status_code == 401


def test_login_redirects_only_within_the_pages(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/ui/", "/notices"):
        response = client.post("/ui/login", content=f"api_key={BUYER_A}&next={target}", follow_redirects=False)
        assert response.headers["location"] == "/ui/notices"


def test_notice_ids_with_a_slash_are_reachable(client: TestClient, api_container: Container) -> None:
    api_container.matcher.handle_notice(notice("UNFPA/RFQ-2026-1", agency="UNICEF"))
    for path in ("/notices/ungm:UNFPA/RFQ-2026-1", "/notices/ungm:UNFPA%2FRFQ-2026-1"):
        assert client.get(path, headers=h(BUYER_A)).json()["notice_id"] == "ungm:UNFPA/RFQ-2026-1"
    page = client.get("/notices/ungm:UNFPA/RFQ-2026-1/shortlist", headers=h(BUYER_A)).json()
    assert page["shortlist_id"] == "ungm:UNFPA/RFQ-2026-1@1"
    assert client.post("/notices/ungm:UNFPA/RFQ-2026-1/rematch", headers=h(BUYER_A)).status_code == 200
    assert client.get("/ui/notices/ungm:UNFPA%2FRFQ-2026-1", headers=h(BUYER_A)).status_code == 200
    assert "ungm%3AUNFPA%2FRFQ-2026-1" in client.get("/ui/notices", headers=h(BUYER_A)).text

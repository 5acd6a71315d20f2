"""The matcher's HTTP door, probed as an attacker would (issue "Hardening"): authentication before a body is read,
one size policy (bodies, profiles, addresses, new addresses per key), bounded JSON nesting, empty ids, deadline
offsets, login CSRF, security headers, agency names compared one way, and the OpenAPI document's code rule."""

from __future__ import annotations

import asyncio
import json
import re
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from httpx import Response

from contracts import SupplierProfile
from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.entrypoints.http import create_app
from services.matcher.entrypoints.pages import CODE_FILTER_PATTERN, read_filter_code
from services.matcher.keys import Role
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, key_header, notice, stored_key, supplier

pytestmark = pytest.mark.unit

ADMIN = "admin-secret"
BUYER, SPACED_BUYER, SUPPLIER_KEY = "key-buyer", "key-spaced-buyer", "key-supplier-s1"
LIMITS = {
    "matcher_max_body_bytes": 64 * 1024,
    "matcher_max_profile_bytes": 8 * 1024,
    "matcher_max_emails_per_profile": 5,
    "matcher_new_addresses_per_key_hour": 8,
    "matcher_new_addresses_per_key_day": 12,
}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def container(clock: Clock) -> Container:
    c = bootstrap_in_memory(Settings(matcher_admin_api_key=ADMIN, **LIMITS), clock=clock)
    for key in (
        stored_key(BUYER, Role.BUYER, agency="UNICEF"),
        stored_key(SPACED_BUYER, Role.BUYER, agency=" unicef "),
        stored_key(SUPPLIER_KEY, Role.SUPPLIER, supplier_id="S1"),
    ):
        c.keys.put(key)
    c.matcher.handle_notice(notice("a1", agency="UNICEF"))
    return c


@pytest.fixture
def client(page_client: TestClient) -> TestClient:
    return page_client


h = key_header


def problem(response: Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail: str = response.json()["detail"]
    return detail


def with_emails(sid: str, count: int, domain: str = "example.com") -> dict[str, Any]:
    return supplier(sid, emails=[f"{sid.lower()}.{i}@{domain}" for i in range(count)]).model_dump(mode="json")


def published(container: Container) -> list[Any]:
    publisher = container.matcher.publisher
    assert isinstance(publisher, InMemoryPublisher)
    return publisher.on(container.settings.topic_profiles)


# -- authentication before the body, one size policy at the door --------------------------------------------------


def asgi_post(
    container: Container,
    headers: list[tuple[bytes, bytes]],
    chunks: int,
    path: str = "/suppliers",
    content_type: bytes = b"application/json",
) -> tuple[int, int]:
    """POST straight to the ASGI app with a body of ``chunks`` 1 MiB chunks; the status answered and how many
    chunks the app read."""
    app = create_app(container)
    read = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"[" * (1 << 20), "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", content_type), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return status, read


def test_an_unauthenticated_200_mb_post_is_refused_before_one_byte_is_read(container: Container) -> None:
    assert asgi_post(container, [], chunks=200) == (401, 0)
    assert asgi_post(container, [(b"x-api-key", b"nope")], chunks=200) == (401, 0)


def test_a_body_over_the_limit_is_refused_before_it_is_read_or_as_soon_as_it_passes_the_limit(
    container: Container,
) -> None:
    stated = [(b"x-api-key", ADMIN.encode()), (b"content-length", str(200 << 20).encode())]
    assert asgi_post(container, stated, chunks=200) == (413, 0)
    status, read = asgi_post(container, [(b"x-api-key", ADMIN.encode())], chunks=200)  # chunked, no length
    assert (status, read) == (413, 1)  # the first MiB is past the 64 KiB limit: nothing more is read
    jsonl = asgi_post(container, [(b"x-api-key", ADMIN.encode())], 200, "/suppliers/import", b"application/x-ndjson")
    assert jsonl == (413, 1)


def test_a_body_over_the_limit_answers_413_naming_it(client: TestClient, container: Container) -> None:
    big = "x" * (LIMITS["matcher_max_body_bytes"] + 1)
    detail = problem(client.post("/suppliers/import", content=big, headers=h(ADMIN)), 413)
    assert "65,536 bytes" in detail
    assert "TB_MATCHER_MAX_BODY_BYTES" in detail


def test_json_nested_100000_deep_answers_422_not_a_server_error(container: Container) -> None:
    container.settings.matcher_max_body_bytes = Settings().matcher_max_body_bytes  # 200 KB is under the default
    client = TestClient(create_app(container))
    deep = "[" * 100_000 + "]" * 100_000
    for method, path in (("POST", "/suppliers"), ("PUT", "/suppliers/S1"), ("PATCH", "/suppliers/S1/preferences")):
        response = client.request(method, path, content=deep, headers=h(ADMIN) | {"Content-Type": "application/json"})
        assert "nested deeper than 64 levels" in problem(response, 422)
    # Brackets inside strings are text, not nesting.
    text = supplier("S7", keywords=("[" * 500,)).model_dump_json()
    ok = client.post("/suppliers", content=text, headers=h(ADMIN) | {"Content-Type": "application/json"})
    assert ok.status_code == 201, ok.text


def test_a_profile_the_bus_cannot_carry_is_refused_with_413_before_anything_is_stored(
    client: TestClient, container: Container
) -> None:
    huge = supplier("BIG", description={"en": "gloves " * 2000}).model_dump(mode="json")
    for response in (
        client.post("/suppliers", json=huge, headers=h(BUYER)),
        client.put("/suppliers/BIG", json=huge, headers=h(ADMIN)),
    ):
        detail = problem(response, 413)
        assert "8,192 bytes" in detail
        assert "TB_MATCHER_MAX_PROFILE_BYTES" in detail
    assert container.matcher.profiles.get("BIG") is None
    assert published(container) == []
    container.matcher.profiles.put(supplier("S1"))
    codes = {"codes": [f"{n:08d}" for n in range(10_000_000, 10_001_000)]}  # 1,000 codes: ~11 KB of preferences
    assert "TB_MATCHER_MAX_PROFILE_BYTES" in problem(
        client.patch("/suppliers/S1/preferences", json=codes, headers=h(ADMIN)), 413
    )
    assert published(container) == []
    # Not stored, so the same id may be registered at its right size (no 409 for a ghost).
    fits = supplier("BIG").model_dump(mode="json")
    assert client.post("/suppliers", json=fits, headers=h(BUYER)).status_code == 201


def test_a_profile_may_list_only_so_many_addresses(client: TestClient, container: Container) -> None:
    for key in (BUYER, ADMIN):
        detail = problem(client.post("/suppliers", json=with_emails("MANY", 6), headers=h(key)), 422)
        assert "lists 6 addresses" in detail
        assert "at most 5 (TB_MATCHER_MAX_EMAILS_PER_PROFILE)" in detail
    assert container.matcher.profiles.get("MANY") is None
    assert client.post("/suppliers", json=with_emails("MANY", 5), headers=h(BUYER)).status_code == 201


def test_an_import_reports_the_lines_over_the_limits_and_stores_the_others(
    client: TestClient, container: Container
) -> None:
    lines = [
        json.dumps(with_emails("OK1", 1)),
        json.dumps(with_emails("MANY", 6)),
        supplier("BIG", description={"en": "gloves " * 2000}).model_dump_json(),
    ]
    report = client.post("/suppliers/import", content="\n".join(lines), headers=h(ADMIN)).json()
    assert report["imported"] == 1
    assert [(r["line"], "TB_MATCHER_MAX" in r["reason"]) for r in report["rejected"]] == [(2, True), (3, True)]
    assert container.matcher.profiles.get("MANY") is None
    assert container.matcher.profiles.get("BIG") is None


def test_an_import_answers_415_for_a_body_it_does_not_read_and_422_for_an_empty_one(client: TestClient) -> None:
    json_body = json.dumps([with_emails("J1", 1)])
    sent = client.post("/suppliers/import", content=json_body, headers=h(ADMIN) | {"Content-Type": "application/json"})
    assert "JSON Lines" in problem(sent, 415)
    assert "empty" in problem(client.post("/suppliers/import", content="", headers=h(ADMIN)), 422)


# -- new addresses per registrant key ------------------------------------------------------------------------------


def test_a_buyer_key_registers_at_most_so_many_new_addresses_an_hour_and_a_day(
    client: TestClient, container: Container, clock: Clock
) -> None:
    for n in range(2):  # 8 an hour
        assert client.post("/suppliers", json=with_emails(f"H{n}", 4), headers=h(BUYER)).status_code == 201
    refused = client.post("/suppliers", json=with_emails("H2", 1), headers=h(BUYER))
    detail = problem(refused, 429)
    assert "at most 8 new addresses per hour (TB_MATCHER_NEW_ADDRESSES_PER_KEY_HOUR)" in detail
    assert int(refused.headers["Retry-After"]) == 3601  # when the first write leaves the hour
    assert container.matcher.profiles.get("H2") is None
    # An admin's roster vouches for its addresses: not counted; another key has its own quota.
    assert client.post("/suppliers", json=with_emails("A1", 5), headers=h(ADMIN)).status_code == 201
    assert client.post("/suppliers", json=with_emails("O1", 4), headers=h(SPACED_BUYER)).status_code == 201

    clock.now += timedelta(hours=1, seconds=1)
    assert client.post("/suppliers", json=with_emails("H2", 4), headers=h(BUYER)).status_code == 201
    day = problem(client.post("/suppliers", json=with_emails("H3", 1), headers=h(BUYER)), 429)
    assert "at most 12 new addresses per day (TB_MATCHER_NEW_ADDRESSES_PER_KEY_DAY)" in day
    metrics = client.get("/metrics").text
    assert 'matcher_registrations_refused_total{window="hour"} 1.0' in metrics
    assert 'matcher_registrations_refused_total{window="day"} 1.0' in metrics
    assert "matcher_addresses_registered_total 16.0" in metrics


def test_an_import_over_the_quota_is_refused_whole_before_anything_is_stored(
    client: TestClient, container: Container
) -> None:
    lines = "\n".join(json.dumps(with_emails(f"I{n}", 3)) for n in range(3))  # 9 new addresses, 8 an hour
    detail = problem(client.post("/suppliers/import", content=lines, headers=h(BUYER)), 429)
    assert "registers 9 new addresses" in detail
    assert [container.matcher.profiles.get(f"I{n}") for n in range(3)] == [None, None, None]


def test_a_supplier_key_adding_addresses_to_its_own_profile_is_counted_too(
    client: TestClient, container: Container
) -> None:
    container.matcher.profiles.put(supplier("S1"))
    assert client.put("/suppliers/S1", json=with_emails("S1", 5), headers=h(SUPPLIER_KEY)).status_code == 200
    again = with_emails("S1", 5, domain="example.org")
    assert "per hour" in problem(client.put("/suppliers/S1", json=again, headers=h(SUPPLIER_KEY)), 429)


# -- ids, queries, errors -----------------------------------------------------------------------------------------


class EmptyIdRefusingStore:
    """The notice store as Elasticsearch behaves for an empty id (its client raises ``ValueError`` before asking)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def get(self, notice_id: str) -> Any:
        if not notice_id:
            raise ValueError("Empty value passed for a required argument 'id'")
        return self.inner.get(notice_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/notices/"),
        ("GET", "/notices//shortlist"),
        ("POST", "/notices//rematch"),
        ("GET", "/ui/notices/"),
        ("GET", "/ui/notices//shortlist.csv"),
    ],
)
def test_an_empty_notice_id_is_404_without_asking_the_store(container: Container, method: str, path: str) -> None:
    container.matcher.notices = EmptyIdRefusingStore(container.matcher.notices)
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        problem(client.request(method, path, headers=h(BUYER)), 404)


def test_a_deadline_out_of_range_in_utc_is_422_in_our_words(client: TestClient) -> None:
    response = client.get("/notices", params={"deadline_from": "0001-01-01T00:30:00+01:00"}, headers=h(BUYER))
    detail = problem(response, 422)
    assert detail.startswith("deadline_from: 0001-01-01T00:30:00+01:00 is out of range once in UTC")
    # An offset of +23:59 is a valid instant: read in UTC, it filters like any other.
    late = client.get("/notices", params={"deadline_from": "2026-03-01T00:00:00+23:59"}, headers=h(BUYER))
    assert late.json()["total"] == 1


def test_a_405_names_every_method_of_the_path(client: TestClient) -> None:
    for path, allowed in (("/suppliers/S1", "DELETE, GET, PUT"), ("/ui/login", "GET, POST")):
        response = client.request("OPTIONS", path, headers=h(ADMIN))
        assert response.status_code == 405
        assert response.headers["allow"] == allowed


# -- the pages: login CSRF and security headers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_cross_site_login_post_signs_nobody_in(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/ui/login", content=f"api_key={BUYER}&next=/ui/notices", headers=headers)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "headers", [{"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {}]
)
def test_a_login_post_from_the_sign_in_page_signs_in(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/ui/login", content=f"api_key={BUYER}&next=/ui/notices", headers=headers)
    assert response.status_code == 303
    assert "tb_api_key=" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("path", "status"), [("/ui/login", 200), ("/ui/notices", 200), ("/ui/notices/ungm:a1", 200), ("/docs", 200)]
)
def test_every_html_answer_carries_the_security_headers(client: TestClient, path: str, status: int) -> None:
    response = client.get(path, headers=h(BUYER))
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    if path.startswith("/ui"):
        assert response.headers["cache-control"] == "no-store"
        assert "script-src" not in response.headers["content-security-policy"]  # the pages run no script


def test_api_answers_are_nosniff_and_pages_csv_is_not_cached(client: TestClient) -> None:
    api = client.get("/notices", headers=h(BUYER))
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers
    csv = client.get("/ui/notices/ungm:a1/shortlist.csv", headers=h(BUYER))
    assert (csv.status_code, csv.headers["cache-control"]) == (200, "no-store")


# -- agencies compared one way ------------------------------------------------------------------------------------


def test_an_agency_key_with_spaces_and_another_case_sees_what_its_agency_registered(
    client: TestClient, container: Container
) -> None:
    created = client.post("/suppliers", json=with_emails("R1", 2), headers=h(BUYER))
    assert created.status_code == 201
    assert client.get("/notices/ungm:a1", headers=h(SPACED_BUYER)).status_code == 200  # as it sees the notices
    seen = client.get("/suppliers/R1", headers=h(SPACED_BUYER)).json()
    assert seen["emails"] == ["r1.0@example.com", "r1.1@example.com"]
    assert set(seen["email_confirmations"]) == set(seen["emails"])


# -- the OpenAPI document states the code filter's rule ----------------------------------------------------------


def test_the_openapi_document_states_the_code_filters_rule(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    code = next(p for p in spec["paths"]["/notices"]["get"]["parameters"] if p["name"] == "code")
    assert code["schema"]["pattern"] == CODE_FILTER_PATTERN


@given(st.one_of(st.from_regex(CODE_FILTER_PATTERN), st.text(alphabet="0123456789 -\t\nx٤", max_size=14)))
def test_the_stated_code_rule_is_the_rule_applied(written: str) -> None:
    assert (read_filter_code(written) is not None) == bool(re.match(CODE_FILTER_PATTERN, written))


def test_profile_limits_count_the_profile_as_published() -> None:
    from services.matcher.service import ProfileLimits

    profile = SupplierProfile.model_validate(with_emails("P1", 1))
    stamp = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    size = len(profile.model_copy(update={"updated_at": stamp}).model_dump_json().encode())
    ProfileLimits(max_bytes=size).check(profile)
    with pytest.raises(Exception, match=f"{size:,} bytes as stored"):
        ProfileLimits(max_bytes=size - 1).check(profile)


def test_a_null_preference_goes_back_to_its_default(client: TestClient, container: Container) -> None:
    chosen = {"timezone": "Asia/Shanghai", "frequency": "daily_digest"}
    container.matcher.profiles.put(supplier("S1", preferences=chosen))
    patched = client.patch("/suppliers/S1/preferences", json={"timezone": None, "frequency": None}, headers=h(ADMIN))
    assert patched.status_code == 200, patched.text
    assert (patched.json()["preferences"]["timezone"], patched.json()["preferences"]["frequency"]) == (
        "UTC",
        "immediate",
    )


def test_a_request_the_store_refuses_is_422_without_the_stores_words() -> None:
    from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
    from elasticsearch import BadRequestError

    from services.matcher.adapters.elastic import _guard
    from services.matcher.exceptions import InvalidInput

    meta = ApiResponseMeta(400, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "localhost", 9200))
    refused = BadRequestError("search_phase_execution_exception: failed to parse date field", meta, {})
    with pytest.raises(InvalidInput) as caught, _guard():
        raise refused
    assert "search_phase" not in str(caught.value)
    assert "Elasticsearch" not in str(caught.value)


@settings(max_examples=40, deadline=None)
@given(extra=st.integers(min_value=-300, max_value=300), use_put=st.booleans())
def test_a_profile_around_the_size_limit_is_delivered_whole_or_refused_whole(extra: int, use_put: bool) -> None:
    """Random sizes around ``TB_MATCHER_MAX_PROFILE_BYTES``: either stored and published (201/200) or refused with
    413 and neither stored nor published; never a 5xx, never stored but unpublished."""
    limit = LIMITS["matcher_max_profile_bytes"]
    now = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)  # the longest stamp a profile gets
    c = bootstrap_in_memory(Settings(matcher_admin_api_key=ADMIN, **LIMITS), clock=lambda: now)
    base = supplier("P1", description={"en": ""})
    padding = max(limit - len(base.model_dump_json().encode()) + extra, 0)
    profile = base.model_copy(update={"description": {"en": "g" * padding}})
    stamped = profile.model_copy(update={"updated_at": datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)})
    size = len(stamped.model_dump_json().encode())
    with TestClient(create_app(c), raise_server_exceptions=False) as client:
        body = profile.model_dump(mode="json")
        sent = (
            client.put("/suppliers/P1", json=body, headers=h(ADMIN))
            if use_put
            else client.post("/suppliers", json=body, headers=h(ADMIN))
        )
    stored = c.matcher.profiles.get("P1")
    if size <= limit:
        assert sent.status_code in (200, 201), sent.text
        assert stored is not None
        assert [len(p.model_dump_json().encode()) <= limit for p in published(c) if p is not None] == [True]
    else:
        assert "TB_MATCHER_MAX_PROFILE_BYTES" in problem(sent, 413)
        assert stored is None
        assert published(c) == []

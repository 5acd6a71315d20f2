"""Operators' key administration over the in-memory fake: revoked and expired keys answer 401 saying which (on the
API, the pages and the sign-in form), a revocation applies to the next request, refusals are counted by reason, and a
key's last use is written at most once an hour."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from httpx import Response

from services.matcher.adapters.memory import InMemoryKeyStore
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.entrypoints.http import create_app
from services.matcher.exceptions import NotFound
from services.matcher.keys import ApiKey, Refusal, Role, hash_token, normalize_key_id, select_keys
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit

BUYER, OTHER = "tbk_buyer-unicef", "tbk_buyer-wfp"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def key(token: str, **extra: object) -> ApiKey:
    fields: dict[str, object] = {"key_hash": hash_token(token), "role": Role.BUYER, "agency": "UNICEF"}
    fields.setdefault("created_at", CREATED)
    fields.update(extra)
    return ApiKey.model_validate(fields)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def container(clock: Clock) -> Container:
    c = bootstrap_in_memory(Settings(matcher_admin_api_key="admin-secret"), clock=clock)
    c.keys.put(key(BUYER))
    c.keys.put(key(OTHER, agency="WFP"))
    c.matcher.profiles.put(supplier("S1"))
    c.matcher.handle_notice(notice("a1", agency="UNICEF"))
    return c


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), follow_redirects=False) as c:
        yield c


def refused(response: Response, detail: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": detail}


def refused_page(response: Response, says: str) -> None:
    """A ``/ui`` page's refusal: 401 as an HTML page that says which, with a link to sign in again."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert says in response.text
    assert 'href="/ui/login?next=' in response.text


def refusals(client: TestClient) -> dict[str, float]:
    out = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("matcher_api_keys_refused_total{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('"')[1]] = float(value)
    return out


# -- the key itself ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "at", "expected"),
    [
        ({}, NOW, None),
        ({"expires_at": NOW + timedelta(seconds=1)}, NOW, None),
        ({"expires_at": NOW}, NOW, Refusal.EXPIRED),
        ({"expires_at": NOW - timedelta(days=1)}, NOW, Refusal.EXPIRED),
        ({"revoked_at": NOW, "revoked_reason": "leaked"}, NOW, Refusal.REVOKED),
        # revoked outranks expired: it says more
        ({"revoked_at": NOW, "revoked_reason": "x", "expires_at": NOW - timedelta(days=1)}, NOW, Refusal.REVOKED),
    ],
)
def test_a_key_is_refused_once_revoked_or_past_its_expiry(
    fields: dict[str, object], at: datetime, expected: Refusal | None
) -> None:
    assert key(BUYER, **fields).refusal(at) == expected


def test_a_key_stored_before_revocation_and_expiry_existed_reads_as_active() -> None:
    legacy = {"key_hash": "ab" * 32, "role": "buyer", "agency": "UNICEF", "supplier_id": None, "label": "old"}
    stored = ApiKey.model_validate(legacy | {"created_at": "2026-01-01T00:00:00Z"})
    assert stored.refusal(NOW) is None
    assert stored.key_id == "abababababab"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("EB14242C9BA0", "eb14242c9ba0"), (" eb14 ", "eb14"), ("a" * 64, "a" * 64)],
)
def test_key_ids_are_read_as_lower_case_hex(typed: str, expected: str) -> None:
    assert normalize_key_id(typed) == expected


@pytest.mark.parametrize("typed", ["", "eb1", "tbk_abcdef", "xyz123", "a" * 65, "eb14 2c"])
def test_what_is_not_a_key_id_is_refused_plainly(typed: str) -> None:
    with pytest.raises(ValueError, match="not a key id"):
        normalize_key_id(typed)


def test_the_listing_filters_by_role_agency_supplier_and_status() -> None:
    day = timedelta(days=1)
    keys = [
        key("a", agency="UNICEF", created_at=CREATED + 4 * day),
        key("b", agency="  unicef ", created_at=CREATED + 2 * day),
        key("c", agency="WFP", revoked_at=NOW, revoked_reason="gone"),
        key("d", role=Role.SUPPLIER, agency=None, supplier_id="S1", expires_at=NOW, created_at=CREATED + day),
        key("e", role=Role.ADMIN, agency=None, created_at=CREATED + 3 * day),
    ]
    ids = {k.key_hash: t for t, k in zip("abcde", keys, strict=True)}

    def listed(**filters: object) -> list[str]:
        return [ids[k.key_hash] for k in select_keys(keys, now=NOW, **filters)]  # type: ignore[arg-type]

    assert listed() == ["c", "d", "b", "e", "a"]  # oldest first
    assert listed(agency="Unicef") == ["b", "a"]
    assert listed(role=Role.BUYER, status="active") == ["b", "a"]
    assert listed(status="revoked") == ["c"]
    assert listed(status="expired") == ["d"]
    assert listed(supplier_id="S1") == ["d"]
    assert listed(role=Role.ADMIN) == ["e"]


def test_the_fake_finds_keys_by_prefix_and_revokes_without_forgetting() -> None:
    store = InMemoryKeyStore()
    stored = key(BUYER, label="for UNICEF")
    store.put(stored)
    assert store.with_prefix(stored.key_id, limit=5) == [stored]
    assert store.with_prefix(stored.key_hash, limit=5) == [stored]
    store.revoke(stored.key_hash, NOW, "leaked")
    store.record_use(stored.key_hash, NOW + timedelta(hours=2))  # a partial write: the revocation stays
    after = store.find(stored.key_hash)
    assert after is not None
    assert (after.revoked_at, after.revoked_reason, after.label) == (NOW, "leaked", "for UNICEF")
    assert after.last_used_at == NOW + timedelta(hours=2)
    with pytest.raises(NotFound):
        store.revoke("0" * 64, NOW, "no such key")


# -- over HTTP -----------------------------------------------------------------------------------------------------


def test_a_revoked_key_is_refused_from_the_next_request_saying_only_that(
    client: TestClient, container: Container
) -> None:
    assert client.get("/notices/ungm:a1", headers={"X-API-Key": BUYER}).status_code == 200
    container.keys.revoke(hash_token(BUYER), NOW, "leaked in ticket 4711")
    for headers in ({"X-API-Key": BUYER}, {"Authorization": f"Bearer {BUYER}"}):
        response = client.get("/notices/ungm:a1", headers=headers)
        refused(response, "this API key was revoked")
        assert "4711" not in response.text
    assert client.get("/notices/ungm:a1", headers={"X-API-Key": OTHER}).status_code == 404  # others unaffected


def test_a_key_works_until_its_expiry_then_says_it_expired(
    client: TestClient, container: Container, clock: Clock
) -> None:
    container.keys.put(key(BUYER, expires_at=NOW + timedelta(days=30)))
    assert client.get("/notices/ungm:a1", headers={"X-API-Key": BUYER}).status_code == 200
    clock.now = NOW + timedelta(days=30)
    refused(client.get("/notices/ungm:a1", headers={"X-API-Key": BUYER}), "this API key expired")
    refused(client.get("/notices/ungm:a1", headers={"X-API-Key": "tbk_nobody"}), "unknown API key")


def test_refused_keys_are_counted_by_reason(client: TestClient, container: Container, clock: Clock) -> None:
    assert refusals(client) == {"unknown": 0.0, "revoked": 0.0, "expired": 0.0}
    container.keys.put(key(OTHER, agency="WFP", expires_at=NOW + timedelta(hours=1)))
    container.keys.revoke(hash_token(BUYER), NOW, "leaked")
    clock.now = NOW + timedelta(hours=1)
    for token in (BUYER, BUYER, OTHER, "tbk_nobody"):
        client.get("/notices", headers={"X-API-Key": token})
    client.get("/notices")  # no key at all is not a refused key
    assert refusals(client) == {"unknown": 1.0, "revoked": 2.0, "expired": 1.0}


def test_a_second_app_over_the_same_container_shares_the_counter(container: Container) -> None:
    with TestClient(create_app(container)) as first, TestClient(create_app(container)) as second:
        first.get("/notices", headers={"X-API-Key": "tbk_nobody"})
        assert refusals(second)["unknown"] == 1.0


def test_the_sign_in_cookie_of_a_revoked_key_stops_working_and_is_cleared(
    client: TestClient, container: Container
) -> None:
    signed_in = client.post("/ui/login", content=f"api_key={BUYER}&next=/ui/notices/ungm:a1")
    assert signed_in.status_code == 303
    assert client.get("/ui/notices/ungm:a1").status_code == 200
    container.keys.revoke(hash_token(BUYER), NOW, "left the agency")
    page = client.get("/ui/notices/ungm:a1")
    refused_page(page, "This API key was revoked")
    assert "tb_api_key=" in page.headers["set-cookie"]
    assert "Max-Age=0" in page.headers["set-cookie"]
    again = client.get("/ui/notices")  # the cookie is gone: the sign-in form, not the key
    assert again.status_code == 303
    assert again.headers["location"].startswith("/ui/login")
    form = client.post("/ui/login", content=f"api_key={BUYER}&next=/ui/notices")
    assert form.status_code == 401
    assert "this API key was revoked" in form.text
    assert "set-cookie" not in form.headers


def test_an_expired_key_cannot_sign_in_to_the_pages(client: TestClient, container: Container) -> None:
    container.keys.put(key(BUYER, expires_at=NOW))
    form = client.post("/ui/login", content=f"api_key={BUYER}&next=/ui/notices")
    assert form.status_code == 401
    assert "this API key expired" in form.text
    refused_page(client.get("/ui/notices", headers={"X-API-Key": BUYER}), "This API key expired")


def test_the_last_use_is_written_at_most_once_an_hour(client: TestClient, container: Container, clock: Clock) -> None:
    def last_used() -> datetime | None:
        found = container.keys.find(hash_token(BUYER))
        assert found is not None
        return found.last_used_at

    assert last_used() is None
    client.get("/notices", headers={"X-API-Key": BUYER})
    assert last_used() == NOW
    clock.now = NOW + timedelta(minutes=59)
    client.get("/notices", headers={"X-API-Key": BUYER})
    client.get("/ui/notices", headers={"X-API-Key": BUYER})
    assert last_used() == NOW
    clock.now = NOW + timedelta(minutes=61)
    client.get("/ui/notices", headers={"X-API-Key": BUYER})
    assert last_used() == NOW + timedelta(minutes=61)
    container.keys.revoke(hash_token(BUYER), clock.now, "rotated")
    clock.now = NOW + timedelta(hours=5)
    client.get("/notices", headers={"X-API-Key": BUYER})  # refused: not a use
    assert last_used() == NOW + timedelta(minutes=61)

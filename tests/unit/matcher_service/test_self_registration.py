"""The public registration form over the in-memory fakes: the page's language, the double opt-in, one answer for
new and known mailboxes, the honeypot, the signed form token and the same-site check, the per-client and
per-mailbox limits and the form's budget, the errors in the page's language, the headers and the body limit."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain.registration import self_supplier_id
from services.matcher.entrypoints.http import create_app
from services.matcher.entrypoints.routers.register import page_language
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.unit

SECRET = "form-secret"
FORM = {
    "company": "Ningbo Care Gloves Co.",
    "country": "CN",
    "description": "nitrile gloves",
    "codes": "42132203",
    "language": "en",
    "frequency": "immediate",
    "timezone": "UTC",
}


def settings(**extra: Any) -> Settings:
    return Settings(matcher_form_secret=SECRET, **extra)


@pytest.fixture
def container() -> Container:
    return bootstrap_in_memory(settings(), clock=lambda: NOW)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), follow_redirects=False) as c:
        yield c


def token(client: TestClient, **headers: str) -> str:
    page = client.get("/register", headers=headers)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def post(client: TestClient, email: str, **fields: str) -> Any:
    return client.post("/register", data={"csrf": token(client), **FORM, "email": email, **fields})


def profile_of(container: Container, address: str) -> Any:
    return container.matcher.profiles.get(self_supplier_id(SECRET.encode(), address))


@pytest.mark.parametrize(
    ("asked", "accept", "language"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        (None, "en-GB,zh;q=0.5", "en"),
        (None, "fr-FR,zh-TW;q=0.7,en;q=0.6", "zh-Hans"),
        (None, "fr-FR", "en"),
        (None, "en;q=0.2,zh;q=0.9", "zh-Hans"),
        ("en", "zh-CN", "en"),
        ("xx", "zh-CN", "zh-Hans"),
    ],
)
def test_the_page_speaks_the_asked_language_else_the_browsers(asked: str | None, accept: str, language: str) -> None:
    assert page_language(asked, accept) == language


def test_the_form_is_in_chinese_for_a_chinese_browser_with_a_switch_to_english(client: TestClient) -> None:
    page = client.get("/register", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-Hans">' in page.text
    assert "注册您的公司" in page.text
    assert 'href="/register?lang=en"' in page.text
    assert "Asia/Shanghai" in page.text  # the time zone it starts with
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=strict" in page.headers["set-cookie"]


def test_a_registration_creates_a_profile_whose_address_waits_for_confirmation(
    client: TestClient, container: Container
) -> None:
    answer = post(client, "sales@ningbo-care.com")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/register/sent?lang=en"
    profile = profile_of(container, "sales@ningbo-care.com")
    assert profile.unconfirmed_emails() == ["sales@ningbo-care.com"]
    assert profile.alert_emails() == []
    assert profile.email_confirmations["sales@ningbo-care.com"].registered_by == "Ningbo Care Gloves Co."
    assert {"codes", "description", "preferences.language"} <= set(profile.set_by_supplier)  # the firm's own choices
    published = container.matcher.publisher.published  # type: ignore[attr-defined]
    assert [m[1] for m in published if m[0] == container.settings.topic_profiles] == [profile.supplier_id]


def test_a_known_mailbox_gets_the_same_answer_and_nothing_is_written(client: TestClient, container: Container) -> None:
    first = post(client, "jdoe@gmail.com")
    stored = profile_of(container, "jdoe@gmail.com")
    published = len(container.matcher.publisher.published)  # type: ignore[attr-defined]
    again = post(client, "J.Doe+tenders@googlemail.com", company="Someone Else")
    assert (again.status_code, again.headers["location"]) == (first.status_code, first.headers["location"])
    assert profile_of(container, "jdoe@gmail.com") == stored
    assert len(container.matcher.publisher.published) == published  # type: ignore[attr-defined]
    assert _outcomes(container)["known"] == 1


def _outcomes(container: Container) -> dict[str, float]:
    """Self-registrations counted by outcome, as ``/metrics`` reports them."""
    return {
        sample.labels["outcome"]: sample.value
        for metric in container.registry.collect()
        if metric.name == "matcher_self_registrations"
        for sample in metric.samples
        if sample.name == "matcher_self_registrations_total"
    }


def test_the_honeypot_filled_in_gets_the_usual_answer_and_nothing_is_stored(
    client: TestClient, container: Container
) -> None:
    answer = post(client, "bot@example.com", website="http://spam.example")
    assert answer.status_code == 303
    assert profile_of(container, "bot@example.com") is None
    assert _outcomes(container)["honeypot"] == 1


def test_a_post_without_a_valid_token_or_from_another_site_is_refused(client: TestClient, container: Container) -> None:
    good = token(client)
    forged = client.post("/register", data={"csrf": "1." + "0" * 64, **FORM, "email": "a@example.com"})
    assert forged.status_code == 403
    cross = client.post(
        "/register",
        data={"csrf": good, **FORM, "email": "a@example.com"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    client.cookies.clear()  # the token is bound to the browser's form cookie
    stolen = client.post("/register", data={"csrf": good, **FORM, "email": "a@example.com"})
    assert stolen.status_code == 403
    assert profile_of(container, "a@example.com") is None
    assert "This form expired" in stolen.text


def test_every_wrong_field_is_said_in_the_pages_language(client: TestClient) -> None:
    page = client.post(
        "/register",
        data={"csrf": token(client), "lang": "zh-Hans", "company": "", "country": "X1", "email": "shop@gloves"},
    )
    assert page.status_code == 422
    assert '<html lang="zh-Hans">' in page.text
    errors = dict(re.findall(r'id="(\w+)-error">([^<]+)<', page.text))
    assert errors["company"] == "请填写此栏。"
    assert "X1" in errors["country"]
    assert "shop@gloves" in errors["email"]
    assert errors["description"] == "请填写此栏。"
    assert 'aria-describedby="email-error"' in page.text


def test_a_client_that_posts_too_often_gets_429_saying_when_to_come_back(container: Container) -> None:
    limited = bootstrap_in_memory(settings(matcher_register_per_client_hour=2), clock=lambda: NOW)
    with TestClient(create_app(limited), follow_redirects=False) as c:
        assert [post(c, f"s{i}@example.com").status_code for i in range(2)] == [303, 303]
        refused = post(c, "s3@example.com")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 3600
    assert "Too many registrations" in refused.text
    assert profile_of(limited, "s3@example.com") is None


def test_a_mailbox_tried_too_often_is_left_alone_with_the_usual_answer(container: Container) -> None:
    limited = bootstrap_in_memory(settings(matcher_register_per_address_day=1), clock=lambda: NOW)
    with TestClient(create_app(limited), follow_redirects=False) as c:
        post(c, "a@example.com")
        limited.matcher.profiles.delete(self_supplier_id(SECRET.encode(), "a@example.com"))
        again = post(c, "a+2@example.com")
    assert again.status_code == 303
    assert profile_of(limited, "a@example.com") is None  # not created again: the mailbox's limit
    assert _outcomes(limited)["address_limit"] == 1


def test_the_forms_budget_of_new_addresses_ends_in_429(container: Container) -> None:
    limited = bootstrap_in_memory(
        settings(matcher_new_addresses_per_key_hour=1, matcher_new_addresses_per_key_day=1), clock=lambda: NOW
    )
    with TestClient(create_app(limited), follow_redirects=False) as c:
        assert post(c, "one@example.com").status_code == 303
        refused = post(c, "two@example.com")
    assert refused.status_code == 429
    assert profile_of(limited, "two@example.com") is None


def test_a_body_over_the_apis_limit_is_refused_before_it_is_read(client: TestClient) -> None:
    huge = "x" * (Settings().matcher_max_body_bytes + 1)
    answer = client.post("/register", content=huge, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413


def test_suggested_codes_are_offered_and_those_kept_are_registered(container: Container) -> None:
    from contracts import Classification, CodeScheme

    asked: list[str] = []

    def suggest(text: str) -> list[tuple[Classification, str, float]]:
        asked.append(text)
        return [
            (Classification(scheme=CodeScheme.UNSPSC, code="42132203"), "Medical exam gloves", 0.6),
            (Classification(scheme=CodeScheme.CPV, code="33141420"), "Surgical gloves", 0.4),
            (Classification(scheme=CodeScheme.UNSPSC, code="53130000"), "Personal care products", 0.1),
        ]

    app = create_app(container)
    app.state.code_suggest = suggest
    with TestClient(app, follow_redirects=False) as c:
        assert "Suggest codes from my description" in c.get("/register").text
        form = {"csrf": token(c), **FORM, "codes": "", "email": "kept@example.com"}
        offered = c.post("/register", data={**form, "step": "suggest"})
        assert offered.status_code == 200
        assert asked == ["nitrile gloves"]
        offered_codes = re.findall(r'name="accept" value="([^"]+)"', offered.text)
        assert offered_codes == ["UNSPSC:42132203", "CPV:33141420", "UNSPSC:53130000"]
        assert " checked" not in offered.text  # none ticked: the supplier chooses
        assert "Surgical gloves" in offered.text
        hidden = re.findall(r'name="suggested" value="([^"]+)"', offered.text)
        # The supplier keeps the first UNSPSC code only.
        kept = c.post("/register", data={**form, "csrf": token(c), "suggested": hidden, "accept": ["UNSPSC:42132203"]})
    assert kept.status_code == 303
    profile = profile_of(container, "kept@example.com")
    assert [(x.scheme.value, x.code) for x in profile.codes] == [("UNSPSC", "42132203")]


def test_without_code_suggestion_the_form_asks_for_typed_codes_only(container: Container) -> None:
    app = create_app(container)
    app.state.code_suggest = None
    with TestClient(app) as c:
        page = c.get("/register").text
    assert "Suggest codes" not in page
    assert 'name="codes"' in page

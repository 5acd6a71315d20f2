"""The notifier's HTTP app against hostile or odd requests: every HTML answer carries the security headers (a token
page also ``Cache-Control: no-store``), bodies are read through ``services.infra.limits`` (a 100,000-deep JSON is a
422, a body over the limit a 413, never a 500), a null in a JSON preferences patch changes nothing, and the OpenAPI
document says exactly what the app accepts: schemathesis, all checks, against the app in process."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from services.notifier.domain import tokens
from services.notifier.entrypoints.http import MAX_BODY_BYTES, app_for
from tests.unit.notifier.factories import profile
from tests.unit.notifier.rig import Rig, confirm_link, http, registered, seed

pytestmark = pytest.mark.unit

HTML = {"Accept": "text/html"}
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def links(rig: Rig) -> dict[str, str]:
    """A link of each kind for supplier ``a`` (and the confirmation link of ``b``'s address)."""
    seed(rig, profile("a"), registered("b"))
    n, _ = http(rig)
    n.confirmations.send_confirmations()
    pref = n.signer.token(tokens.PREFERENCES, "a")
    return {
        "/unsubscribe": f"/unsubscribe?token={n.signer.token(tokens.UNSUBSCRIBE, 'a')}",
        "/preferences": f"/preferences?token={pref}",
        "/profile": f"/profile?token={pref}",
        "/confirm": confirm_link(rig.mail.sent[0]),
    }


@pytest.mark.parametrize("path", ["/unsubscribe", "/preferences", "/profile", "/confirm"])
def test_every_token_page_carries_the_security_headers_and_is_never_cached(rig: Rig, path: str) -> None:
    link = links(rig)[path]
    _, client = http(rig)
    for answer in (client.get(link, headers=HTML), client.get(path + "?token=forged.1.x", headers=HTML)):
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    page = client.get(link, headers=HTML)
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["X-Frame-Options"] == "DENY"
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # no script may run on these pages


def test_a_hundred_thousand_deep_json_is_refused_not_a_500(rig: Rig) -> None:
    link = links(rig)
    _, client = http(rig)
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/profile", "/preferences"):
        answer = client.post(link[path], content=deep, headers=JSON)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_body_over_the_limit_is_413_and_names_it(rig: Rig) -> None:
    link = links(rig)
    _, client = http(rig)
    big = b"keywords=" + b"x" * MAX_BODY_BYTES
    for path in ("/profile", "/preferences"):
        answer = client.post(link[path], content=big, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 413, (path, answer.text)
        assert f"{MAX_BODY_BYTES:,}" in answer.json()["detail"]


def test_a_null_in_a_json_preferences_patch_changes_nothing(rig: Rig) -> None:
    link = links(rig)["/preferences"]
    _, client = http(rig)
    body = '{"frequency": null, "timezone": null, "digest_hour": 6, "language": null}'
    answer = client.post(link, content=body, headers=JSON)
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == ["digest_hour"]
    assert rig.matcher.profiles["a"].preferences.frequency.value == "immediate"


def test_the_schema_states_the_time_zones_and_nulls_of_a_patch(rig: Rig) -> None:
    _, client = http(rig)
    body = client.get("/openapi.json").json()["paths"]["/preferences"]["post"]["requestBody"]["content"]
    patch = body["application/json"]["schema"]
    assert patch["additionalProperties"] is False
    zone = patch["properties"]["timezone"]["anyOf"]
    assert {"type": "null"} in zone
    assert "Asia/Shanghai" in zone[0]["enum"]
    assert "Not/AZone" not in zone[0]["enum"]


def test_the_openapi_document_holds_against_schemathesis_with_all_checks(rig: Rig) -> None:
    """Every operation, schema-valid and schema-invalid requests (a valid token for most, so the bodies are
    reached), every check schemathesis has: no 500, answers and content types as documented, schema-valid requests
    accepted, schema-invalid ones refused. Bounded: 25 examples per operation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import schemathesis
    link = links(rig)
    n = rig.notifier()
    signed = {path: url.partition("token=")[2] for path, url in link.items()}
    app = app_for(rig.container())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/unsubscribe", "/preferences", "/profile", "/confirm"}
    assert n.signer.verify(tokens.PREFERENCES, signed["/profile"]) == "a"
    for operation in operations:

        @settings(
            max_examples=25, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            if case.operation.path in signed and case.query and "token" in case.query:
                case.query["token"] = signed[case.operation.path]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                case.call_and_validate()

        try:
            check()
        except Exception as exc:  # one report for every operation, not only the first that fails
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)

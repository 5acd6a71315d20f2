"""TenderNotices from JSON Lines and from ``POST /notices`` get the normalization of every other source."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from contracts import CodeScheme, TenderNotice
from localrun.demodata.data import generate_notices
from services.infra.bus import InMemoryPublisher
from services.ingest.adapters.memory import InMemoryStateStore
from services.ingest.domain import jsonl, ocds
from services.ingest.domain.model import Context, Outcome, Rejection
from services.ingest.domain.normalize import content_hash
from services.ingest.entrypoints.http import create_app
from services.ingest.service import Ingestor
from tests.unit.ingest.util import release

pytestmark = pytest.mark.unit

CTX = Context(source="demo", detect_language=False)


def notice_dict(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "notice_id": "push:1",
        "source": "push",
        "source_id": "1",
        "title": "Water pumps",
        "language": "en",
        "buyer": {"name": "UNICEF"},
    }
    base.update(overrides)
    return base


def read_line(data: dict[str, Any], ctx: Context = CTX) -> TenderNotice:
    [outcome] = list(jsonl.parse(orjson.dumps(data), ctx))
    assert isinstance(outcome, TenderNotice), outcome
    return outcome


def test_a_4_digit_unspsc_code_is_padded_without_a_warning() -> None:
    notice = read_line(notice_dict(classifications=[{"scheme": "UNSPSC", "code": "4213"}]))
    assert [(c.scheme, c.code) for c in notice.classifications] == [(CodeScheme.UNSPSC, "42130000")]
    assert notice.warnings == []


def test_a_pushed_notice_is_normalized_and_published_padded() -> None:
    publisher = InMemoryPublisher()
    ingestor = Ingestor(publisher, InMemoryStateStore(), "notices", "dlq")
    client = TestClient(create_app(ingestor, {"secret"}, Context(source="push", detect_language=False)))
    body = notice_dict(classifications=[{"scheme": "UNSPSC", "code": "4213"}], title="<p>Water&nbsp;pumps</p>")
    response = client.post("/notices", json=body, headers={"X-API-Key": "secret"})
    assert response.status_code == 202
    assert response.json()["warnings"] == []
    [(key, notice)] = [(k, v) for topic, k, v in publisher.published if topic == "notices"]
    assert key == "push:1"
    assert isinstance(notice, TenderNotice)
    assert notice.codes(CodeScheme.UNSPSC) == ["42130000"]
    assert notice.title == "Water pumps"


@pytest.mark.parametrize("code", ["abc", "123", "00123456", "4213000012"])
def test_a_bad_unspsc_code_is_kept_as_other_with_a_warning(code: str) -> None:
    notice = read_line(notice_dict(classifications=[{"scheme": "UNSPSC", "code": code}]))
    [kept] = notice.classifications
    assert (kept.scheme, kept.code, kept.scheme_name) == (CodeScheme.OTHER, code, "UNSPSC")
    assert notice.codes(CodeScheme.UNSPSC) == []
    assert notice.warnings == [f"unspsc code {code!r} is not 8 digits; kept as UNSPSC"]


@pytest.mark.parametrize(
    ("item", "expected_warnings"),
    [
        (
            {"scheme": "CPV", "code": "33141411", "check_digit": "3"},
            ["cpv check digit wrong for 33141411-3 (expected 4)"],
        ),
        ({"scheme": "CPV", "code": "33141411-3"}, ["cpv check digit wrong for 33141411-3 (expected 4)"]),
        ({"scheme": "CPV", "code": "33141411", "check_digit": "4"}, []),
        ({"scheme": "CPV", "code": "33141411"}, []),
    ],
)
def test_a_cpv_check_digit_is_verified_and_a_wrong_one_kept_with_a_warning(
    item: dict[str, Any], expected_warnings: list[str]
) -> None:
    notice = read_line(notice_dict(items=[{"id": "1", "classification": item}]))
    main = notice.items[0].classification
    assert main is not None
    assert (main.scheme, main.code) == (CodeScheme.CPV, "33141411")
    assert main.check_digit == (item.get("check_digit") or ("3" if "-" in item["code"] else None))
    assert notice.warnings == expected_warnings


def test_every_code_of_the_notice_is_normalized_and_deduplicated() -> None:
    notice = read_line(
        notice_dict(
            classifications=[{"scheme": "UNSPSC", "code": "4213"}, {"scheme": "UNSPSC", "code": "42130000"}],
            items=[
                {
                    "id": "1",
                    "classification": {"scheme": "UNSPSC", "code": "42 13 22"},
                    "additional_classifications": [
                        {"scheme": "UNSPSC", "code": "421322"},
                        {"scheme": "UNSPSC", "code": "42132200"},
                        {"scheme": "OTHER", "code": "X-17", "scheme_name": "CUCOP"},
                        {"scheme": "OTHER", "code": "Y-2"},
                    ],
                }
            ],
        )
    )
    assert [c.code for c in notice.classifications] == ["42130000"]
    item = notice.items[0]
    assert item.classification is not None
    assert item.classification.code == "42132200"
    assert [(c.scheme, c.code, c.scheme_name) for c in item.additional_classifications] == [
        (CodeScheme.UNSPSC, "42132200", None),
        (CodeScheme.OTHER, "X-17", "CUCOP"),
        (CodeScheme.OTHER, "Y-2", None),
    ]


def test_html_is_stripped_from_the_texts() -> None:
    notice = read_line(
        notice_dict(
            title="<h1>Water&nbsp;pumps</h1>  for <b>camps</b>",
            description="<p>Solar pumps.</p><p>Spare &amp; parts.</p>",
            buyer={"name": " <span>UNICEF</span> "},
            items=[{"id": "1", "description": "<i>pump</i>", "unit": "<b>each</b>"}],
            documents=[{"url": "https://example.org/1", "title": "<b>Terms</b>"}],
        )
    )
    assert (notice.title, notice.description, notice.buyer.name) == (
        "Water pumps for camps",
        "Solar pumps. Spare & parts.",
        "UNICEF",
    )
    assert (notice.items[0].description, notice.items[0].unit) == ("pump", "each")
    assert notice.documents[0].title == "Terms"


def test_a_title_that_is_only_markup_is_rejected_under_the_notice_id() -> None:
    [outcome] = list(jsonl.parse(orjson.dumps(notice_dict(title="<p> </p>")), CTX))
    assert isinstance(outcome, Rejection)
    assert (outcome.reason, outcome.key) == ("no_title", "push:1")


def test_the_language_is_detected_when_missing_if_the_context_says_so() -> None:
    text = {"title": "Fourniture de pompes à eau", "description": "Le fonds achète des pompes solaires pour les camps."}
    missing = notice_dict(language=None, **text)
    assert read_line(missing, Context(source="push", detect_language=True)).language == "fr"
    assert read_line(missing, Context(source="push", detect_language=False)).language is None
    assert read_line(notice_dict(language="fra", **text), Context(source="push")).language == "fr"


def test_a_currency_outside_iso_4217_is_dropped_with_a_warning() -> None:
    notice = read_line(notice_dict(estimated_value={"amount": 10, "currency": "XYZ"}))
    assert notice.estimated_value is None
    assert notice.warnings == ["value currency 'XYZ' is not an ISO 4217 code; ignored"]
    kept = read_line(notice_dict(estimated_value={"amount": 10, "currency": "USD"}))
    assert kept.estimated_value is not None
    assert kept.estimated_value.currency == "USD"


def test_instants_come_out_in_utc_with_the_zone_they_were_written_in() -> None:
    notice = read_line(notice_dict(deadline_at="2026-10-22T08:00:00+04:30"))
    assert notice.deadline_at == datetime(2026, 10, 22, 3, 30, tzinfo=UTC)
    assert notice.deadline_at is not None
    assert notice.deadline_at.utcoffset() == timedelta(0)
    assert notice.deadline_utc_offset == "+04:30"


def test_the_notices_own_warnings_are_kept_beside_the_new_ones() -> None:
    notice = read_line(notice_dict(warnings=["from the source"], classifications=[{"scheme": "UNSPSC", "code": "x"}]))
    assert notice.warnings == ["from the source", "unspsc code 'x' is not 8 digits; kept as UNSPSC"]


def mapped_notices() -> list[TenderNotice]:
    """What ingest's mappers publish: a few OCDS releases (one with a wrong CPV check digit)."""
    outcomes: list[Outcome] = [ocds.map_release(release(), CTX)]
    bad_cpv = release(ocid="ocds-abc123-0002")
    bad_cpv["tender"]["items"][0]["classification"]["id"] = "33141411-3"
    outcomes.append(ocds.map_release(bad_cpv, CTX))
    found = [o for o in outcomes if isinstance(o, TenderNotice)]
    assert len(found) == 2
    assert found[1].warnings
    return found


@pytest.mark.parametrize(
    "notice",
    [*generate_notices(12, seed=3), *mapped_notices()],
    ids=lambda n: n.notice_id,
)
def test_an_already_normalized_notice_keeps_its_content_and_hash(notice: TenderNotice) -> None:
    expected = notice.content_hash or content_hash(notice)
    again = read_line(orjson.loads(notice.model_dump_json()))
    assert again.content_hash == expected
    unchanged = {"version", "status", "changes", "content_hash", "warnings"}
    assert again.model_dump(exclude=unchanged) == notice.model_dump(exclude=unchanged)


def test_the_push_api_documents_its_body_and_problem_answers() -> None:
    ingestor = Ingestor(InMemoryPublisher(), InMemoryStateStore(), "notices", "dlq")
    spec = TestClient(create_app(ingestor, {"secret"}, CTX)).get("/openapi.json").json()
    push = spec["paths"]["/notices"]["post"]
    body = push["requestBody"]["content"]["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/TenderNotice"} in body
    notice_schema = spec["components"]["schemas"]["TenderNotice"]
    assert {"notice_id", "title", "buyer"} <= set(notice_schema["required"])
    assert spec["components"]["schemas"]["Classification"]["properties"]["code"]
    for status in ("401", "422"):
        problem = push["responses"][status]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}
    assert set(push["responses"]["202"]["content"]["application/json"]["schema"]["required"]) == {
        "notice_id",
        "version",
        "published",
        "warnings",
    }

"""Contracts: schemas exported without drift, models reject what they must, samples still validate."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from contracts import (
    Buyer,
    Classification,
    CodeScheme,
    ScoreComponent,
    ShortlistEntry,
    SupplierProfile,
    TenderNotice,
    topics,
)
from contracts.changes import Change, read_change
from contracts.export import SCHEMA_DIR, drift, render

pytestmark = pytest.mark.unit


def test_checked_in_schemas_match_the_models() -> None:
    assert drift() == [], "run `python -m contracts.export` and commit contracts/schemas/"


def test_every_schema_file_is_exported_by_a_model() -> None:
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == set(render())


def _notice(**overrides: object) -> TenderNotice:
    data: dict[str, object] = {
        "notice_id": "ungm:RFQ-1",
        "source": "ungm",
        "source_id": "RFQ-1",
        "title": "Supply of nitrile gloves",
        "buyer": Buyer(name="UNICEF"),
    }
    data.update(overrides)
    return TenderNotice.model_validate(data)


def test_notice_id_must_be_source_and_source_id() -> None:
    with pytest.raises(ValidationError, match="notice_id must be"):
        _notice(notice_id="ungm:other")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "   "),
        ("version", 0),
        ("delivery_countries", ["china"]),
        ("estimated_value", {"amount": 10, "currency": "usd"}),
        ("estimated_value", {"amount": -1, "currency": "USD"}),
        ("deadline_at", datetime(2026, 1, 1)),  # naive: the zone must be known
        ("unknown_field", 1),
    ],
)
def test_notice_rejects_bad_fields(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        _notice(**{field: value})


def test_notice_codes_are_distinct_and_ordered() -> None:
    unspsc = Classification(scheme=CodeScheme.UNSPSC, code="42132203")
    n = _notice(
        classifications=[unspsc],
        items=[{"classification": unspsc, "additional_classifications": [{"scheme": "CPV", "code": "33141420"}]}],
    )
    assert n.codes(CodeScheme.UNSPSC) == ["42132203"]
    assert n.codes(CodeScheme.CPV) == ["33141420"]


def test_notice_json_validates_against_its_exported_schema() -> None:
    notice = _notice(
        deadline_at=datetime(2026, 12, 1, 10, tzinfo=UTC), estimated_value={"amount": 5, "currency": "USD"}
    )
    schema = json.loads((SCHEMA_DIR / "tender_notice.v1.json").read_text())
    jsonschema.validate(json.loads(notice.model_dump_json()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(notice.model_dump_json()), "status": "deleted"}, schema)


def test_supplier_profile_checks_time_zone_and_email() -> None:
    base = {"supplier_id": "s-1", "names": {"en": "Acme"}, "country": "CN"}
    assert SupplierProfile.model_validate(base).display_name == "Acme"
    with pytest.raises(ValidationError, match="time zone"):
        SupplierProfile.model_validate({**base, "preferences": {"timezone": "Mars/Olympus"}})
    with pytest.raises(ValidationError):
        SupplierProfile.model_validate({**base, "emails": ["not-an-email"]})
    with pytest.raises(ValidationError):
        SupplierProfile.model_validate({**base, "names": {}})


def test_contracts_readme_lists_every_topic() -> None:
    readme = (Path(topics.__file__).parent / "README.md").read_text()
    for spec in topics.ALL_TOPICS:
        row = re.search(rf"^\|\s*`{re.escape(spec.name)}`\s*\|(.+)$", readme, re.MULTILINE)
        assert row, f"contracts/README.md has no row for {spec.name}"
        assert spec.value.__name__ in row.group(1)
        assert spec.cleanup_policy in row.group(1)


@pytest.mark.parametrize(
    "change",
    [
        Change("cancelled"),
        Change("reopened"),
        Change("content"),
        Change("items"),
        Change("field", "deadline_at", "2026-12-20T17:00:00+03:00", "none"),
        Change("field", "title", "Gloves: nitrile", "Gloves: latex"),
        Change("named", "description"),
        Change("codes_added", codes=("UNSPSC 42132205", "CPV 33141420")),
        Change("codes_removed", codes=("CUCOP 25301",)),
    ],
)
def test_a_change_line_reads_back_as_the_change_it_says(change: Change) -> None:
    assert read_change(change.line()) == change


@pytest.mark.parametrize("line", ["", "deadline moved", "colour: red -> blue", "codes added: ", "weather changed"])
def test_a_line_of_another_grammar_is_not_read(line: str) -> None:
    assert read_change(line) is None


def test_a_neutral_score_for_want_of_information_is_no_reason() -> None:
    def component(name: str, contribution: float, code: str | None) -> ScoreComponent:
        return ScoreComponent(
            name=name, score=0.5, weight=1.0, contribution=contribution, reason=name, reason_code=code
        )

    entry = ShortlistEntry(
        rank=1,
        supplier_id="s",
        supplier_name="s",
        total_score=0.5,
        components=[
            component("value", 0.3, "value_unknown"),
            component("category", 0.2, "code_exact"),
            component("text", 0.1, "words_shared"),
        ],
    )
    assert entry.top_reasons() == ["category", "text"]

"""The AwardRecord contract: ids derived from the source, at least one winner, text normalised, schema exported."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.award import AwardRecord
from contracts.export import render

SCHEMA = Path(__file__).resolve().parents[3] / "contracts" / "schemas" / "award_record.v1.json"


def _award(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "award_id": "eforms:00123456-2024:LOT-0001",
        "source": "eforms",
        "source_id": "00123456-2024:LOT-0001",
        "tender": {
            "id": "00123456-2024",
            "title": "Road salt",
            "classifications": [{"scheme": "CPV", "code": "34927100", "check_digit": "2"}],
        },
        "buyer": {"name": "Stadt Musterhausen", "id": "DE-123", "country": "DE"},
        "lot_id": "LOT-0001",
        "suppliers": [
            {
                "name": "Salz\u202e GmbH",
                "identifiers": [{"scheme": "DE-ORGID", "id": "HRB 1234"}],
                "country": "DE",
                "address": {"locality": "Bonn", "postal_code": "53111", "region": "DEA22", "country": "DE"},
            }
        ],
        "value": {"amount": 125000.0, "currency": "EUR"},
        "awarded_on": "2024-03-01",
    }
    base.update(over)
    return base


def test_an_award_reads_with_its_winner_identifiers_and_dates() -> None:
    award = AwardRecord.model_validate(_award())
    assert award.suppliers[0].identifiers[0].id == "HRB 1234"
    assert award.suppliers[0].name == "Salz GmbH"  # the bidi override is text, removed at the boundary
    assert award.awarded_on == date(2024, 3, 1)
    assert award.tender.classifications[0].code == "34927100"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"award_id": "eforms:other"}, "award_id must be"),
        ({"suppliers": []}, "at least 1"),
        ({"source": "TED XML"}, "pattern"),
        ({"value": {"amount": -1, "currency": "EUR"}}, "greater than or equal"),
        ({"suppliers": [{"name": "  "}]}, "at least 1 character"),
    ],
)
def test_an_award_without_a_winner_or_with_a_foreign_id_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AwardRecord.model_validate(_award(**change))


def test_the_checked_in_schema_matches_the_model() -> None:
    assert json.loads(render()["award_record.v1.json"]) == json.loads(SCHEMA.read_text(encoding="utf-8"))

"""A bad record in a file the matcher reads (``match``, ``import-suppliers``) is named by its line, each field that
is wrong and why; the good records around it are read as usual."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from contracts.api import ImportRejection
from services.matcher.entrypoints.cli import app
from services.matcher.imports import parse_jsonl
from tests.unit.matcher_service.builders import notice, supplier

pytestmark = pytest.mark.unit


def _profile(**changes: Any) -> str:
    doc = supplier("S1").model_dump(mode="json")
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not None})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (_profile(country="Atlantis"), "country: String should match pattern"),
        (_profile(supplier_id=None), "supplier_id: Field required"),
        (
            _profile(country="Atlantis", emails=["nope"]),
            "country: String should match pattern '^[A-Z]{2}$'; emails.0: value is not a valid email address",
        ),
        ('{"supplier_id": ', "not JSON: EOF while parsing"),
        ("[1, 2]", "Input should be an object"),
        ("{}", "supplier_id: Field required; names: Field required; country: Field required"),
    ],
)
def test_a_rejected_profile_line_names_each_wrong_field_and_why(line: str, reason: str) -> None:
    [(number, rejected)] = list(parse_jsonl(["", line]))
    assert isinstance(rejected, ImportRejection)
    assert (number, rejected.line) == (2, 2)
    assert rejected.reason.startswith(reason), rejected.reason


def test_past_three_wrong_fields_the_reason_says_how_many_more() -> None:
    [(_, rejected)] = list(parse_jsonl(['{"supplier_id": 1, "names": 2, "country": 3, "emails": 4, "codes": 5}']))
    assert isinstance(rejected, ImportRejection)
    assert rejected.reason.count(": ") >= 3
    assert rejected.reason.endswith("; and 2 more"), rejected.reason


def test_offline_match_names_the_line_field_and_reason_of_each_bad_record(tmp_path: Path) -> None:
    good = notice("1", deadline=datetime(2099, 1, 1, tzinfo=UTC))  # open whenever the test runs
    no_title = good.model_dump(mode="json") | {"notice_id": "ungm:2", "title": "", "deadline_at": "next tuesday"}
    no_buyer = {k: v for k, v in good.model_dump(mode="json").items() if k != "buyer"}
    notices = tmp_path / "notices.jsonl"
    notices.write_text(
        "\n".join([json.dumps(no_title), "{not json", good.model_dump_json(), json.dumps(no_buyer)]) + "\n",
        encoding="utf-8",
    )
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text(f"{supplier('S1').model_dump_json()}\n{_profile(country='Atlantis')}\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["match", str(notices), "--profiles", str(profiles), "--json"])

    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if " line " in line]
    assert said == [
        "profiles line 2: country: String should match pattern '^[A-Z]{2}$'",
        "notices line 1: title: String should have at least 1 character; deadline_at: Input should be a valid "
        "datetime or date, invalid character in year",
        "notices line 2: not JSON: key must be a string at line 1 column 2",
        "notices line 4: buyer: Field required",
    ]
    [shortlist] = [json.loads(line) for line in result.stdout.splitlines()]
    assert shortlist["notice_id"] == good.notice_id
    assert [e["supplier_id"] for e in shortlist["entries"]] == ["S1"]

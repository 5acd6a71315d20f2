"""Reading profile files: JSON Lines and CSV, bad rows reported with line number and reason."""

from __future__ import annotations

import pytest

from contracts import CodeScheme, SupplierProfile
from contracts.api import ImportRejection
from services.matcher.imports import parse_csv, parse_jsonl
from tests.unit.matcher_service.builders import supplier

pytestmark = pytest.mark.unit

HEADER = (
    "supplier_id,name,country,emails,codes,keywords,description,certifications,registration_level,"
    "max_value_amount,max_value_currency\n"
)


def test_csv_rows_become_profiles() -> None:
    text = (
        HEADER
        + "S1,Ningbo Medical,CN,a@x.cn;b@x.cn,42132203;CPV:33141411-4,gloves;masks,"
        + '"Gloves, masks",ISO 9001,level_1,50000,usd\n'
    )
    [(line, profile)] = list(parse_csv(text))
    assert line == 2
    assert isinstance(profile, SupplierProfile)
    assert profile.emails == ["a@x.cn", "b@x.cn"]
    assert [(c.scheme, c.code, c.check_digit) for c in profile.codes] == [
        (CodeScheme.UNSPSC, "42132203", None),
        (CodeScheme.CPV, "33141411", "4"),
    ]
    assert profile.max_contract_value is not None
    assert profile.max_contract_value.currency == "USD"
    assert profile.description == {"en": "Gloves, masks"}


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        (",No id,CN,,,,,,,,", "supplier_id"),
        ("S2,Bad country,China,,,,,,,,", "country"),
        ("S3,Bad email,CN,not-an-email,,,,,,,", "emails"),
        ("S4,Bad value,CN,,,,,,,lots,USD", "could not convert"),
        ("S5,Bad scheme,CN,,XYZ:123,,,,,,", "XYZ"),
    ],
)
def test_bad_csv_rows_are_reported(row: str, needle: str) -> None:
    [(line, rejected)] = list(parse_csv(HEADER + row + "\n"))
    assert line == 2
    assert isinstance(rejected, ImportRejection)
    assert needle in rejected.reason


def test_jsonl_skips_blank_lines_and_reports_bad_ones_by_number() -> None:
    lines = [supplier("A").model_dump_json(), "", "{}", supplier("B").model_dump_json()]
    out = list(parse_jsonl(lines))
    assert [n for n, _ in out] == [1, 3, 4]
    assert isinstance(out[1][1], ImportRejection)
    assert [p.supplier_id for _, p in out if isinstance(p, SupplierProfile)] == ["A", "B"]


def test_a_file_that_stops_being_csv_is_reported_not_crashed_on() -> None:
    text = HEADER + "S1,Ok,CN,,,,,,,,\n" + "S2," + "x" * 200_000 + ",CN\n"  # over the csv module's field limit
    out = list(parse_csv(text))
    assert isinstance(out[0][1], SupplierProfile)
    assert isinstance(out[-1][1], ImportRejection)
    assert "not CSV" in out[-1][1].reason

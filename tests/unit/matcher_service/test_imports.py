"""Reading profile files: JSON Lines and CSV, bad rows reported with line number and reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts import AlertFrequency, AlertPreferences, Classification, CodeScheme, SupplierProfile
from contracts.api import ImportRejection
from services.matcher.imports import merge_import, parse_csv, parse_jsonl, same_profile
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


def stored_profile() -> SupplierProfile:
    award = {"agency": "UNICEF", "description": "gloves", "date": "2025-03-01"}
    prefs = AlertPreferences(frequency=AlertFrequency.DAILY_DIGEST, language="zh-Hans", timezone="Asia/Shanghai")
    return supplier("S1", keywords=("gloves",), past_awards=[award], preferences=prefs)


def test_an_import_line_replaces_what_it_states_and_keeps_the_rest() -> None:
    stored = stored_profile()
    [(_, line)] = list(parse_csv(HEADER + "S1,Ningbo Medical,CN,new@x.cn,42132203,masks,,,,,\n"))
    assert isinstance(line, SupplierProfile)
    merged = merge_import(stored, line)
    assert merged.names == {"en": "Ningbo Medical"}
    assert merged.emails == ["new@x.cn"]
    assert merged.keywords == ["masks"]
    assert merged.past_awards == stored.past_awards  # a CSV row has no past awards: kept
    assert merged.preferences == stored.preferences  # nor preferences: the supplier's own choices stay
    assert not same_profile(stored, merged)


def test_an_import_changes_only_the_preferences_it_states_and_never_resubscribes() -> None:
    stored = stored_profile()
    stored = stored.model_copy(update={"preferences": stored.preferences.model_copy(update={"unsubscribed": True})})
    [(_, line)] = list(
        parse_jsonl(['{"supplier_id": "S1", "names": {"en": "S1"}, "country": "CN", '
                     '"preferences": {"digest_hour": 6, "unsubscribed": false}}'])
    )  # fmt: skip
    assert isinstance(line, SupplierProfile)
    merged = merge_import(stored, line)
    assert merged.preferences.digest_hour == 6
    assert merged.preferences.unsubscribed  # only the supplier (its preferences page) turns alerts back on
    assert (merged.preferences.frequency, merged.preferences.language) == (AlertFrequency.DAILY_DIGEST, "zh-Hans")
    assert merged.codes == stored.codes  # not stated in the line: kept


def test_a_line_that_states_what_is_stored_changes_nothing() -> None:
    stored = stored_profile().model_copy(update={"updated_at": None})
    line = SupplierProfile.model_validate(stored.model_dump(exclude={"updated_at"}))
    assert same_profile(stored, merge_import(stored, line))
    assert not same_profile(stored, merge_import(stored, line.model_copy(update={"country": "VN"})))


def test_a_full_roster_line_leaves_what_the_supplier_set_itself() -> None:
    """The QA case: every line of a roster written with every field states them all; what the supplier changed on
    its own pages in between stays as it chose."""
    chose = datetime(2026, 11, 20, tzinfo=UTC)
    stored = stored_profile()
    stored = stored.model_copy(
        update={
            "codes": [Classification(scheme=CodeScheme.UNSPSC, code="43210000")],
            "keywords": ["laptops"],
            "preferences": stored.preferences.model_copy(update={"language": "en", "timezone": "Europe/Berlin"}),
            "set_by_supplier": {"codes": chose, "keywords": chose, "preferences.language": chose,
                                "preferences.timezone": chose},
        }
    )  # fmt: skip
    roster = supplier("S1", codes=("42132203",), keywords=("gloves",)).model_copy(update={"country": "VN"})
    line = SupplierProfile.model_validate(roster.model_dump(mode="json"))  # every field stated, as in a full export
    merged = merge_import(stored, line)
    assert merged.codes == stored.codes
    assert merged.keywords == ["laptops"]
    assert (merged.preferences.language, merged.preferences.timezone) == ("en", "Europe/Berlin")
    assert merged.country == "VN"  # not the supplier's: the roster's
    assert merged.preferences.digest_hour == roster.preferences.digest_hour  # stated, not set by the supplier
    assert merged.set_by_supplier == stored.set_by_supplier

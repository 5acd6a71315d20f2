from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest

from contracts import CodeScheme
from services.ingest.domain.model import Context
from services.ingest.domain.normalize import (
    classification,
    clean_text,
    country,
    cpv_check_digit,
    language_tag,
    money,
    parse_instant,
)
from tests.conftest import shared_data

pytestmark = pytest.mark.unit

CTX = Context(source="test", detect_language=False)


@pytest.mark.parametrize(
    ("raw", "end_of_day", "instant", "offset"),
    [
        ("2026-08-18Z", True, datetime(2026, 8, 18, 23, 59, 59, tzinfo=UTC), "+00:00"),
        ("2026-09-07+02:00", True, datetime(2026, 9, 7, 21, 59, 59, tzinfo=UTC), "+02:00"),
        ("2026-10-02+02:00", False, datetime(2026, 10, 1, 22, 0, tzinfo=UTC), "+02:00"),
        ("2022-02-06T23:00:00Z", False, datetime(2022, 2, 6, 23, 0, tzinfo=UTC), "+00:00"),
        ("2016-06-14T23:59:59.999999+03:00", False, datetime(2016, 6, 14, 20, 59, 59, 999999, tzinfo=UTC), "+03:00"),
        ("2024-09-02T12:00:00.0000000+01:00", False, datetime(2024, 9, 2, 11, 0, tzinfo=UTC), "+01:00"),
        ("2026-10-22T08:00:00+04:30", False, datetime(2026, 10, 22, 3, 30, tzinfo=UTC), "+04:30"),
        ("2011-03-10T05:00:00.0", False, datetime(2011, 3, 10, 5, 0, tzinfo=UTC), None),
        ("2017-08-08T08:24:21-04:00", False, datetime(2017, 8, 8, 12, 24, 21, tzinfo=UTC), "-04:00"),
    ],
)
def test_instants_become_utc_and_keep_their_offset(
    raw: str, end_of_day: bool, instant: datetime, offset: str | None
) -> None:
    assert parse_instant(raw, end_of_day=end_of_day) == (instant, offset)


@pytest.mark.parametrize("raw", ["", "tomorrow", "2026-13-01", "2026-02-30", "2026-01-01T25:00", "2026-01-01+15:00", 7])
def test_bad_instants_raise_value_error(raw: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every kind of bad date is a ValueError
        parse_instant(raw)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<p>Supply of <b>pumps</b></p>", "Supply of pumps"),
        ("Fish &amp; chips", "Fish & chips"),
        ("&lt;p&gt;escaped&lt;/p&gt;", "escaped"),
        ("  two\n\tlines  ", "two lines"),
        ("line<br>break", "line break"),
        ("already clean", "already clean"),
        (None, ""),
        (42, "42"),
        (["a list"], ""),
    ],
)
def test_clean_text(raw: object, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("scheme", "code", "expected_scheme", "expected_code", "warns"),
    [
        ("UNSPSC", "43211503", CodeScheme.UNSPSC, "43211503", False),
        ("unspsc", "4321", CodeScheme.UNSPSC, "43210000", False),  # family level, unpadded
        ("UNSPSC", "4321150", CodeScheme.OTHER, "4321150", True),  # 7 digits: kept, flagged
        ("CPV", "45000000-7", CodeScheme.CPV, "45000000", False),
        ("CPV", "45000000-3", CodeScheme.CPV, "45000000", True),  # wrong check digit
        ("CPV", "79000000", CodeScheme.CPV, "79000000", False),  # no check digit given
        ("CPV", "34331300/1", CodeScheme.OTHER, "34331300/1", True),
        ("ДКПП", "32.50.3", CodeScheme.OTHER, "32.50.3", False),
    ],
)
def test_classifications(scheme: str, code: str, expected_scheme: CodeScheme, expected_code: str, warns: bool) -> None:
    warnings: list[str] = []
    c = classification(scheme, code, "<i>desc</i>", CTX, warnings)
    assert c is not None
    assert (c.scheme, c.code, c.description) == (expected_scheme, expected_code, "desc")
    assert bool(warnings) == warns
    if expected_scheme == CodeScheme.OTHER:
        assert c.scheme_name == scheme


def test_wrong_cpv_check_digit_is_a_warning_naming_the_code() -> None:
    warnings: list[str] = []
    classification("CPV", "33141411-3", None, CTX, warnings)
    assert warnings == ["cpv check digit wrong for 33141411-3 (expected 4)"]


def test_official_cpv_list_overrides_the_algorithm() -> None:
    # 09310000-5 is published with check digit 5 although the weights give 9 (a code renumbered in 2008).
    ctx = Context(source="test", cpv_check_digits={"09310000": "5"}, detect_language=False)
    warnings: list[str] = []
    classification("CPV", "09310000-5", None, ctx, warnings)
    assert warnings == []
    classification("CPV", "09310000-5", None, CTX, warnings)
    assert warnings == ["cpv check digit wrong for 09310000-5 (expected 9)"]


def test_cpv_algorithm_agrees_with_most_of_the_official_list() -> None:
    path = shared_data("cpv", "cpv2008-en.csv")
    with path.open(encoding="utf-8") as handle:
        codes = [row["code"] for row in csv.DictReader(handle)]
    agree = sum(cpv_check_digit(c[:8]) == c[9] for c in codes)
    assert agree / len(codes) > 0.9


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("564501.55", "EUR", {"amount": 564501.55, "currency": "EUR"}),
        (1000, "usd", {"amount": 1000.0, "currency": "USD"}),
        ("1,200", "AUD", {"amount": 1200.0, "currency": "AUD"}),
        (100, "EUROS", None),
        (100, "XYZ", None),
        (-5, "EUR", None),
        ("n/a", "EUR", None),
        (100, None, None),
    ],
)
def test_money_checks_iso_4217(amount: object, currency: object, expected: dict[str, object] | None) -> None:
    warnings: list[str] = []
    assert money(amount, currency, "value", warnings) == expected
    assert bool(warnings) == (expected is None)


@pytest.mark.parametrize(
    ("raw", "code"),
    [("NOR", "NO"), ("de", "DE"), ("Afghanistan", "AF"), ("Украина", "UA"), ("Multiple destinations", None)],
)
def test_country(raw: str, code: str | None) -> None:
    assert country(raw) == code


@pytest.mark.parametrize(
    ("raw", "tag"), [("HY", "hy"), ("en-GB", "en-GB"), ("eng", "en"), ("ell", "el"), ("md", "md"), ("12", None)]
)
def test_language_tag(raw: str, tag: str | None) -> None:
    assert language_tag(raw) == tag

from __future__ import annotations

import csv
import html
import re
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import CodeScheme, TenderNotice
from services.ingest.domain import ocds
from services.ingest.domain.model import Context
from services.ingest.domain.normalize import (
    CPV_WEIGHTS,
    _cached_langdetect,
    classification,
    clean_text,
    country,
    cpv_check_digit,
    language_probabilities,
    language_tag,
    money,
    parse_instant,
)
from tests.conftest import shared_data
from tests.unit.ingest.util import release

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


def _official_cpv() -> list[tuple[str, str, str | None]]:
    """``(8 digits, check digit, parent's 8 digits)`` of every code in the official CPV 2008 list."""
    path = shared_data("cpv", "cpv2008-en.csv")
    with path.open(encoding="utf-8") as handle:
        return [(r["code"][:8], r["code"][9], r["parent"][:8] or None) for r in csv.DictReader(handle)]


def test_cpv_rule_agrees_with_the_official_list_wherever_a_rule_can() -> None:
    codes = _official_cpv()
    assert len(codes) == 9454
    digits = np.array([[int(d) for d in code] for code, _, _ in codes])
    published = np.array([int(check) for _, check, _ in codes])
    weights = np.array(CPV_WEIGHTS)
    agree = int(((digits @ weights) % 10 == published).sum())
    assert agree == sum(cpv_check_digit(code) == check for code, check, _ in codes)
    assert agree / len(codes) > 0.943  # 8,922 of 9,454
    # No other weight at any position, and no mod-11 scheme with these weights, agrees with more codes.
    for position in range(8):
        for weight in range(10):
            other = weights.copy()
            other[position] = weight
            assert ((digits @ other) % 10 == published).sum() <= agree
    assert (((digits @ weights) % 11) % 10 == published).sum() < agree
    assert (((11 - (digits @ weights) % 11) % 11) % 10 == published).sum() < agree


def test_cpv_codes_off_the_rule_are_mostly_whole_subtrees_moved_from_cpv_2003() -> None:
    # A subtree renumbered in 2008 kept the check digits of its CPV 2003 codes (42100000-0 is 29100000-0 of CPV
    # 2003): its codes are off the rule by one shared amount, which no weights over the 2008 digits give.
    codes = _official_cpv()
    offset = {code: (int(check) - int(cpv_check_digit(code))) % 10 for code, check, _ in codes}
    parent = {code: up for code, _, up in codes}
    off_rule = [code for code in offset if offset[code]]
    inherited = [c for c in off_rule if parent[c] is not None and offset[parent[c]] == offset[c]]
    roots = {c for c in off_rule if c not in inherited}
    assert len(off_rule) == len(codes) - 8922
    assert sum(c.startswith("421") for c in off_rule) == 164
    assert offset["42100000"] == 3
    assert len(inherited) > 0.6 * len(off_rule)  # 341 codes share their parent's offset; 191 roots
    assert len(roots) < 200


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


def _clean_text_reference(value: str) -> str:
    """clean_text as first written (one explicit check per character class), which the fast path must match."""
    if not value or (
        "<" not in value
        and "&" not in value
        and "  " not in value
        and "\n" not in value
        and "\t" not in value
        and "\r" not in value
        and "\xa0" not in value
        and not value[0].isspace()
        and not value[-1].isspace()
    ):
        return value
    text = value
    if "<" in text:
        text = re.sub(r"<[^>]*>", " ", re.sub(r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/tr)\b[^>]*>", " ", text))
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:
            text = re.sub(r"<[^>]*>", " ", text)
    return " ".join(text.split())


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab é<>&;/p \n\t\r\xa0\u2003\u3000\x0b\x1f\u200b\x85"), max_size=14))
def test_clean_text_fast_path_changes_nothing(value: str) -> None:
    assert clean_text(value) == _clean_text_reference(value)


def test_content_hash_is_stable_across_versions_of_ingest() -> None:
    # Every stored notice is compared by this hash: a change of its input (field order, date format, a model
    # dumped differently) would publish every notice again as amended. This value was computed before the
    # parsing speed-ups of 2026-11 and must not move.
    [notice] = ocds.parse(orjson.dumps(release()), Context(source="ocds", detect_language=False))
    assert isinstance(notice, TenderNotice)
    assert notice.content_hash == "dabbb12a28b0b30d77514b5c4189d5738e599a35b6b298e24555be8f3886a500"


def test_language_detection_remembers_texts_it_was_asked_before() -> None:
    text = "Suministro de bombas de agua para la planta de tratamiento municipal"
    first = language_probabilities(text)
    assert max(first, key=lambda k: first[k]) == "es"
    hits = _cached_langdetect.cache_info().hits
    again = language_probabilities(text)
    assert again == first
    assert _cached_langdetect.cache_info().hits == hits + 1
    again["es"] = 0.0  # callers get their own dict: the remembered answer cannot be changed through it
    assert language_probabilities(text) == first
    long_text = " ".join([text] * 40)
    assert max(language_probabilities(long_text).items(), key=lambda kv: kv[1])[0] == "es"

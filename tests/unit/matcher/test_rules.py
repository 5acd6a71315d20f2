from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import AlertPreferences, Money, RegistrationLevel
from services.matcher.domain import rules
from tests.unit.matcher.conftest import NOW, notice, supplier

pytestmark = pytest.mark.unit

CASES = [
    # (rule name, notice fields, supplier fields, ineligible ids, excluded?)
    ("deadline_passed", {"deadline_at": NOW - timedelta(minutes=1)}, {}, frozenset(), True),
    ("deadline_passed", {"deadline_at": NOW + timedelta(days=3)}, {}, frozenset(), False),
    ("deadline_passed", {}, {}, frozenset(), False),
    ("ineligible_supplier", {}, {}, frozenset({"s1"}), True),
    ("ineligible_supplier", {}, {}, frozenset({"other"}), False),
    ("country_not_eligible", {"eligible_supplier_countries": ["AF", "PK"]}, {"country": "CN"}, frozenset(), True),
    ("country_not_eligible", {"eligible_supplier_countries": ["AF", "CN"]}, {"country": "CN"}, frozenset(), False),
    ("country_not_eligible", {"eligible_supplier_countries": None}, {"country": "CN"}, frozenset(), False),
    (
        "registration_level",
        {"required_registration_level": RegistrationLevel.LEVEL_1},
        {"registration_level": RegistrationLevel.BASIC},
        frozenset(),
        True,
    ),
    (
        "registration_level",
        {"required_registration_level": RegistrationLevel.LEVEL_1},
        {"registration_level": RegistrationLevel.LEVEL_2},
        frozenset(),
        False,
    ),
    (
        "value_above_maximum",
        {"estimated_value": Money(amount=500_000, currency="USD")},
        {"max_contract_value": Money(amount=100_000, currency="USD")},
        frozenset(),
        True,
    ),
    (
        "value_above_maximum",
        {"estimated_value": Money(amount=50_000, currency="USD")},
        {"max_contract_value": Money(amount=100_000, currency="USD")},
        frozenset(),
        False,
    ),
    # Different currencies are never converted, so never excluded.
    (
        "value_above_maximum",
        {"estimated_value": Money(amount=500_000, currency="EUR")},
        {"max_contract_value": Money(amount=100_000, currency="USD")},
        frozenset(),
        False,
    ),
    ("preferences", {}, {"preferences": AlertPreferences(unsubscribed=True)}, frozenset(), True),
    ("preferences", {}, {"preferences": AlertPreferences(codes=["43210000"])}, frozenset(), True),
    # Prefix match in either direction: a broader or a narrower preferred code both match 42132203.
    ("preferences", {}, {"preferences": AlertPreferences(codes=["42130000"])}, frozenset(), False),
    ("preferences", {"items": []}, {"preferences": AlertPreferences(codes=["42132203"])}, frozenset(), True),
    ("preferences", {}, {"preferences": AlertPreferences(countries=["KE"])}, frozenset(), False),
    (
        "preferences",
        {"delivery_countries": ["AF"]},
        {"preferences": AlertPreferences(countries=["KE"])},
        frozenset(),
        True,
    ),
    (
        "preferences",
        {"delivery_countries": ["AF"]},
        {"preferences": AlertPreferences(countries=["AF"])},
        frozenset(),
        False,
    ),
    ("preferences", {}, {"preferences": AlertPreferences(agencies=["WFP"])}, frozenset(), True),
    ("preferences", {}, {"preferences": AlertPreferences(agencies=["unicef"])}, frozenset(), False),
    (
        "preferences",
        {"estimated_value": Money(amount=1_000, currency="USD")},
        {"preferences": AlertPreferences(min_value=Money(amount=5_000, currency="USD"))},
        frozenset(),
        True,
    ),
    (
        "preferences",
        {"estimated_value": Money(amount=9_000, currency="USD")},
        {"preferences": AlertPreferences(min_value=Money(amount=5_000, currency="USD"))},
        frozenset(),
        False,
    ),
]


@pytest.mark.parametrize(("rule", "notice_fields", "supplier_fields", "ineligible", "excluded"), CASES)
def test_rule_table(
    rule: str, notice_fields: dict, supplier_fields: dict, ineligible: frozenset[str], excluded: bool
) -> None:
    fn = dict(rules.RULES)[rule]
    reason = fn(notice(**notice_fields), supplier("s1", **supplier_fields), NOW, ineligible)
    assert (reason is not None) is excluded
    if excluded:
        assert reason
        failed = rules.first_failure(notice(**notice_fields), supplier("s1", **supplier_fields), NOW, ineligible)
        assert failed is not None
        assert failed[0] == rule


@pytest.mark.parametrize(
    ("preferred", "notice_code", "matches"),
    [
        ("42132203", "42132203", True),
        ("4213", "42132203", True),
        ("42132203", "42130000", True),
        ("42", "43211500", False),
        ("33141000", "33141411", True),
        ("", "42132203", False),
    ],
)
def test_preference_codes_match_by_prefix_either_way(preferred: str, notice_code: str, matches: bool) -> None:
    assert rules.preference_codes(preferred, [notice_code]) is matches

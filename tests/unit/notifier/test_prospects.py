"""A prospect (a supplier known only from public award records) is never emailed: award records carry no consent."""

from __future__ import annotations

import pytest

from contracts import SupplierProfile
from contracts.supplier import ProfileOrigin
from services.notifier.domain.rules import plan_shortlist, undeliverable
from tests.unit.notifier.factories import notice, profile, shortlist

pytestmark = pytest.mark.unit


def test_a_prospect_with_an_address_gets_no_email_and_the_skip_says_why() -> None:
    profiles: dict[str, SupplierProfile | None] = {
        "registered": profile("registered"),
        "prospect": profile("prospect").model_copy(update={"origin": ProfileOrigin.AWARDS}),
    }
    plan = plan_shortlist(shortlist(notice(), list(profiles)), profiles, set())
    assert [d.supplier_id for d in plan.send] == ["registered"]
    assert [(s.supplier_id, s.reason) for s in plan.skip] == [("prospect", "prospect")]


def test_a_claimed_prospect_is_emailed_like_any_supplier() -> None:
    claimed = profile("claimed").model_copy(update={"origin": ProfileOrigin.REGISTERED})
    assert undeliverable(claimed) is None

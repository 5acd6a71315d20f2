"""``SupplierProfile.emails`` lists each mailbox once (case-insensitively, as first spelled), and
``alert_emails(as_of)`` leaves out an address its owner confirmed after ``as_of``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import SupplierProfile
from contracts.supplier import EmailConfirmation

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def make(emails: list[str], **extra: object) -> SupplierProfile:
    return SupplierProfile.model_validate(
        {"supplier_id": "s", "names": {"en": "S"}, "country": "CN", "emails": emails, **extra}
    )


def test_an_address_listed_twice_in_any_case_is_kept_once_as_first_spelled() -> None:
    p = make(["Mixed.Case@Example.ORG", "second@example.org", "second@example.org", "MIXED.case@example.org"])
    assert p.emails == ["Mixed.Case@example.org", "second@example.org"]
    assert SupplierProfile.model_validate_json(p.model_dump_json()).emails == p.emails


def test_alert_emails_as_of_leaves_out_addresses_confirmed_later() -> None:
    def entry(confirmed: datetime | None) -> EmailConfirmation:
        return EmailConfirmation(registered_by="X", registered_at=AT - timedelta(days=1), confirmed_at=confirmed)

    p = make(
        ["roster@x.org", "early@x.org", "late@x.org", "waiting@x.org"],
        email_confirmations={"early@x.org": entry(AT), "late@x.org": entry(AT + timedelta(hours=1)),
                             "waiting@x.org": entry(None)},
    )  # fmt: skip
    assert p.alert_emails() == ["roster@x.org", "early@x.org", "late@x.org"]
    assert p.alert_emails(as_of=AT) == ["roster@x.org", "early@x.org"]
    assert p.alert_emails(as_of=AT + timedelta(hours=1)) == ["roster@x.org", "early@x.org", "late@x.org"]

"""Builders for matcher domain tests: small, explicit contract models."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from contracts import Buyer, Classification, CodeScheme, Item, Money, PastAward, SupplierProfile, TenderNotice

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def unspsc(code: str, description: str | None = None) -> Classification:
    return Classification(scheme=CodeScheme.UNSPSC, code=code, description=description)


def award(
    code: str, description: str, agency: str = "UNICEF", when: date = date(2025, 12, 1), value: float = 0
) -> PastAward:
    return PastAward(
        agency=agency,
        description=description,
        classification=unspsc(code),
        date=when,
        value=Money(amount=value, currency="USD") if value else None,
    )


def supplier(sid: str, codes: tuple[str, ...] = (), keywords: tuple[str, ...] = (), **extra: Any) -> SupplierProfile:
    fields: dict[str, Any] = {
        "supplier_id": sid,
        "names": {"en": f"Supplier {sid}"},
        "country": "CN",
        "codes": [unspsc(c) for c in codes],
        "keywords": list(keywords),
    }
    fields.update(extra)
    return SupplierProfile(**fields)


def notice(
    title: str = "Nitrile examination gloves", codes: tuple[str, ...] = ("42132203",), **extra: Any
) -> TenderNotice:
    fields: dict[str, Any] = {
        "notice_id": "ungm:1",
        "source": "ungm",
        "source_id": "1",
        "title": title,
        "buyer": Buyer(name="UNICEF"),
        "items": [Item(description=title, classification=unspsc(c)) for c in codes],
    }
    fields.update(extra)
    return TenderNotice(**fields)

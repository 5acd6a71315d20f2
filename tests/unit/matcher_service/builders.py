"""Small contract models for matcher service tests (unit and integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import Buyer, Classification, CodeScheme, Item, NoticeStatus, SupplierProfile, TenderNotice

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: API keys of the buyer API fixture (``api_container`` in conftest.py): the admin setting, two buyers, a supplier.
ADMIN = "admin-secret"
BUYER_A, BUYER_B, SUPPLIER_S1 = "key-buyer-a", "key-buyer-b", "key-supplier-s1"


def h(key: str) -> dict[str, str]:
    """The header that authenticates a request with ``key``."""
    return {"X-API-Key": key}


def unspsc(code: str) -> Classification:
    return Classification(scheme=CodeScheme.UNSPSC, code=code)


def supplier(
    sid: str, codes: tuple[str, ...] = ("42132203",), keywords: tuple[str, ...] = ("gloves",), **extra: Any
) -> SupplierProfile:
    fields: dict[str, Any] = {
        "supplier_id": sid,
        "names": {"en": f"Supplier {sid}"},
        "country": "CN",
        "emails": [f"{sid.lower()}@example.com"],
        "codes": [unspsc(c) for c in codes],
        "keywords": list(keywords),
    }
    fields.update(extra)
    return SupplierProfile(**fields)


def notice(
    source_id: str = "1",
    *,
    agency: str = "UNICEF",
    title: str = "Nitrile examination gloves",
    codes: tuple[str, ...] = ("42132203",),
    version: int = 1,
    status: NoticeStatus = NoticeStatus.ACTIVE,
    deadline: datetime | None = None,
    source: str = "ungm",
    **extra: Any,
) -> TenderNotice:
    fields: dict[str, Any] = {
        "notice_id": f"{source}:{source_id}",
        "source": source,
        "source_id": source_id,
        "version": version,
        "status": status,
        "title": title,
        "buyer": Buyer(name=agency),
        "items": [Item(description=title, classification=unspsc(c)) for c in codes],
        "deadline_at": deadline or NOW + timedelta(days=20),
    }
    fields.update(extra)
    return TenderNotice(**fields)


def key_header(key: str) -> dict[str, str]:
    """The header the buyer API reads a key from."""
    return {"X-API-Key": key}


def stored_key(token: str, role: Any, **scope: Any) -> Any:
    """An API key as the key store holds it (hashed), created at the start of 2026."""
    from services.matcher.keys import ApiKey, hash_token

    return ApiKey(key_hash=hash_token(token), role=role, created_at=datetime(2026, 1, 1, tzinfo=UTC), **scope)


def feedback_mark(
    agency: str, notice_id: str, supplier_id: str, mark: Any, reason: Any = None, minutes: int = 0
) -> Any:
    """A buyer's stored mark (``ShortlistFeedback``), made ``minutes`` after ``NOW``."""
    from contracts.feedback import ShortlistFeedback, feedback_id

    return ShortlistFeedback(
        feedback_id=feedback_id(agency, notice_id, supplier_id),
        notice_id=notice_id,
        notice_version=1,
        supplier_id=supplier_id,
        agency=agency,
        mark=mark,
        reason=reason,
        marked_at=NOW + timedelta(minutes=minutes),
    )

"""Small builders of contract models for the notifier's tests (unit and integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import (
    AlertPreferences,
    Buyer,
    Classification,
    CodeScheme,
    Item,
    Money,
    NoticeStatus,
    ScoreComponent,
    Shortlist,
    ShortlistEntry,
    SupplierProfile,
    TenderNotice,
)

NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)


def notice(
    source_id: str = "1001",
    *,
    version: int = 1,
    status: NoticeStatus = NoticeStatus.ACTIVE,
    title: str = "Supply of nitrile examination gloves",
    deadline: datetime | None = None,
    changes: list[str] | None = None,
    buyer: str = "UNICEF Supply Division",
    **extra: Any,
) -> TenderNotice:
    return TenderNotice(
        notice_id=f"ungm:{source_id}",
        source="ungm",
        source_id=source_id,
        version=version,
        status=status,
        title=title,
        buyer=Buyer(name=buyer, country="DK"),
        items=[
            Item(
                description="gloves",
                classification=Classification(scheme=CodeScheme.UNSPSC, code="42132203", description="Medical gloves"),
            )
        ],
        classifications=[Classification(scheme=CodeScheme.CPV, code="33141420", check_digit="0")],
        delivery_countries=["AF"],
        estimated_value=Money(amount=1250000, currency="USD"),
        deadline_at=deadline if deadline is not None else NOW + timedelta(days=20),
        changes=changes or [],
        **extra,
    )


def profile(
    supplier_id: str = "sup-1",
    *,
    language: str = "en",
    timezone: str = "UTC",
    emails: list[str] | None = None,
    name: str = "Ningbo Medical Co.",
    **prefs: Any,
) -> SupplierProfile:
    names = {"en": name, "zh-Hans": "宁波医疗有限公司"}
    return SupplierProfile(
        supplier_id=supplier_id,
        names=names,
        country="CN",
        emails=emails if emails is not None else [f"{supplier_id}@example.com"],
        preferences=AlertPreferences(language=language, timezone=timezone, **prefs),  # type: ignore[arg-type]
        updated_at=NOW - timedelta(days=1),
    )


def entry(
    supplier_id: str, rank: int = 1, reasons: tuple[str, ...] = ("UNSPSC 42132203 matches your class 421322",)
) -> ShortlistEntry:
    return ShortlistEntry(
        rank=rank,
        supplier_id=supplier_id,
        supplier_name=supplier_id,
        total_score=0.8,
        components=[
            ScoreComponent(name=f"c{i}", score=0.9 - i * 0.1, weight=1.0, contribution=0.9 - i * 0.1, reason=r)
            for i, r in enumerate(reasons)
        ],
    )


def shortlist(the_notice: TenderNotice, suppliers: list[str], previously: list[str] | None = None) -> Shortlist:
    return Shortlist(
        shortlist_id=Shortlist.make_id(the_notice.notice_id, the_notice.version),
        notice_id=the_notice.notice_id,
        notice_version=the_notice.version,
        notice_status=the_notice.status,
        notice=the_notice,
        entries=[entry(s, i + 1) for i, s in enumerate(suppliers)],
        previously_shortlisted=previously or [],
        algorithm="test",
        generated_at=NOW,
    )

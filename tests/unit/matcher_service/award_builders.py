"""Award records as ingest publishes them (``contracts.award.AwardRecord``), for the matcher's tests: ``Record``
(an award of gloves from the Department of Health), its winners ``Org`` and their identifiers ``OrgId`` / ``abn``."""

from __future__ import annotations

from datetime import date

from contracts import Classification, CodeScheme, Money
from contracts.award import AwardRecord, Organisation, OrgIdentifier


def OrgId(scheme: str, id: str) -> OrgIdentifier:
    return OrgIdentifier(scheme=scheme, id=id)


def Org(name: str, identifiers: list[OrgIdentifier] | None = None, country: str | None = "AU") -> Organisation:
    return Organisation(name=name, identifiers=identifiers or [], country=country)


def Record(
    award_id: str,
    suppliers: list[Organisation],
    *,
    source_url: str | None = "https://www.tenders.gov.au/Cn/Show/1",
    awarded_on: date | None = date(2024, 3, 1),
    status: str = "active",
) -> AwardRecord:
    """An award record of ``award_id`` (``<source>:<source_id>``) for gloves, from the Department of Health."""
    source, _, source_id = award_id.partition(":")
    return AwardRecord.model_validate(
        {
            "award_id": award_id,
            "source": source,
            "source_id": source_id,
            "status": status,
            "tender": {
                "title": "Nitrile examination gloves",
                "classifications": [Classification(scheme=CodeScheme.UNSPSC, code="42132203")],
            },
            "buyer": {"name": "Department of Health"},
            "suppliers": suppliers,
            "value": Money(amount=1000.0, currency="AUD"),
            "awarded_on": awarded_on,
            "source_url": source_url,
        }
    )


def abn(value: str) -> list[OrgIdentifier]:
    return [OrgId("AU-ABN", value)]

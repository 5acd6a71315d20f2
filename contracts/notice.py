"""TenderNotice: one version of a published procurement notice. Topic ``tenders.notices``, key ``notice_id``.

Field names follow OCDS (https://standard.open-contracting.org/latest/en/schema/reference/) where OCDS has
one: ``tender.items[].classification``, ``additionalClassifications``, ``procurementMethod``,
``tenderPeriod.endDate`` (here ``deadline_at``), ``value``, ``documents``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from contracts.common import (
    Classification,
    CodeScheme,
    CountryCode,
    LanguageTag,
    Model,
    Money,
    NonEmptyStr,
    NonEmptyText,
    RegistrationLevel,
    Text,
)


class NoticeStatus(StrEnum):
    ACTIVE = "active"
    AMENDED = "amended"
    CANCELLED = "cancelled"


class NoticeType(StrEnum):
    """What the buyer asks for. UNGM's "Type of notice" and TED's notice types map onto these."""

    RFQ = "rfq"  #: request for quotation
    RFP = "rfp"  #: request for proposal
    ITB = "itb"  #: invitation to bid
    EOI = "eoi"  #: request for expression of interest
    RFI = "rfi"  #: request for information
    CONSULTANT = "consultant"  #: call for individual consultants
    PRIOR_INFORMATION = "prior_information"  #: planning / prior information notice
    CONTRACT_NOTICE = "contract_notice"  #: generic contract notice (TED, OCDS tender)
    OTHER = "other"


class ProcurementMethod(StrEnum):
    """OCDS ``method`` codelist."""

    OPEN = "open"
    SELECTIVE = "selective"
    LIMITED = "limited"
    DIRECT = "direct"


class Buyer(Model):
    name: NonEmptyText
    id: str | None = None
    country: CountryCode | None = None


class Item(Model):
    id: str | None = None
    description: Text | None = None
    classification: Classification | None = None
    additional_classifications: list[Classification] = Field(default_factory=list)
    quantity: float | None = None
    unit: Text | None = None


class Document(Model):
    url: NonEmptyStr
    title: Text | None = None
    document_type: str | None = None
    language: LanguageTag | None = None


class TenderNotice(Model):
    """One version of a notice, as normalized by ingest.

    ``notice_id`` is ``"<source>:<source_id>"`` and never changes across versions; ``version`` starts at 1 and
    grows by one on every published change. ``content_hash`` covers the normalized content (not ``version``,
    ``status`` or ``received_at``), so an unchanged re-read is recognised.
    """

    schema_version: Literal[1] = 1
    notice_id: NonEmptyStr
    #: Where the notice comes from: ``ungm``, ``ted``, ``ocds-<publisher>``, ``csv-<name>``, ``push``.
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    source_id: NonEmptyStr
    version: int = Field(default=1, ge=1)
    status: NoticeStatus = NoticeStatus.ACTIVE
    notice_type: NoticeType = NoticeType.CONTRACT_NOTICE
    title: NonEmptyText
    description: Text = ""
    language: LanguageTag | None = None
    buyer: Buyer
    items: list[Item] = Field(default_factory=list)
    #: Notice-level classifications that are not tied to an item (UNGM lists codes per notice).
    classifications: list[Classification] = Field(default_factory=list)
    delivery_countries: list[CountryCode] = Field(default_factory=list)
    beneficiary_countries: list[CountryCode] = Field(default_factory=list)
    #: Regions of the places of performance, as the source codes them: NUTS codes for TED (``PL414``, ``DE300``).
    delivery_regions: list[NonEmptyStr] = Field(default_factory=list)
    #: ``None`` when any country may bid; otherwise the only countries whose suppliers are eligible.
    eligible_supplier_countries: list[CountryCode] | None = None
    required_registration_level: RegistrationLevel | None = None
    estimated_value: Money | None = None
    procurement_method: ProcurementMethod | None = None
    #: Instants in UTC; the offset the source gave is kept in ``*_utc_offset`` (``+04:30``) for display.
    published_at: AwareDatetime | None = None
    published_utc_offset: str | None = None
    deadline_at: AwareDatetime | None = None
    deadline_utc_offset: str | None = None
    documents: list[Document] = Field(default_factory=list)
    source_url: str | None = None
    content_hash: str = ""
    #: Human-readable changes from the previous version (empty for version 1).
    changes: list[str] = Field(default_factory=list)
    #: Normalization findings that did not reject the notice (``cpv check digit wrong for 33141411-3``).
    warnings: list[str] = Field(default_factory=list)
    received_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _id_is_source_and_source_id(self) -> Self:
        expected = f"{self.source}:{self.source_id}"
        if self.notice_id != expected:
            raise ValueError(f"notice_id must be '<source>:<source_id>' ({expected!r}), got {self.notice_id!r}")
        return self

    def all_classifications(self) -> list[Classification]:
        """Every code on the notice: notice-level first, then each item's main and additional codes."""
        out = list(self.classifications)
        for item in self.items:
            if item.classification is not None:
                out.append(item.classification)
            out.extend(item.additional_classifications)
        return out

    def codes(self, scheme: CodeScheme) -> list[str]:
        """Distinct codes of one scheme, in order of appearance."""
        seen: dict[str, None] = {}
        for c in self.all_classifications():
            if c.scheme == scheme:
                seen.setdefault(c.code, None)
        return list(seen)

    def is_open(self, now: datetime) -> bool:
        return self.status != NoticeStatus.CANCELLED and (self.deadline_at is None or self.deadline_at > now)

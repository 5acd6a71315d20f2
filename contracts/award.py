"""AwardRecord: one contract award as a public source published it. Topic ``awards.records``, key ``award_id``.

The evidence of who delivered what: OCDS ``awards`` and ``contracts``
(https://standard.open-contracting.org/latest/en/schema/reference/#award), TED eForms result notices (one record per
lot result with a winning tender) and award files such as AusTender's contract notices CSV. Field names follow OCDS
where it has one: ``suppliers`` (``parties`` with the ``supplier`` role), ``identifier.scheme`` / ``identifier.id``
(org-id.guide scheme codes: ``AU-ABN``, ``FR-SIREN``...), ``value``, ``date``.

An award without a winner (an OCDS award with status ``unsuccessful``, an eForms lot result "no winner chosen") is
not an award record: ingest counts it and publishes nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from contracts.common import Classification, CountryCode, LanguageTag, Model, Money, NonEmptyStr, NonEmptyText, Text
from contracts.notice import Buyer


class OrgIdentifier(Model):
    """An official identifier of an organisation: OCDS ``Identifier``.

    ``scheme`` is an org-id.guide list code where one is known (``AU-ABN``, ``FR-SIREN``, ``GB-COH``, ``BE-BCE_KBO``),
    else what the source wrote (eForms ``cbc:CompanyID`` carries no scheme: ingest writes ``<country>-ORGID``, e.g.
    ``DE-ORGID``, so the same number in two countries is not taken for one firm). Entity resolution trusts
    identifiers of the same scheme and id before names.
    """

    scheme: NonEmptyStr
    id: NonEmptyStr
    #: The registry's own name for the scheme, when the source gave one (``Australian Business Number``).
    legal_name: Text | None = None


class Address(Model):
    street: Text | None = None
    locality: Text | None = None
    postal_code: str | None = None
    #: NUTS code (TED) or the source's region name.
    region: Text | None = None
    country: CountryCode | None = None


class Organisation(Model):
    """A winner (supplier) of the award; a consortium is several organisations on one award."""

    name: NonEmptyText
    identifiers: list[OrgIdentifier] = Field(default_factory=list)
    country: CountryCode | None = None
    address: Address | None = None
    #: The source's own id for the party inside the record (OCDS ``parties[].id``, eForms ``ORG-0003``): only
    #: meaningful within ``AwardRecord.source_id``'s release, never an identity across records.
    source_party_id: str | None = None


class AwardedTender(Model):
    """The notice or tender the award answers: what was bought."""

    #: The source's id of the notice or procurement (eForms notice id, OCDS ``ocid``, AusTender ``CN ID``).
    id: str | None = None
    #: ``TenderNotice.notice_id`` of the call for tenders, when ingest can name it (same source and id).
    notice_id: str | None = None
    title: Text | None = None
    description: Text = ""
    #: CPV / UNSPSC / other codes of the tender or the lot, main code first.
    classifications: list[Classification] = Field(default_factory=list)
    language: LanguageTag | None = None


class AwardRecord(Model):
    """One award: one lot (or the whole tender) won by one or more organisations.

    ``award_id`` is ``"<source>:<source_id>"``; ``source_id`` is ``"<notice id or ocid>:<award id or lot id>"``, so
    reading the same award twice gives the same id and ``content_hash`` (over the content, not ``version`` or
    ``received_at``) tells an unchanged re-read from a corrected one.
    """

    schema_version: Literal[1] = 1
    award_id: NonEmptyStr
    #: ``eforms``, ``ocds-<publisher>``, ``csv-<mapping name>`` (``csv-austender``).
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    source_id: NonEmptyStr
    version: int = Field(default=1, ge=1)
    #: ``cancelled``: the publisher withdrew the award (OCDS ``awards[].status``, an eForms change notice with
    #: reason ``cancel``); a consumer drops the evidence it took from the earlier versions.
    status: Literal["active", "cancelled"] = "active"
    tender: AwardedTender = Field(default_factory=AwardedTender)
    buyer: Buyer | None = None
    #: The lot the award is for (eForms ``LOT-0001``, OCDS ``relatedLots``); None: the whole tender.
    lot_id: str | None = None
    lot_title: Text | None = None
    suppliers: list[Organisation] = Field(min_length=1)
    value: Money | None = None
    #: When the award was decided (OCDS ``awards[].date``, eForms ``efbc:AwardDate`` or the result notice's
    #: dispatch date).
    awarded_on: date | None = None
    #: When the contract was signed (OCDS ``contracts[].dateSigned``, eForms ``cbc:IssueDate`` of the settled
    #: contract).
    contract_signed_on: date | None = None
    #: The source's id of the contract when one is published (OCDS ``contracts[].id``, eForms ``CON-0001``).
    contract_id: str | None = None
    source_url: str | None = None
    content_hash: str = ""
    #: Reading findings that did not reject the record (``value currency missing``).
    warnings: list[str] = Field(default_factory=list)
    received_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _id_is_source_and_source_id(self) -> Self:
        expected = f"{self.source}:{self.source_id}"
        if self.award_id != expected:
            raise ValueError(f"award_id must be '<source>:<source_id>' ({expected!r}), got {self.award_id!r}")
        return self

"""SupplierProfile: what a supplier sells, where it may bid, and how it wants to be alerted.

Topic ``suppliers.profiles`` (compacted), key ``supplier_id``; a deleted profile is a tombstone (null value).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, EmailStr, Field, StringConstraints, field_validator

from contracts.common import (
    Classification,
    CodeScheme,
    CountryCode,
    Model,
    Money,
    NonEmptyStr,
    NonEmptyText,
    RegistrationLevel,
    Text,
)

SupplierId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]


class AlertFrequency(StrEnum):
    IMMEDIATE = "immediate"
    DAILY_DIGEST = "daily_digest"


class AlertPreferences(Model):
    """Filters on top of matching: an empty list means "no restriction"."""

    #: Codes (any level, any scheme) the supplier wants; a notice must share one (prefix match) when set.
    codes: list[NonEmptyStr] = Field(default_factory=list)
    #: Delivery/beneficiary countries the supplier serves.
    countries: list[CountryCode] = Field(default_factory=list)
    #: Buyer names or ids the supplier follows.
    agencies: list[NonEmptyText] = Field(default_factory=list)
    #: Minimum estimated value, compared when the notice has a value in the same currency.
    min_value: Money | None = None
    frequency: AlertFrequency = AlertFrequency.IMMEDIATE
    language: Literal["en", "zh-Hans"] = "en"
    #: IANA time zone for deadlines in emails and the digest hour.
    timezone: str = "UTC"
    #: Local hour (0-23) at which the daily digest is sent.
    digest_hour: int = Field(default=8, ge=0, le=23)
    unsubscribed: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


#: An official identifier of an organisation, ``<scheme>:<id>``: the scheme an org-id.guide list code (``AU-ABN``,
#: ``FR-SIREN``, ``GB-COH``; eForms numbers without a scheme as ``<country>-ORGID``), the id upper case, letters and
#: digits only (``AU-ABN:84636418838``): as the matcher's entity resolution compares them.
OrgId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_.-]*:[0-9A-Z]+$")]


class ProfileOrigin(StrEnum):
    """Where a profile comes from. Buyers see a prospect on shortlists marked as such, with the award records it is
    known from; nobody emails it (award records carry no consent to be contacted)."""

    #: Typed in: the firm registered, an agency's roster, an operator's import.
    REGISTERED = "registered"
    #: Built from public award records alone (a prospect) until the firm registers or claims it.
    AWARDS = "awards"


class AwardEvidence(Model):
    """Where a past award was read and why it is this supplier's: the award record (``AwardRecord`` on
    ``awards.records``) and the entity-resolution decision that attached it."""

    #: ``AwardRecord.source``: ``eforms``, ``ocds-<publisher>``, ``csv-austender``.
    source: NonEmptyStr
    #: ``AwardRecord.award_id`` (``<source>:<source_id>``): re-reading the record attaches nothing twice.
    award_id: NonEmptyStr
    #: The published record, for a buyer to check (``AwardRecord.source_url``).
    url: str | None = None
    #: The winner as the record names it.
    winner_name: NonEmptyText
    #: The winner's identifiers in the record (``OrgId``).
    winner_identifiers: list[OrgId] = Field(default_factory=list)
    #: How entity resolution attached the award to this profile: ``identifier``, ``name_exact``, ``name_core``,
    #: ``name_fuzzy``, ``new`` (the award founded the profile) or ``operator``.
    matched_by: NonEmptyStr
    #: Name similarity 0-100 for the name rules, 100 for identifiers and equal names.
    match_score: float | None = Field(default=None, ge=0, le=100)
    #: The decision in one English line, for operators and buyers ("'HAYS (AUST) P/L' joined ...: same name as ...").
    explanation: Text = ""


class PastAward(Model):
    """A contract the supplier won: the strongest evidence of what it really delivers."""

    agency: NonEmptyText
    description: Text = ""
    classification: Classification | None = None
    date: date
    value: Money | None = None
    #: The public award record it was read from; None: typed in with the profile (a roster, the supplier itself).
    source: AwardEvidence | None = None


def one_per_mailbox(addresses: Iterable[str]) -> list[str]:
    """Each mailbox once (addresses compared case-insensitively), as first spelled."""
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.casefold(), address)
    return list(seen.values())


class EmailConfirmation(Model):
    """Double opt-in of one address of ``SupplierProfile.emails`` that a buyer's key or the supplier's own key
    registered (anti-spam law: CAN-SPAM, GDPR art. 7(1), China's Provisions on Commercial Emails): who registered it,
    when, and when its owner confirmed it."""

    #: Who registered the address: the agency of the buyer key, or the supplier (its own key). Named in the
    #: confirmation email.
    registered_by: NonEmptyText
    #: When it was registered: with the address, the registration one confirmation email is sent for (an address
    #: removed and registered again is a new registration).
    registered_at: AwareDatetime
    #: When the address's owner confirmed it (the link in the confirmation email); None: not yet, so no alert goes
    #: to it. Kept as the proof of consent.
    confirmed_at: AwareDatetime | None = None


class SupplierProfile(Model):
    schema_version: Literal[1] = 1
    supplier_id: SupplierId
    #: Names by language tag (``{"en": "Ningbo Medical Co.", "zh-Hans": "宁波医疗有限公司"}``); at least one.
    names: dict[str, NonEmptyText] = Field(min_length=1)
    country: CountryCode
    emails: list[EmailStr] = Field(default_factory=list)
    #: Declared UNSPSC / CPV codes (any level).
    codes: list[Classification] = Field(default_factory=list)
    keywords: list[NonEmptyText] = Field(default_factory=list)
    #: Descriptions by language tag (``en``, ``zh-Hans``).
    description: dict[str, Text] = Field(default_factory=dict)
    #: ``ISO 9001``, ``ISO 14001``, ``WHO PQ``, ``CE``...
    certifications: list[NonEmptyText] = Field(default_factory=list)
    registration_level: RegistrationLevel = RegistrationLevel.BASIC
    max_contract_value: Money | None = None
    past_awards: list[PastAward] = Field(default_factory=list)
    preferences: AlertPreferences = Field(default_factory=AlertPreferences)
    updated_at: AwareDatetime | None = None
    #: The fields the supplier set itself (its preferences and profile pages, its own key), with when: ``codes``,
    #: ``keywords``, ``description``, ``preferences.<name>``. An agency's roster re-import leaves them as the
    #: supplier chose (an explicit ``PUT`` of the whole profile replaces them too).
    set_by_supplier: dict[str, AwareDatetime] = Field(default_factory=dict)
    #: Double opt-in of the ``emails`` registered by a buyer's key or the supplier's own key: alerts go to such an
    #: address only once its ``confirmed_at`` is set. An address of ``emails`` that is not here is confirmed: an
    #: admin registered it (the agency's own roster, which vouches for consent), or it was registered before double
    #: opt-in (records without this field: every address confirmed). The matcher writes it; entries for addresses
    #: no longer in ``emails`` mean nothing.
    email_confirmations: dict[EmailStr, EmailConfirmation] = Field(default_factory=dict)
    #: Where the profile comes from: ``awards`` for a prospect, known only from public award records (never
    #: emailed); ``registered`` otherwise (profiles written before this field).
    origin: ProfileOrigin = ProfileOrigin.REGISTERED
    #: When a prospect became a normal profile (the firm registered or claimed it); None otherwise.
    claimed_at: AwareDatetime | None = None
    #: The firm's official identifiers (``OrgId``), as award records gave them: entity resolution attaches awards
    #: carrying one of them to this profile before comparing names.
    identifiers: list[OrgId] = Field(default_factory=list)
    #: Official identifiers the firm typed on the public registration form, waiting for its address's confirmation:
    #: anyone can type any identifier there, so they claim the prospects that carry them (and join ``identifiers``)
    #: only once the double opt-in link is used. Entity resolution does not read them. The matcher writes it.
    pending_identifiers: list[OrgId] = Field(default_factory=list)

    @property
    def is_prospect(self) -> bool:
        """Known only from award records: shown to buyers as such, never emailed."""
        return self.origin == ProfileOrigin.AWARDS

    @property
    def display_name(self) -> str:
        return self.names.get("en") or next(iter(self.names.values()))

    def codes_of(self, scheme: CodeScheme) -> list[str]:
        return [c.code for c in self.codes if c.scheme == scheme]

    @field_validator("emails")
    @classmethod
    def _one_per_mailbox(cls, value: list[str]) -> list[str]:
        """An address listed twice (whatever its case) is kept once, as first spelled: one mailbox, one copy."""
        return one_per_mailbox(value)

    def unconfirmed_emails(self) -> list[str]:
        """The addresses of ``emails`` waiting for their owner's confirmation: no alert goes to them."""
        pending = self.email_confirmations
        return [e for e in self.emails if e in pending and pending[e].confirmed_at is None]

    def alert_emails(self, as_of: datetime | None = None) -> list[str]:
        """The addresses alerts may go to: ``emails`` less those waiting for their owner's confirmation.

        ``as_of``: when the notice version an alert is about was received; an address its owner confirmed after
        that is left out too (consent given then covers the tenders that come after it, not the backlog)."""
        unconfirmed = set(self.unconfirmed_emails())
        out = [e for e in self.emails if e not in unconfirmed]
        if as_of is None:
            return out
        entries = self.email_confirmations
        return [e for e in out if e not in entries or (at := entries[e].confirmed_at) is None or at <= as_of]

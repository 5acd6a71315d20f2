"""Request and response bodies of the matcher's buyer API (``services/matcher``), exported like the event models
so clients can generate code from ``contracts/schemas/api_*.json`` as well as from ``/openapi.json``."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.common import CodeScheme, CountryCode, Model, Money, NonEmptyStr
from contracts.notice import NoticeStatus, TenderNotice
from contracts.shortlist import Exclusion, ShortlistEntry
from contracts.supplier import AlertFrequency, SupplierProfile


class PreferencesPatch(Model):
    """``PATCH /suppliers/{id}/preferences``: only the fields sent change (``{"unsubscribed": true}``)."""

    schema_version: Literal[1] = 1
    codes: list[NonEmptyStr] | None = None
    countries: list[CountryCode] | None = None
    agencies: list[NonEmptyStr] | None = None
    min_value: Money | None = None
    frequency: AlertFrequency | None = None
    language: Literal["en", "zh-Hans"] | None = None
    timezone: str | None = None
    digest_hour: int | None = Field(default=None, ge=0, le=23)
    unsubscribed: bool | None = None


class ProfileSaved(Model):
    """A stored profile and how many open notices' shortlists changed because of it (reverse matching)."""

    schema_version: Literal[1] = 1
    profile: SupplierProfile
    rematched_notices: int = 0


class ImportRejection(Model):
    line: int = Field(ge=1)
    reason: str


class ImportReport(Model):
    """``POST /suppliers/import``: lines imported and lines rejected (with the reason; nothing else is lost)."""

    schema_version: Literal[1] = 1
    #: Profiles created or changed (stored, published, re-matched).
    imported: int = 0
    #: Lines for suppliers already stored that changed nothing: skipped.
    unchanged: int = 0
    rejected: list[ImportRejection] = Field(default_factory=list)


class SupplierSearchResults(Model):
    schema_version: Literal[1] = 1
    items: list[SupplierProfile] = Field(default_factory=list)


class NoticePage(Model):
    """``GET /notices``: one page, sorted by deadline (soonest first, notices without deadline last)."""

    schema_version: Literal[1] = 1
    items: list[TenderNotice] = Field(default_factory=list)
    total: int = Field(ge=0)
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)


class ShortlistPage(Model):
    """``GET /notices/{id}/shortlist``: the ranked, explained suppliers of the latest notice version (one page,
    after the ``min_score`` and ``country`` filters)."""

    schema_version: Literal[1] = 1
    shortlist_id: NonEmptyStr
    notice_id: NonEmptyStr
    notice_version: int = Field(ge=1)
    notice_status: NoticeStatus
    notice_title: str
    algorithm: str
    generated_at: AwareDatetime
    total: int = Field(ge=0)
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)
    entries: list[ShortlistEntry] = Field(default_factory=list)
    exclusions: list[Exclusion] = Field(default_factory=list)
    previously_shortlisted: list[str] = Field(default_factory=list)


class CodeSuggestText(Model):
    #: The caller's own identifier of the text, handed back with its codes.
    id: str | None = Field(default=None, max_length=200)
    #: A description in any language (Chinese, English, French, Spanish...).
    text: NonEmptyStr = Field(max_length=2000)


class CodeSuggestRequest(Model):
    """``POST /codes/suggest``: texts to suggest UNSPSC or CPV codes for."""

    schema_version: Literal[1] = 1
    texts: list[CodeSuggestText] = Field(min_length=1, max_length=100)
    #: ``UNSPSC`` or ``CPV`` (the schemes with a code list to suggest from).
    scheme: Literal[CodeScheme.UNSPSC, CodeScheme.CPV] = CodeScheme.UNSPSC
    top: int = Field(default=5, ge=1, le=50)


class SuggestedCode(Model):
    scheme: CodeScheme
    #: 8 digits, as ``Classification.code``.
    code: NonEmptyStr
    #: CPV check digit, where the code list gives one.
    check_digit: str | None = None
    title: str
    #: 0..1, higher is surer; a suggestion, never a code the buyer or supplier gave.
    score: float = Field(ge=0, le=1)


class TextCodes(Model):
    id: str | None = None
    codes: list[SuggestedCode] = Field(default_factory=list)


class CodeSuggestions(Model):
    """``POST /codes/suggest``: per text, in the request's order, its codes best first."""

    schema_version: Literal[1] = 1
    items: list[TextCodes] = Field(default_factory=list)

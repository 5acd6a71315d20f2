"""Shortlist: the ranked, explained suppliers for one notice version. Topic ``matches.shortlists``, key
``notice_id`` (so all versions of a notice stay in order on one partition)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.common import CountryCode, Model, NonEmptyStr
from contracts.notice import NoticeStatus, TenderNotice


class ScoreComponent(Model):
    """One part of a score. ``contribution`` = ``score`` x ``weight``; ``reason`` is one line a buyer or a
    supplier can read ("UNSPSC 42132203 matches your class 421322")."""

    name: NonEmptyStr
    score: float = Field(ge=0, le=1)
    weight: float = Field(ge=0)
    contribution: float = Field(ge=0)
    reason: str


class ShortlistEntry(Model):
    rank: int = Field(ge=1)
    supplier_id: NonEmptyStr
    supplier_name: str
    supplier_country: CountryCode | None = None
    total_score: float = Field(ge=0)
    components: list[ScoreComponent] = Field(default_factory=list)

    def top_reasons(self, n: int = 3) -> list[str]:
        ranked = sorted(self.components, key=lambda c: c.contribution, reverse=True)
        return [c.reason for c in ranked[:n] if c.contribution > 0]


class Exclusion(Model):
    """A supplier that fitted the notice but was ruled out by a hard rule, with the rule's reason."""

    supplier_id: NonEmptyStr
    rule: NonEmptyStr
    reason: str


class Shortlist(Model):
    """For status ``active``/``amended``: the ranked suppliers. For ``cancelled``: ``entries`` are the suppliers
    shortlisted for earlier versions, who must be told the notice is cancelled."""

    schema_version: Literal[1] = 1
    shortlist_id: NonEmptyStr  #: ``<notice_id>@<notice_version>``
    notice_id: NonEmptyStr
    notice_version: int = Field(ge=1)
    notice_status: NoticeStatus
    #: The notice as matched, so consumers (notifier, buyer UI) need no second lookup.
    notice: TenderNotice
    entries: list[ShortlistEntry] = Field(default_factory=list)
    exclusions: list[Exclusion] = Field(default_factory=list)
    #: Suppliers on the previous version's shortlist (who get an amendment or cancellation notice).
    previously_shortlisted: list[str] = Field(default_factory=list)
    #: Identifies the scoring code and weights that produced the ranking.
    algorithm: str
    generated_at: AwareDatetime

    @staticmethod
    def make_id(notice_id: str, notice_version: int) -> str:
        return f"{notice_id}@{notice_version}"

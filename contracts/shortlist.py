"""Shortlist: the ranked, explained suppliers for one notice version. Topic ``matches.shortlists``, key
``notice_id`` (so all versions of a notice stay in order on one partition)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.common import CountryCode, Model, NonEmptyStr
from contracts.notice import NoticeStatus, TenderNotice

#: Every ``ScoreComponent.reason_code`` and the names of its ``reason_args``. ``scheme`` is ``UNSPSC``, ``CPV`` or
#: ``other`` (a code of another scheme, which matches only itself: ``code`` is then its text as published, and the
#: codes that name a level never have it); ``code`` a notice's code and ``supplier_code`` a supplier's (UNSPSC and
#: CPV: as many digits as the level they name); ``level``
#: a level name (UNSPSC ``segment``, ``family``, ``class``, ``commodity``; CPV ``division``, ``group``, ``class``,
#: ``category``, ``subdivision``); ``words`` comma-separated words; ``last`` an ISO date or ""; counts are ints.
REASON_CODES: dict[str, tuple[str, ...]] = {
    # category: the notice's codes against the supplier's
    "code_exact": ("scheme", "code"),  # the notice's code is one of the supplier's
    "code_near": ("scheme", "code", "level", "supplier_code"),  # one level above or below a supplier's code
    "code_shared_level": ("scheme", "code", "level", "supplier_code"),  # both under the supplier's <level>
    "code_none": ("scheme", "code"),  # no code in common with the notice's (first) code
    # codes suggested from free text (the supplier's description, or the text of a notice that states no codes):
    # never the supplier's or the buyer's own, and said so
    "code_suggested": ("scheme", "code", "supplier_code"),  # the notice's code meets one suggested for the supplier
    "code_notice_suggested": ("scheme", "code", "supplier_code"),  # a code suggested for the notice meets theirs
    # the notice's code (``scheme``) and the supplier's code of the other scheme (``supplier_scheme``, UNSPSC or
    # CPV) read alike in the CPV <-> UNSPSC crosswalk, ``percent`` 0-100 how alike
    "code_crosswalk": ("scheme", "code", "supplier_scheme", "supplier_code", "percent"),
    # text and wording: the notice's words against the supplier's profile
    "words_shared": ("words",),
    "words_none": (),
    "wording_close": ("phrase", "percent"),  # a keyword or past-award wording close to the title, percent 0-100
    # past awards (the supplier's history)
    "history": ("awards", "scheme", "code", "family_awards", "last"),  # awards in the code, in its family
    "buyer_awards": ("awards", "family_awards"),  # awards from this buyer, of them in this family
    "buyer_code_awards": ("awards",),  # awards from this buyer for this very code
    "repeat": ("times", "from_buyer"),  # won the same contract (same description) before
    "activity": ("awards", "last"),
    # estimated value against the supplier's usual contract values
    "value_close": (),
    "value_unlike": (),
    "value_unknown": (),
    # semantic: meaning across languages (a multilingual sentence embedding)
    "meaning_close": ("phrase", "notice_words"),  # the supplier's own phrase, as written, close to the notice's words
    # the supplier's own "not relevant for me" (an entry's ``adjustment_code``, never a component's)
    "supplier_refused": ("notice_id",),  # said of this very notice
    "supplier_refused_similar": ("notice_id",),  # said of a notice like this one, ``notice_id``
}


#: The reason codes of an entry's ``adjustment_code`` (the supplier's own word), never a component's.
ADJUSTMENT_CODES = frozenset({"supplier_refused", "supplier_refused_similar"})

#: Reason codes of a neutral score given for want of information: not a reason a supplier fits.
UNINFORMATIVE = frozenset({"value_unknown"})


class ScoreComponent(Model):
    """One part of a score. ``contribution`` = ``score`` x ``weight``; ``reason`` is one line a buyer can read,
    ``reason_code`` and ``reason_args`` the same thing as data, for emails in the supplier's language and voice."""

    name: NonEmptyStr
    score: float = Field(ge=0, le=1)
    weight: float = Field(ge=0)
    contribution: float = Field(ge=0)
    #: The reason in English, as a buyer reads it ("UNSPSC 42132203 is one of the supplier's codes").
    reason: str
    #: What ``reason`` says, for readers in another language or voice (a supplier's email in Chinese): one of
    #: ``REASON_CODES``, with its values in ``reason_args``. None from a producer that does not set it: show
    #: ``reason`` then.
    reason_code: str | None = None
    reason_args: dict[str, str | int | float] = Field(default_factory=dict)


class ShortlistEntry(Model):
    rank: int = Field(ge=1)
    supplier_id: NonEmptyStr
    supplier_name: str
    supplier_country: CountryCode | None = None
    total_score: float = Field(ge=0)
    components: list[ScoreComponent] = Field(default_factory=list)
    #: A prospect: a firm known only from public award records (``SupplierProfile.origin`` ``awards``), not
    #: registered and never contacted by tenderbridge; a buyer reaches it on its own.
    prospect: bool = False
    #: For a prospect, the award records it is known from, as one line a buyer reads ("prospect: known from 3
    #: public award records (csv-austender), the latest of 2024-04-02, https://...; not registered, not contacted").
    evidence: str | None = None
    #: What buyers' marks (``contracts.feedback``) added to the total, signed: ``total_score`` is the components'
    #: contributions plus this (never below 0). 0 when no mark counts for the supplier on this notice.
    adjustment: float = 0.0
    #: Why, for the buyer ("marked not relevant (wrong products) by this agency on a similar notice (ungm:9); 1 more
    #: mark"); None without an adjustment.
    adjustment_reason: str | None = None
    #: When the supplier's own "not relevant for me" counts in the adjustment: ``supplier_refused`` or
    #: ``supplier_refused_similar`` (``REASON_CODES``) with its ``adjustment_args``, so that the supplier's email
    #: says it in the supplier's language; None otherwise (buyers' marks are the agency's, never told to suppliers).
    adjustment_code: str | None = None
    adjustment_args: dict[str, str | int | float] = Field(default_factory=dict)

    def top_components(self, n: int = 3) -> list[ScoreComponent]:
        """The ``n`` components that contributed most, those that contributed at all, highest first; a neutral
        score given for want of information (``UNINFORMATIVE``: no value to compare) is no reason."""
        ranked = sorted(
            (c for c in self.components if c.reason_code not in UNINFORMATIVE),
            key=lambda c: c.contribution,
            reverse=True,
        )
        return [c for c in ranked[:n] if c.contribution > 0]

    def top_reasons(self, n: int = 3) -> list[str]:
        return [c.reason for c in self.top_components(n)]


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

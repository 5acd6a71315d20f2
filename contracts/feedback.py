"""ShortlistFeedback: what a buyer decided about one supplier of a notice's shortlist (invite, relevant, not
relevant with an optional reason), or what a supplier said of a notice itself ("not relevant for me").

Topic ``matches.feedback`` (compacted), key ``feedback_id``: one mark per agency, notice and supplier, the latest
replacing the one before. The matcher writes it (the buyer page and ``POST /notices/{id}/feedback``); ranking reads
it (``services.matcher.domain.feedback``). A mark belongs to the buyer's agency: another agency never sees it.

The notifier writes the supplier's own marks (``by_supplier`` true, from the "not relevant for me" link of an alert):
``not_relevant`` with the supplier's optional reason, ``agency`` the notice's buyer (``agency_key``), and a key of its
own (``feedback_id(..., by_supplier=True)``), so a supplier's mark never replaces the buyer's on the same entry.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from contracts.common import Model, NonEmptyStr, NonEmptyText
from contracts.supplier import SupplierId


class FeedbackMark(StrEnum):
    """The three decisions a buyer makes on a shortlist entry."""

    INVITE = "invite"
    RELEVANT = "relevant"
    NOT_RELEVANT = "not_relevant"


class FeedbackReason(StrEnum):
    """Why a supplier is not relevant (optional, ``not_relevant`` only)."""

    WRONG_PRODUCTS = "wrong_products"
    TOO_SMALL = "too_small"
    NOT_ELIGIBLE = "not_eligible"
    OTHER = "other"


def feedback_id(agency: str, notice_id: str, supplier_id: str, *, by_supplier: bool = False) -> str:
    """The mark's id, the same for every mark of one agency on one supplier of one notice (a later mark replaces an
    earlier one): a SHA-256 of the three, so that an id carries no agency name and fits any store's id limits. The
    supplier's own mark on the notice has an id of its own (``by_supplier``), beside the buyer's."""
    key = f"{agency}\x1f{notice_id}\x1f{supplier_id}"
    if by_supplier:
        key += "\x1fsupplier"
    return hashlib.sha256(key.encode()).hexdigest()


def agency_key(name: str) -> str:
    """The one form agencies are compared in: case-folded, surrounding spaces dropped and inner runs of spaces
    collapsed, so ``" unicef "`` is UNICEF."""
    return " ".join(name.split()).casefold()


#: The rule "a reason only with not_relevant" as JSON Schema (2020-12 ``if``/``then``), so that clients and the
#: OpenAPI document know it too.
REASON_RULE: dict[str, Any] = {
    "if": {"properties": {"mark": {"not": {"const": FeedbackMark.NOT_RELEVANT.value}}}, "required": ["mark"]},
    "then": {"properties": {"reason": {"type": "null"}}},
}


def _check_reason(mark: FeedbackMark, reason: FeedbackReason | None) -> None:
    if reason is not None and mark != FeedbackMark.NOT_RELEVANT:
        raise ValueError("a reason goes with mark not_relevant only")


class FeedbackRequest(Model):
    """``POST /notices/{id}/feedback``: a buyer's mark on one supplier of the notice's shortlist."""

    model_config = ConfigDict(json_schema_extra=REASON_RULE)

    schema_version: Literal[1] = 1
    supplier_id: SupplierId
    mark: FeedbackMark
    #: Only with ``not_relevant``.
    reason: FeedbackReason | None = None

    @model_validator(mode="after")
    def _reason_only_when_not_relevant(self) -> Self:
        _check_reason(self.mark, self.reason)
        return self


class ShortlistFeedback(Model):
    """A buyer's mark on one supplier of a notice, or the supplier's own (``by_supplier``), as stored and
    published."""

    model_config = ConfigDict(json_schema_extra=REASON_RULE)

    schema_version: Literal[1] = 1
    #: ``feedback_id(agency, notice_id, supplier_id)``; the topic's key.
    feedback_id: NonEmptyStr
    notice_id: NonEmptyStr
    #: The notice version whose shortlist the buyer was reading.
    notice_version: int = Field(ge=1)
    supplier_id: SupplierId
    #: The buyer's agency as agencies are compared (case-folded, spaces collapsed): whose mark it is.
    agency: NonEmptyText
    mark: FeedbackMark
    reason: FeedbackReason | None = None
    #: The key id (a public hash prefix) of the key that marked it; None for the operators' admin setting.
    marked_by: str | None = None
    marked_at: AwareDatetime
    #: True when the supplier marked the notice itself ("not relevant for me" in an alert; ``agency`` is then the
    #: notice's buyer, ``marked_by`` None); False for a buyer's mark.
    by_supplier: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_reason(self.mark, self.reason)
        if self.feedback_id != feedback_id(self.agency, self.notice_id, self.supplier_id, by_supplier=self.by_supplier):
            raise ValueError("feedback_id is not feedback_id(agency, notice_id, supplier_id, by_supplier=...)")
        if self.by_supplier and self.mark != FeedbackMark.NOT_RELEVANT:
            raise ValueError("a supplier marks a notice not_relevant only")
        return self

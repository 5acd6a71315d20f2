""" "Not relevant for me" (pure): what the signed link of an alert item names, and the supplier's own mark it becomes.

Each item of an alert or digest links (``tokens.NOT_RELEVANT``, an alert link's lifetime) to a page where the
supplier confirms, with a POST and an optional reason, that the notice does not fit. The token's subject names the
supplier, the notice, the version it was alerted on and the notice's buyer; the mark is a ``ShortlistFeedback`` with
``by_supplier`` true, published on ``matches.feedback`` for the matcher's ranking (``contracts/feedback.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from contracts import TenderNotice
from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback, agency_key, feedback_id
from services.notifier.exceptions import InvalidToken

#: The reasons a supplier may give, in the order the page lists them.
REASONS = tuple(FeedbackReason)


@dataclass(frozen=True)
class NoticeRef:
    """What a "not relevant for me" link names."""

    supplier_id: str
    notice_id: str
    notice_version: int
    #: The notice's buyer as the notice names it (shown on the page; ``agency_key`` of it is the mark's agency).
    buyer: str


def subject(supplier_id: str, notice: TenderNotice) -> str:
    """The token subject of the link for ``supplier_id`` on ``notice`` (a JSON array: ids may hold any character)."""
    return json.dumps(
        [supplier_id, notice.notice_id, notice.version, notice.buyer.name], ensure_ascii=False, separators=(",", ":")
    )


def read_subject(text: str) -> NoticeRef:
    """The link's supplier, notice, version and buyer; ``InvalidToken`` for a subject of any other shape."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidToken("not a not-relevant token") from exc
    if (
        not isinstance(data, list)
        or len(data) != 4
        or not all(isinstance(v, str) and v for v in (data[0], data[1], data[3]))
        or not isinstance(data[2], int)
        or isinstance(data[2], bool)
        or data[2] < 1
    ):
        raise InvalidToken("not a not-relevant token")
    return NoticeRef(data[0], data[1], data[2], data[3])


def read_reason(value: str | None) -> FeedbackReason | None:
    """The optional reason of the form ("" or absent: none); ``ValueError`` for a value not on the list."""
    if value is None or not value.strip():
        return None
    try:
        return FeedbackReason(value.strip())
    except ValueError as exc:
        raise ValueError(f"reason should be one of {', '.join(r.value for r in REASONS)}") from exc


def supplier_mark(ref: NoticeRef, reason: FeedbackReason | None, at: datetime) -> ShortlistFeedback:
    """The supplier's own "not relevant" mark on the notice, keyed apart from the buyer's marks on the same entry."""
    agency = agency_key(ref.buyer)
    return ShortlistFeedback(
        feedback_id=feedback_id(agency, ref.notice_id, ref.supplier_id, by_supplier=True),
        notice_id=ref.notice_id,
        notice_version=ref.notice_version,
        supplier_id=ref.supplier_id,
        agency=agency,
        mark=FeedbackMark.NOT_RELEVANT,
        reason=reason,
        marked_by=None,
        marked_at=at,
        by_supplier=True,
    )

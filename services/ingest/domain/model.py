"""What a mapper returns: a ``TenderNotice``, an ``AwardRecord``, or a ``Rejection`` that says why the record is
neither."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from contracts import AwardRecord, TenderNotice


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that cannot become a notice. It goes to the dead-letter topic whole, with the reason."""

    #: Machine-readable reason code (``invalid_json``, ``no_title``, ``not_a_notice``...).
    reason: str
    #: Human-readable explanation.
    detail: str
    #: The raw record as text.
    payload: str
    #: The record's id in its source, when one could be read.
    key: str | None = None
    #: What the record was to become: ``notice`` (dead-lettered on the notices' DLQ) or ``award`` (the awards').
    record: str = "notice"


#: What a notice mapper returns.
Outcome = TenderNotice | Rejection
#: What a document of any source yields: notices, award records, and rejections of either.
Record = TenderNotice | AwardRecord | Rejection


_R = TypeVar("_R", Outcome, Record)


def at_line(outcome: _R, number: int) -> _R:
    """``outcome`` of the record on line ``number`` of a file: a rejection's detail starts with ``line N: ``."""
    if isinstance(outcome, Rejection):
        moved = Rejection(
            outcome.reason, f"line {number}: {outcome.detail}", outcome.payload, outcome.key, outcome.record
        )
        return cast(_R, moved)
    return outcome


def oversized(notice: TenderNotice, max_bytes: int) -> Rejection | None:
    """A ``too_large`` rejection of a notice whose JSON takes more than ``max_bytes``, which names the limit and
    carries the JSON; None when it fits. (A notice travels again inside its shortlist: ``MAX_NOTICE_BYTES``.)"""
    data = notice.__pydantic_serializer__.to_json(notice)
    if len(data) <= max_bytes:
        return None
    return Rejection(
        "too_large",
        f"notice {notice.notice_id} takes {len(data):,} bytes as JSON, over the limit of {max_bytes:,} bytes per "
        "notice (TB_INGEST_MAX_NOTICE_BYTES: a notice travels again inside its shortlist, within Kafka's message "
        "limit)",
        data.decode(),
        notice.notice_id,
    )


_UTF8_BOM = b"\xef\xbb\xbf"


def without_bom(data: bytes) -> bytes:
    """``data`` without the UTF-8 byte-order mark that Windows tools and some portals put first (JSON forbids it,
    CSV readers trip on it); the document itself is unchanged."""
    return data[3:] if data.startswith(_UTF8_BOM) else data


@dataclass(frozen=True)
class Context:
    """What a mapper needs besides the record: the source name and reference lists supplied by the operator."""

    #: ``notice.source`` for the records of this source (``ted``, ``ungm``, ``csv-undp``); OCDS mappers derive
    #: ``ocds-<publisher>`` from the ocid prefix when this is ``ocds``.
    source: str
    #: Official CPV check digits (8 digits -> check digit) when the CPV list is available; the algorithm
    #: derived from that list is used for codes it does not hold.
    cpv_check_digits: Mapping[str, str] = field(default_factory=dict)
    #: Detect the language of notices that do not state one (langdetect, seeded).
    detect_language: bool = True
    #: Normalized classifications already seen (the same few codes repeat across thousands of items).
    code_cache: dict[tuple[object, object, object], tuple[Any, str | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

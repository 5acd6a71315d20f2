"""Versions of a notice: an unchanged re-read publishes nothing, a change publishes the next version (amended,
with what changed), a cancellation publishes status cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts import AwardRecord, NoticeStatus, TenderNotice
from contracts.changes import NAMED_FIELDS, NONE, SHOWN_FIELDS, Change
from services.ingest.domain.awards import award_hash
from services.ingest.domain.normalize import content_hash


@dataclass(frozen=True, slots=True)
class Known:
    """What is remembered of the last published version of a notice."""

    content_hash: str
    version: int
    status: NoticeStatus
    notice: TenderNotice | None


@dataclass(frozen=True, slots=True)
class KnownAward:
    """What is remembered of the last published version of an award."""

    content_hash: str
    version: int
    award: AwardRecord | None = None


def next_award_version(award: AwardRecord, known: KnownAward | None, received_at: datetime) -> AwardRecord | None:
    """The version of an award to publish: version 1 when new, the next one when its content changed (a corrected
    result notice, a re-published release), None when it is the same award read again, or a poorer reading of it
    (``_poorer_reading``)."""
    if known is None:
        return award.model_copy(update={"version": 1, "received_at": received_at})
    if known.content_hash == award.content_hash or _poorer_reading(known.award, award):
        return None
    return award.model_copy(update={"version": known.version + 1, "received_at": received_at})


def _poorer_reading(old: AwardRecord | None, new: AwardRecord) -> bool:
    """Whether ``new`` says what the published ``old`` says with less about its winners: the same winners in the same
    order, each without an identifier, country or address that ``old`` has, and nothing else different.

    A publisher's release names a supplier by a party id and its record describes that party in full (Paraguay's
    DNCP does): read in turn, each would replace the other at every run. The fuller reading stays; a real change
    later publishes the award whole."""
    if old is None or len(old.suppliers) != len(new.suppliers):
        return False
    for was, now in zip(old.suppliers, new.suppliers, strict=True):
        if was.name != now.name or not set(now.identifiers) <= set(was.identifiers):
            return False
        if now.country not in (None, was.country) or now.address not in (None, was.address):
            return False
    return award_hash(new.model_copy(update={"suppliers": old.suppliers})) == award_hash(old)


def next_version(notice: TenderNotice, known: Known | None, received_at: datetime) -> TenderNotice | None:
    """The version to publish for a freshly mapped notice, or None when it is unchanged."""
    if known is None:
        status = NoticeStatus.CANCELLED if notice.status == NoticeStatus.CANCELLED else NoticeStatus.ACTIVE
        return notice.model_copy(update={"version": 1, "status": status, "changes": [], "received_at": received_at})
    if (
        known.content_hash == notice.content_hash
        or _only_a_guess_withdrawn(known.notice, notice)
        or _only_unseen_characters_removed(known.notice, notice)
    ):
        return None
    status = NoticeStatus.CANCELLED if notice.status == NoticeStatus.CANCELLED else NoticeStatus.AMENDED
    changes = describe_changes(known.notice, notice) if known.notice is not None else [Change("content").line()]
    if known.status == NoticeStatus.CANCELLED and status != NoticeStatus.CANCELLED:
        changes.insert(0, Change("reopened").line())
    return notice.model_copy(
        update={"version": known.version + 1, "status": status, "changes": changes, "received_at": received_at}
    )


def _only_a_guess_withdrawn(old: TenderNotice | None, new: TenderNotice) -> bool:
    """Whether ``new`` differs from the published ``old`` only by stating no language where ``old`` stated one.

    That is what a stricter language detection makes of a notice whose source never states its language (a
    guess it no longer dares): no news for anyone, so nothing is published. A real change later publishes the
    notice whole, without the language."""
    if old is None or new.language is not None or old.language is None:
        return False
    return content_hash(old.model_copy(update={"language": None})) == new.content_hash


def _only_unseen_characters_removed(old: TenderNotice | None, new: TenderNotice) -> bool:
    """Whether the published ``old`` and ``new`` differ only by what the contract now removes from text (controls,
    bidi overrides, zero-width characters; ``contracts.common.normalize_text``).

    ``old`` is read back through the contract, so its text is normalized now, while its stored hash was computed
    before: the hashes differ although nobody can see a difference. Not republished (every reader normalizes the
    version it holds the same way); a real change later publishes the notice whole."""
    return old is not None and content_hash(old) == new.content_hash


def _codes(notice: TenderNotice) -> list[str]:
    return [f"{c.scheme_name or c.scheme} {c.code}" for c in notice.all_classifications()]


def _short(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        dumped = value.model_dump(exclude_none=True)
        return ", ".join(f"{k}={v}" for k, v in dumped.items())
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_changes(old: TenderNotice, new: TenderNotice) -> list[str]:
    """Human-readable differences, in the order a reader cares about (the matcher and the emails show them), in
    the grammar of ``contracts.changes`` (emails read them back to say them in the supplier's language)."""
    out: list[Change] = []
    if new.status == NoticeStatus.CANCELLED and old.status != NoticeStatus.CANCELLED:
        out.append(Change("cancelled"))
    for name in SHOWN_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            shown_before = _short(before) if before is not None else NONE
            shown_after = _short(after) if after is not None else NONE
            out.append(Change("field", name, shown_before, shown_after))
    old_codes, new_codes = _codes(old), _codes(new)
    added = [c for c in new_codes if c not in old_codes]
    removed = [c for c in old_codes if c not in new_codes]
    if added:
        out.append(Change("codes_added", codes=tuple(dict.fromkeys(added))))
    if removed:
        out.append(Change("codes_removed", codes=tuple(dict.fromkeys(removed))))
    if old.items != new.items and not (added or removed):
        out.append(Change("items"))
    out.extend(Change("named", name) for name in NAMED_FIELDS if getattr(old, name) != getattr(new, name))
    return [c.line() for c in out] or [Change("content").line()]

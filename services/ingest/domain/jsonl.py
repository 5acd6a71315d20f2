"""``TenderNotice`` documents: JSON Lines (the demo generator and other tenderbridge tools write them) and the
notices pushed to ``POST /notices``.

They are validated against the contract, then normalized like the records of every other source (codes, text,
currency, language; see ``normalize``); version, status history and content hash are ingest's to decide. A
notice that is already normalized (one that ingest or the demo generator wrote) comes out with the same content,
so the same content hash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from contracts import Classification, CodeScheme, NoticeStatus, TenderNotice
from services.ingest.domain.model import Context, Outcome, Rejection, at_line, without_bom
from services.ingest.domain.normalize import (
    classification,
    clean_text,
    dedupe_classifications,
    finish,
    language_tag,
    money,
    parse_instant,
    problems,
)


def from_dict(data: object, raw: str, ctx: Context) -> Outcome:
    """One ``TenderNotice`` as JSON (a dict) -> the normalized notice, or a ``Rejection`` that says why not."""
    if not isinstance(data, dict):
        return Rejection("invalid_notice", "a TenderNotice must be a JSON object", raw)
    key = data.get("notice_id") if isinstance(data.get("notice_id"), str) else None
    try:
        notice = TenderNotice.model_validate(data)
    except ValidationError as exc:
        return Rejection("invalid_notice", problems(exc), raw, key)
    return normalized(notice, raw, ctx)


def normalized(notice: TenderNotice, raw: str, ctx: Context) -> Outcome:
    """A valid notice through the normalization every mapper applies, ending in ``normalize.finish`` (language,
    validation, content hash). Findings join the notice's own warnings."""
    warnings = list(notice.warnings)
    fields: dict[str, Any] = notice.model_dump(
        exclude={"schema_version", "notice_id", "version", "content_hash", "changes", "warnings"}
    )
    fields["status"] = NoticeStatus.CANCELLED if notice.status == NoticeStatus.CANCELLED else NoticeStatus.ACTIVE
    fields["title"] = clean_text(notice.title)
    fields["description"] = clean_text(notice.description)
    fields["language"] = language_tag(notice.language)
    buyer = fields["buyer"]
    buyer["name"] = clean_text(notice.buyer.name)
    fields["classifications"] = _codes(notice.classifications, ctx, warnings)
    items = []
    for item, out in zip(notice.items, fields["items"], strict=True):
        out["description"] = clean_text(item.description) or None
        out["unit"] = clean_text(item.unit) or None
        main = _codes([item.classification] if item.classification is not None else [], ctx, warnings)
        out["classification"] = main[0] if main else None
        out["additional_classifications"] = _codes(item.additional_classifications, ctx, warnings)
        items.append(out)
    fields["items"] = items
    for document, out in zip(notice.documents, fields["documents"], strict=True):
        out["title"] = clean_text(document.title) or None
    if notice.estimated_value is not None:
        value = notice.estimated_value
        fields["estimated_value"] = money(value.amount, value.currency, "value", warnings)
    for name in ("published", "deadline"):
        _set_utc(fields, name, getattr(notice, f"{name}_at"), getattr(notice, f"{name}_utc_offset"), warnings)
    outcome = finish(fields, warnings, ctx, raw)
    if isinstance(outcome, Rejection):  # dead-lettered under the notice's id, as a notice that fails validation
        return dataclasses.replace(outcome, key=notice.notice_id)
    return outcome


def _codes(codes: list[Classification], ctx: Context, warnings: list[str]) -> list[Classification]:
    """Each code read again as its scheme says (UNSPSC padded, CPV check digit verified, an unreadable code kept
    as OTHER with a warning), then deduplicated as the mappers do."""
    out: list[Classification] = []
    for c in codes:
        code = c.code
        if c.scheme == CodeScheme.CPV and c.check_digit is not None and "-" not in code:
            code = f"{code}-{c.check_digit}"  # as CPV is written, so that the check digit is verified
        scheme_name = (c.scheme_name or "OTHER") if c.scheme == CodeScheme.OTHER else c.scheme.value
        found = classification(scheme_name, code, c.description, ctx, warnings)
        if found is None:
            warnings.append(f"{c.scheme.value} code {c.code!r} holds no text once HTML is stripped; dropped")
            continue
        if found.scheme == CodeScheme.OTHER and c.scheme == CodeScheme.OTHER and c.scheme_name is None:
            found = found.model_copy(update={"scheme_name": None})  # no scheme name was given: none is made up
        out.append(found)
    return dedupe_classifications(out)


def _set_utc(
    fields: dict[str, Any], name: str, instant: datetime | None, offset: str | None, warnings: list[str]
) -> None:
    """``<name>_at`` in UTC. An instant written in another zone keeps that zone in ``<name>_utc_offset``; one
    already in UTC keeps the offset it came with (ingest's own output: the UTC instant and the source's zone)."""
    if instant is None:
        return
    try:
        at, written = parse_instant(instant)
    except (ValueError, OverflowError) as exc:  # out of range in UTC (year 1 east of Greenwich): as set_instant does
        warnings.append(f"{name} ignored: {exc}")
        fields.pop(f"{name}_at", None)
        fields.pop(f"{name}_utc_offset", None)
        return
    fields[f"{name}_at"] = at
    fields[f"{name}_utc_offset"] = offset if written in (None, "+00:00") else written


def parse(data: bytes, ctx: Context) -> Iterator[Outcome]:
    """One outcome per non-blank line; a rejection's detail names its line (and the field, for a notice that does
    not validate)."""
    for number, line in enumerate(without_bom(data).splitlines(), start=1):
        if not line.strip():
            continue
        raw = line.decode("utf-8", errors="replace")
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Rejection("invalid_json", f"line {number}: {exc.msg} at column {exc.colno}", raw)
            continue
        yield at_line(from_dict(value, raw, ctx), number)

"""JSON Lines of ``TenderNotice`` (the demo generator and other tenderbridge tools write them): taken as they
are, except that version, status history and content hash are ingest's to decide."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from pydantic import ValidationError

from contracts import NoticeStatus, TenderNotice
from services.ingest.domain.model import Context, Outcome, Rejection
from services.ingest.domain.normalize import content_hash


def from_dict(data: object, raw: str) -> Outcome:
    if not isinstance(data, dict):
        return Rejection("invalid_notice", "a TenderNotice must be a JSON object", raw)
    key = data.get("notice_id") if isinstance(data.get("notice_id"), str) else None
    try:
        notice = TenderNotice.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return Rejection("invalid_notice", problems, raw, key)
    status = NoticeStatus.CANCELLED if notice.status == NoticeStatus.CANCELLED else NoticeStatus.ACTIVE
    notice = notice.model_copy(update={"status": status, "version": 1, "changes": []})
    return notice.model_copy(update={"content_hash": content_hash(notice)})


def parse(data: bytes, ctx: Context) -> Iterator[Outcome]:
    for line in data.splitlines():
        if not line.strip():
            continue
        raw = line.decode("utf-8", errors="replace")
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Rejection("invalid_json", str(exc), raw)
            continue
        yield from_dict(value, raw)

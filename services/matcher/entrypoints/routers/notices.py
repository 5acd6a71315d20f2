"""``/notices``: the notices a key sees, one notice, its explained shortlist (JSON or CSV), and a re-rank. Which
notices a key sees is the keys' and the service's rule (``Matcher.notice_for``); the routes read the query."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BeforeValidator

from contracts import NoticeStatus, Shortlist, ShortlistEntry, TenderNotice
from contracts.api import NoticePage, ShortlistPage
from services.matcher.entrypoints.pages import CODE_FILTER_HINT, CODE_FILTER_PATTERN, read_filter_code
from services.matcher.entrypoints.routers.deps import CSV_MEDIA_TYPE, ContainerDep, PrincipalDep, problems
from services.matcher.keys import Role
from services.matcher.ports import NoticeFilter
from services.matcher.service import Matcher

router = APIRouter(prefix="/notices", tags=["notices"], responses=problems(401, 403, 404, 422, 503))


class BadQuery(Exception):
    """Raised if a query parameter has the right type but no meaning (a deadline window that ends before it starts,
    an instant out of range): 422 problem+json naming the parameter, shaped like a schema error."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


def _written_instant(value: Any) -> Any:
    """An instant is written as ISO 8601 (``format: date-time``), not as a number of seconds, which pydantic would
    otherwise read as a Unix time."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError(f"{value!r} is a number, not a date-time such as 2026-03-31T17:00:00Z")
    return value


InstantQuery = Annotated[datetime | None, BeforeValidator(_written_instant), Query()]


def utc_instant(parameter: str, value: datetime | None) -> datetime | None:
    """A filter instant in UTC, as the store compares it: without an offset it is UTC; with one it is converted (an
    offset the store does not read, up to ±18:00 in Elasticsearch, never reaches it). ``BadQuery`` if it falls
    outside the years 1 to 9999 once in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise BadQuery(parameter, f"{value.isoformat()} is out of range once in UTC") from None


def _shortlist_of(matcher: Matcher, notice: TenderNotice) -> Shortlist:
    shortlist = matcher.shortlist_of(notice)
    if shortlist is None:
        raise HTTPException(404, f"notice {notice.notice_id!r} has no shortlist yet")
    return shortlist


def _filtered_entries(shortlist: Shortlist, min_score: float | None, country: str | None) -> list[ShortlistEntry]:
    return [
        e
        for e in shortlist.entries
        if (min_score is None or e.total_score >= min_score) and (country is None or e.supplier_country == country)
    ]


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to spreadsheet programs (CSV injection, OWASP).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def shortlist_csv(shortlist: Shortlist, entries: Iterable[ShortlistEntry]) -> str:
    entries = list(entries)
    names: dict[str, None] = {}
    for e in entries:
        for c in e.components:
            names.setdefault(c.name, None)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["notice_id", "notice_version", "rank", "supplier_id", "supplier_name", "supplier_country", "total_score"]
        + [f"score_{n}" for n in names]
        + ["reasons", "prospect", "evidence"]
    )
    for e in entries:
        contributions = {c.name: c.contribution for c in e.components}
        writer.writerow(
            [
                _csv_cell(v)
                for v in [
                    shortlist.notice_id,
                    shortlist.notice_version,
                    e.rank,
                    e.supplier_id,
                    e.supplier_name,
                    e.supplier_country or "",
                    f"{e.total_score:.4f}",
                    *(f"{contributions.get(n, 0.0):.4f}" for n in names),
                    "; ".join(e.top_reasons()),
                    # A prospect is known only from public award records: not registered, never alerted.
                    "yes" if e.prospect else "",
                    e.evidence or "",
                ]
            ]
        )
    return out.getvalue()


def shortlist_csv_response(shortlist: Shortlist, entries: Iterable[ShortlistEntry]) -> Response:
    """The shortlist as a CSV download (the API's ``format=csv`` and the page's link)."""
    filename = f"shortlist-{shortlist.shortlist_id}.csv".replace(":", "_").replace("@", "_v")
    return Response(
        shortlist_csv(shortlist, entries),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def shortlist_csv_of(matcher: Matcher, notice: TenderNotice) -> Response:
    """Every entry of a notice's shortlist as CSV."""
    shortlist = _shortlist_of(matcher, notice)
    return shortlist_csv_response(shortlist, shortlist.entries)


@router.get("", response_model=NoticePage)
def list_notices(
    container: ContainerDep,
    principal: PrincipalDep,
    agency: Annotated[str | None, Query(description="buyer id or name")] = None,
    code: Annotated[
        str | None,
        Query(
            description="UNSPSC or CPV code at any level: 42132203, 421322, 4213, 42130000 (the family 4213), a CPV "
            "code with its check digit (33141000-1) or level (331); 2 to 8 digits not starting with 00, spaces and "
            "dashes ignored (422 otherwise, saying why)",
            # The rule stated for clients; ``read_filter_code`` applies it and says what is wrong in our words.
            json_schema_extra={"pattern": CODE_FILTER_PATTERN},
        ),
    ] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description="delivery/beneficiary")] = None,
    status: NoticeStatus | None = None,
    deadline_from: InstantQuery = None,
    deadline_to: InstantQuery = None,
    # Elasticsearch pages at most 10,000 hits deep (index.max_result_window).
    offset: Annotated[int, Query(ge=0, le=9_800)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NoticePage:
    """Notices visible to the caller (a buyer sees its own agency's only), soonest deadline first. A deadline
    without an offset is UTC. 422 for a ``deadline_from`` after ``deadline_to``."""
    principal.require(Role.ADMIN, Role.BUYER)
    code_prefix = None
    if code is not None:
        code_prefix = read_filter_code(code)
        if code_prefix is None:
            raise BadQuery("code", f"{code!r} {CODE_FILTER_HINT}")
    deadline_from, deadline_to = utc_instant("deadline_from", deadline_from), utc_instant("deadline_to", deadline_to)
    if deadline_from is not None and deadline_to is not None and deadline_from > deadline_to:
        raise BadQuery(
            "deadline_from",
            f"{deadline_from.isoformat()} is after deadline_to {deadline_to.isoformat()}: no notice can match",
        )
    if principal.role == Role.BUYER:
        if agency is not None and not principal.of_agency(agency):
            return NoticePage(items=[], total=0, offset=offset, limit=limit)
        agency = principal.agency
    flt = NoticeFilter(agency or None, code_prefix, country, status, deadline_from, deadline_to)
    items, total = container.matcher.notices.find(flt, offset, limit)
    return NoticePage(items=items, total=total, offset=offset, limit=limit)


# Notice ids may contain "/" (UNGM references such as ``ungm:UNFPA/RFQ-2026-1``), hence the ``path`` converters;
# the routes with a suffix come first so that the plain one does not swallow them.
@router.get(
    "/{notice_id:path}/shortlist",
    response_model=ShortlistPage,
    responses={200: {"content": {CSV_MEDIA_TYPE: {}}, "description": "JSON, or CSV with format=csv"}},
)
def get_shortlist(
    notice_id: str,
    request: Request,
    container: ContainerDep,
    principal: PrincipalDep,
    min_score: Annotated[float | None, Query(ge=0, le=1, description="total score from 0 to 1")] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description="supplier country")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    format: Annotated[str | None, Query(pattern="^(json|csv)$")] = None,
) -> Any:
    """The ranked, explained shortlist of the notice's latest version. ``format=csv`` (or ``Accept: text/csv``)
    exports every matching entry as CSV (pagination does not apply)."""
    notice = container.matcher.notice_for(principal, notice_id)
    shortlist = _shortlist_of(container.matcher, notice)
    entries = _filtered_entries(shortlist, min_score, country)
    wants_csv = format == "csv" or (format is None and CSV_MEDIA_TYPE in request.headers.get("accept", ""))
    if wants_csv:
        return shortlist_csv_response(shortlist, entries)
    return ShortlistPage(
        shortlist_id=shortlist.shortlist_id,
        notice_id=shortlist.notice_id,
        notice_version=shortlist.notice_version,
        notice_status=shortlist.notice_status,
        notice_title=shortlist.notice.title,
        algorithm=shortlist.algorithm,
        generated_at=shortlist.generated_at,
        total=len(entries),
        offset=offset,
        limit=limit,
        entries=entries[offset : offset + limit],
        exclusions=shortlist.exclusions,
        previously_shortlisted=shortlist.previously_shortlisted,
    )


@router.post("/{notice_id:path}/rematch", response_model=Shortlist)
def rematch(notice_id: str, container: ContainerDep, principal: PrincipalDep) -> Shortlist:
    """Rank the current version again (new profiles or weights) and republish its shortlist."""
    container.matcher.notice_for(principal, notice_id)
    return container.matcher.rematch(notice_id)


@router.get("/{notice_id:path}", response_model=TenderNotice)
def get_notice(notice_id: str, container: ContainerDep, principal: PrincipalDep) -> TenderNotice:
    return container.matcher.notice_for(principal, notice_id)

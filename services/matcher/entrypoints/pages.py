"""The buyer's web pages' own logic, apart from their routes (``http.py``): the notice list's GET form read into a
``NoticeFilter`` with a sentence per wrong value, and how a notice's facts are written on the page."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from urllib.parse import urlencode, urlsplit

from contracts import Classification, CodeScheme, NoticeStatus
from contracts.codes import cpv_prefix, read_code, unspsc_prefix
from services.matcher.domain import codes as domain_codes
from services.matcher.keys import Principal, Role
from services.matcher.ports import NoticeFilter

#: Notices per page of ``/ui/notices``.
UI_PAGE_SIZE = 100
UI_MAX_OFFSET = 9_800  # the API's limit too: Elasticsearch pages at most 10,000 hits deep
_UI_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


#: What a code filter may be, said after the value that is not one (the page's and the API's message).
CODE_FILTER_HINT = (
    "is not a UNSPSC or CPV code; write its digits at any level, e.g. 42 (segment), 4213 (family), 421322 (class) "
    "or 42132203, or a CPV code with its check digit, e.g. 33141000-1"
)
_CPV_LEVEL_DIGITS = re.compile(r"\d{3}|\d{5}|\d{7}")
#: What a code filter may hold between the white space around it (ASCII only): digits, spaces and dashes.
_SPACES = " \t\n\r\f\v"
_CODE_CHARS = "0123456789 -"
#: ``read_filter_code``'s rule as a regular expression, for the OpenAPI document (a property test holds the two
#: together): 2 to 8 digits, not starting with 00, with spaces and dashes anywhere; or a CPV code with its check
#: digit; white space around. (No look-ahead: JSON Schema patterns are ECMA 262 and pydantic's are Rust's.)
CODE_FILTER_PATTERN = (
    r"^[ \t\n\r\f\v]*([ -]*(0[ -]*[1-9]|[1-9][ -]*[0-9])([ -]*[0-9]){0,6}[ -]*"
    r"|( *(0[1-9]|[1-9][0-9])[0-9]{6} *- *[0-9] *))[ \t\n\r\f\v]*$"
)


def read_filter_code(text: str) -> str | None:
    """A notice list's ``code`` filter as people write it -> the code prefix notices are filtered by (a notice
    matches a prefix of any of its codes at any level), or None if it is not a code.

    Read like every other code (``contracts.codes.read_code``): UNSPSC at 2, 4, 6 or 8 digits, spaces and dashes
    ignored, segment ``00`` refused; CPV as 8 digits with an optional check digit (``33141000-1``). A CPV group,
    category or subdivision (3, 5 or 7 digits, ``331``) is a level too. A padded 8-digit code means its level, as
    it does in a profile (``42130000`` is the family ``4213``), where both schemes read the same prefix from it;
    where they do not (``33141000``: UNSPSC class ``331410``, CPV category ``33141``), the code itself."""
    text = text.strip(_SPACES)
    if text.strip(_CODE_CHARS):  # "٤٢١٣" and "²" are digits to str.isdigit, not to any code list
        return None
    cpv = read_code(CodeScheme.CPV, text)
    if cpv is not None and cpv[1] is not None:  # a check digit: CPV for sure
        return cpv_prefix(cpv[0]) if cpv[0][:2] != "00" else None
    digits = text.replace(" ", "").replace("-", "")
    if _CPV_LEVEL_DIGITS.fullmatch(digits):
        return digits if digits[:2] != "00" else None
    unspsc = read_code(CodeScheme.UNSPSC, digits)
    if unspsc is None:
        return None
    if len(digits) < 8:  # typed at its level
        return digits
    as_unspsc, as_cpv = unspsc_prefix(unspsc[0]), cpv_prefix(unspsc[0])
    return as_unspsc if as_unspsc == as_cpv else unspsc[0]


@dataclass
class UiListQuery:
    """The list page's form as the buyer filled it in (``values``, echoed into the form and the paging links),
    the ``NoticeFilter`` it means, the words that say what is filtered, and what was wrong with it."""

    values: dict[str, str]
    flt: NoticeFilter
    offset: int
    described: list[str]
    errors: list[str]

    def link(self, offset: int) -> str:
        """``/ui/notices`` with the same filters at another page (defaults left out)."""
        params = {k: v for k, v in self.values.items() if v and not (k == "show" and v == "open")}
        if offset:
            params["offset"] = str(offset)
        return "/ui/notices" + (f"?{urlencode(params)}" if params else "")


def _ui_date(label: str, raw: str, errors: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(f"{label}: {raw!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-31.")
        return None


def ui_list_query(params: Mapping[str, str], principal: Principal, now: datetime) -> UiListQuery:
    """Read the list page's GET form; every value is checked here so that a wrong one becomes a sentence on the
    page (the API's 422 problem+json is for programs). A buyer key always lists its own agency only."""

    def get(name: str) -> str:
        return (params.get(name) or "").strip()

    values = {
        "show": get("show") or "open",
        "status": get("status").lower(),
        "code": get("code"),
        "country": get("country").upper(),
        "deadline_from": get("deadline_from"),
        "deadline_to": get("deadline_to"),
        "agency": get("agency") if principal.is_admin else "",
    }
    errors: list[str] = []
    described: list[str] = []
    if values["show"] not in ("open", "all"):
        errors.append("Show: choose open notices or all notices.")
    open_at = now if values["show"] == "open" else None
    if open_at is not None:
        described.append("open (not cancelled, deadline not passed or none)")
    status: NoticeStatus | None = None
    if values["status"]:
        try:
            status = NoticeStatus(values["status"])
            described.append(f"status {status.value}")
        except ValueError:
            errors.append(f"Status: {values['status']!r} is not one of {', '.join(s.value for s in NoticeStatus)}.")
    code: str | None = None
    if values["code"]:
        code = read_filter_code(values["code"])
        if code is not None:
            described.append(f"code {code}")
        else:
            errors.append(f"Code: {values['code']!r} {CODE_FILTER_HINT}.")
    if values["country"]:
        if _UI_COUNTRY.match(values["country"]):
            described.append(f"delivery to {values['country']}")
        else:
            errors.append(f"Delivery country: {values['country']!r} is not a two-letter country code such as KE.")
    start = _ui_date("Deadline from", values["deadline_from"], errors)
    end = _ui_date("Deadline to", values["deadline_to"], errors)
    if start is not None and end is not None and start > end:
        errors.append("Deadline from is after deadline to: no notice can match.")
    if start is not None:
        described.append(f"deadline from {start.isoformat()}")
    if end is not None:
        described.append(f"deadline to {end.isoformat()} (end of day UTC)")
    agency: str | None = values["agency"] or None
    if principal.role == Role.BUYER:
        agency = principal.agency
    if agency:
        described.append(f"buyer {agency}")
    raw_offset = get("offset") or "0"
    try:
        offset = int(raw_offset)
    except ValueError:
        offset = -1
    if not 0 <= offset <= UI_MAX_OFFSET:
        errors.append(f"Page: offset {raw_offset!r} must be a whole number from 0 to {UI_MAX_OFFSET}.")
        offset = 0
    flt = NoticeFilter(
        agency=agency,
        code=code,
        country=values["country"] or None,
        status=status,
        deadline_from=datetime.combine(start, time.min, UTC) if start else None,
        # The whole day: a deadline at 17:00 on the "to" date is in.
        deadline_to=datetime.combine(end, time(23, 59, 59, 999_000), UTC) if end else None,
        open_at=open_at,
    )
    return UiListQuery(values, flt, offset, described, errors)


def ui_web_link(url: str | None) -> str | None:
    """A link from outside that is safe in an ``href``: http(s) only (a ``javascript:`` URL would run script)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:  # "http://[::1" and the like
        return None
    return url.strip() if scheme in ("http", "https") else None


def ui_utc(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def ui_money(amount: float, currency: str) -> str:
    return f"{currency} {amount:,.0f}" if amount == int(amount) else f"{currency} {amount:,.2f}"


def ui_code(c: Classification) -> str:
    """``UNSPSC 42132203 (commodity): Medical gloves``: scheme, code, level, and the source's description."""
    scheme = (c.scheme_name or "code") if c.scheme == CodeScheme.OTHER else c.scheme.value
    code = f"{c.code}-{c.check_digit}" if c.check_digit else c.code
    t = domain_codes.tag_of(c) if c.scheme != CodeScheme.OTHER else None
    level = f" ({domain_codes.level_name(t)})" if t else ""
    return f"{scheme} {code}{level}" + (f": {c.description}" if c.description else "")

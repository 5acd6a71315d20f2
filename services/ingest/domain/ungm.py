"""UN Global Marketplace (https://www.ungm.org): no public API, so three shapes of what a browser gets.

- the notice search results page (HTML rows ``div.tableRow.dataRow[data-noticeid]``);
- the public notice detail page ``/Public/Notice/<id>`` (labels "Published on:", "Deadline on:", "Reference:",
  "Beneficiary countries or territories:", "Registration level", "Organization", a "Description" panel and the
  UNSPSC codes; the only place the codes appear);
- the search export (CSV: Title, Reference, UN organization, Type of notice, Published, Deadline, Beneficiary
  countries, UNSPSC codes, Link).

Deadlines read ``22-Oct-2026 08:00`` followed by ``(GMT 4.30)``: hours and minutes, so ``4.30`` is +04:30.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from contracts import NoticeType, RegistrationLevel
from services.ingest.domain.model import Context, Outcome, Rejection
from services.ingest.domain.normalize import (
    classification,
    clean_text,
    country,
    dedupe_classifications,
    finish,
    format_offset,
)

_DATE = re.compile(
    r"(\d{1,2})[- ]([A-Za-z]{3})[A-Za-z]*[- ](\d{4})(?:\s+(\d{1,2}):(\d{2}))?"
    r"(?:\s*\(\s*(?:GMT|UTC)\s*([+-]?)\s*(\d{1,2})(?:[.:](\d{1,2}))?\s*\))?"
)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}
_UNSPSC = re.compile(r"(?<!\d)(\d{8})(?!\d)(?:\s*[-–:]\s*([^\n;|]+))?")
_NOTICE_ID = re.compile(r"/Notice/(\d+)", re.IGNORECASE)

_TYPES = (
    ("invitation to bid", NoticeType.ITB),
    ("request for quotation", NoticeType.RFQ),
    ("request for proposal", NoticeType.RFP),
    ("expression of interest", NoticeType.EOI),
    ("request for eoi", NoticeType.EOI),
    ("individual consultant", NoticeType.CONSULTANT),
    ("request for information", NoticeType.RFI),
    ("pre-bid", NoticeType.PRIOR_INFORMATION),
    ("prior information", NoticeType.PRIOR_INFORMATION),
)


def notice_type(text: str) -> NoticeType:
    lowered = text.lower()
    for needle, kind in _TYPES:
        if needle in lowered:
            return kind
    return NoticeType.OTHER


def registration_level(text: str) -> RegistrationLevel | None:
    lowered = text.lower().replace(" ", "")
    if "level2" in lowered:
        return RegistrationLevel.LEVEL_2
    if "level1" in lowered:
        return RegistrationLevel.LEVEL_1
    if "basic" in lowered:
        return RegistrationLevel.BASIC
    return None


def parse_date(text: str, *, end_of_day: bool) -> tuple[datetime, str | None]:
    """``22-Oct-2026 08:00 (GMT 4.30)`` -> (UTC instant, ``+04:30``). Raises ValueError."""
    m = _DATE.search(text)
    if m is None:
        raise ValueError(f"not a UNGM date: {text!r}")
    day, mon, year, hour, minute, sign, oh, om = m.groups()
    month = _MONTHS.get(mon.lower())
    if month is None:
        raise ValueError(f"unknown month in {text!r}")
    tz = None
    if oh is not None:
        minutes = int(oh) * 60 + int((om or "0").ljust(2, "0")[:2])
        tz = timezone(timedelta(minutes=-minutes if sign == "-" else minutes))
    if hour is None:
        h, mi, s = (23, 59, 59) if end_of_day else (0, 0, 0)
    else:
        h, mi, s = int(hour), int(minute), 0
    local = datetime(int(year), month, int(day), h, mi, s, tzinfo=tz or UTC)
    return local.astimezone(UTC), format_offset(tz)


def _set_date(fields: dict[str, Any], name: str, text: str, warnings: list[str], *, end_of_day: bool) -> None:
    if not text:
        return
    try:
        instant, offset = parse_date(text, end_of_day=end_of_day)
    except ValueError as exc:
        warnings.append(f"{name} ignored: {exc}")
        return
    if offset is None and name == "deadline" and ":" in text:
        warnings.append("deadline has no time zone; read as UTC")
    fields[f"{name}_at"], fields[f"{name}_utc_offset"] = instant, offset


def _countries(text: str, warnings: list[str]) -> list[str]:
    out: list[str] = []
    for part in re.split(r"[,;\n]", text):
        name = clean_text(part)
        if not name or name.lower().startswith("multiple destination"):
            continue
        code = country(name)
        if code:
            out.append(code)
        else:
            warnings.append(f"beneficiary country {name!r} not recognised")
    return list(dict.fromkeys(out))


def _codes(text: str, ctx: Context, warnings: list[str]) -> list[Any]:
    found = (classification("UNSPSC", code, desc, ctx, warnings) for code, desc in _UNSPSC.findall(text))
    return dedupe_classifications(c for c in found if c is not None)


def _fields(
    notice_id: str,
    title: str,
    agency: str,
    kind: str,
    reference: str,
    ctx: Context,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "source_id": notice_id,
        "title": title,
        "buyer": {"name": agency} if agency else None,
        "notice_type": notice_type(kind),
    }
    if notice_id.isdigit():
        fields["source_url"] = f"https://www.ungm.org/Public/Notice/{notice_id}"
    if reference:
        fields["description"] = f"Reference: {reference}"
    return fields


# ------------------------------------------------------------------------------------------ search results


def _cell_text(node: LexborNode | None) -> str:
    return clean_text(node.text(separator=" ")) if node is not None else ""


def parse_search_results(html: str, ctx: Context) -> Iterator[Outcome]:
    tree = LexborHTMLParser(html)
    rows = tree.css("div.tableRow.dataRow")
    if not rows:
        yield Rejection("not_ungm", "no UNGM notice rows (div.tableRow.dataRow) in the page", html[:100_000])
        return
    for row in rows:
        raw = row.html or ""
        notice_id = clean_text(row.attributes.get("data-noticeid"))
        cells = row.css("div.tableCell")
        # Columns after the options cell: title, deadline, published, agency, type, reference, beneficiary.
        by_role: dict[str, str] = {}
        plain: list[LexborNode] = []
        for cell in cells:
            cls = cell.attributes.get("class") or ""
            if "resultOptions" in cls:
                continue
            if "resultTitle" in cls:
                title_node = cell.css_first(".ungm-title") or cell
                by_role["title"] = _cell_text(title_node)
                link = cell.css_first("a[href]")
                href = link.attributes.get("href") if link is not None else None
                if not notice_id and href:
                    m = _NOTICE_ID.search(href)
                    notice_id = m.group(1) if m else ""
            elif "deadline" in cls:
                hidden = cell.css_first(".remainingDaysToDeadline")
                if hidden is not None:
                    hidden.decompose()
                by_role["deadline"] = _cell_text(cell)
            elif "resultAgency" in cls:
                by_role["agency"] = _cell_text(cell)
            elif cell.attributes.get("data-description") == "Reference":
                by_role["reference"] = _cell_text(cell)
            else:
                plain.append(cell)
        # The unlabelled cells come in page order: published, type of notice, beneficiary countries.
        for name, cell in zip(("published", "type", "beneficiary"), plain, strict=False):
            by_role[name] = _cell_text(cell)
        warnings: list[str] = []
        fields = _fields(
            notice_id,
            by_role.get("title", ""),
            by_role.get("agency", ""),
            by_role.get("type", ""),
            by_role.get("reference", ""),
            ctx,
        )
        _set_date(fields, "deadline", by_role.get("deadline", ""), warnings, end_of_day=True)
        _set_date(fields, "published", by_role.get("published", ""), warnings, end_of_day=False)
        fields["beneficiary_countries"] = _countries(by_role.get("beneficiary", ""), warnings)
        yield finish(fields, warnings, ctx, raw)


# ------------------------------------------------------------------------------------------- detail page

_LABELS = {
    "published on": "published",
    "deadline on": "deadline",
    "reference": "reference",
    "beneficiary countries or territories": "beneficiary",
    "beneficiary countries": "beneficiary",
    "registration level": "registration",
    "organization": "agency",
    "type of notice": "type",
    "title": "title",
}


def _label_key(text: str) -> str | None:
    return _LABELS.get(clean_text(text).rstrip(":").strip().lower())


def _value_after(node: LexborNode) -> str:
    sibling = node.next
    while sibling is not None:
        if sibling.tag not in ("-text", "-comment"):
            return _cell_text(sibling)
        text = clean_text(sibling.text())
        if text:
            return text
        sibling = sibling.next
    return ""


def parse_detail(html: str, ctx: Context, notice_id: str = "") -> Outcome:
    """The public notice detail page. Labels are found by their text, values are the next element."""
    tree = LexborHTMLParser(html)
    values: dict[str, str] = {}
    for node in tree.css("label, dt, th, span, div, strong, b, p, h1, h2, h3, h4"):
        own = clean_text(node.text(deep=False))
        if not own:
            continue
        key = _label_key(own)
        if key and key not in values:
            value = _value_after(node)
            if value:
                values[key] = value
    title = values.get("title") or _cell_text(tree.css_first("h1.title, .notice-title, h1"))
    if not notice_id:
        for selector in ("[data-noticeid]", "link[rel=canonical]", "meta[property='og:url']"):
            found = tree.css_first(selector)
            if found is not None:
                attrs = found.attributes
                candidate = attrs.get("data-noticeid") or attrs.get("href") or attrs.get("content") or ""
                m = _NOTICE_ID.search(candidate or "")
                notice_id = m.group(1) if m else clean_text(candidate) if candidate and candidate.isdigit() else ""
                if notice_id:
                    break
    description = ""
    codes_text = ""
    for node in tree.css("h2, h3, h4, legend, .panel-heading, .title"):
        heading = clean_text(node.text()).lower()
        container = node.parent
        if container is None:
            continue
        if heading.startswith("description") and not description:
            description = _cell_text(container)[len(clean_text(node.text())) :].strip()
        elif "unspsc" in heading and not codes_text:
            rows = container.css("tr")
            if rows:  # a table: code and description in separate cells
                lines = (" - ".join(_cell_text(c) for c in row.css("td")[:2]) for row in rows)
                codes_text = "\n".join(line for line in lines if line)
            else:
                codes_text = container.text(separator="\n")
    if not codes_text:
        for node in tree.css(".unspsc, .unspsc-list, #unspsc, [data-unspsc]"):
            codes_text += node.text(separator="\n") + "\n"
    warnings: list[str] = []
    fields = _fields(
        notice_id, title, values.get("agency", ""), values.get("type", ""), values.get("reference", ""), ctx
    )
    if description:
        fields["description"] = description
    _set_date(fields, "deadline", values.get("deadline", ""), warnings, end_of_day=True)
    _set_date(fields, "published", values.get("published", ""), warnings, end_of_day=False)
    fields["beneficiary_countries"] = _countries(values.get("beneficiary", ""), warnings)
    level = registration_level(values.get("registration", ""))
    if level is not None:
        fields["required_registration_level"] = level
    fields["classifications"] = _codes(codes_text, ctx, warnings)
    if not fields["classifications"]:
        warnings.append("no UNSPSC codes on the detail page")
    return finish(fields, warnings, ctx, html[:100_000])


# ------------------------------------------------------------------------------------------------ export

_EXPORT_COLUMNS = {
    "title": "title",
    "reference": "reference",
    "un organization": "agency",
    "organization": "agency",
    "agency": "agency",
    "type of notice": "type",
    "published": "published",
    "deadline": "deadline",
    "beneficiary countries": "beneficiary",
    "beneficiary countries or territories": "beneficiary",
    "unspsc codes": "codes",
    "unspsc": "codes",
    "link": "link",
    "description": "description",
    "registration level": "registration",
}


def parse_export(text: str, ctx: Context) -> Iterator[Outcome]:
    text = text.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "title" not in {clean_text(f).lower() for f in reader.fieldnames}:
        yield Rejection("not_ungm", "not a UNGM export (no Title column)", text[:100_000])
        return
    for line_no, row in enumerate(reader, start=2):
        values = {_EXPORT_COLUMNS.get(clean_text(k).lower(), ""): clean_text(v) for k, v in row.items() if k}
        raw = ",".join(f"{k}={v}" for k, v in row.items() if k)
        link = values.get("link", "")
        m = _NOTICE_ID.search(link)
        notice_id = m.group(1) if m else values.get("reference", "")
        if not notice_id:
            yield Rejection("no_source_id", f"export line {line_no} has neither a notice link nor a reference", raw)
            continue
        warnings: list[str] = []
        fields = _fields(
            notice_id, values.get("title", ""), values.get("agency", ""), values.get("type", ""),
            values.get("reference", ""), ctx,
        )  # fmt: skip
        if values.get("description"):
            fields["description"] = values["description"]
        if link.startswith("http"):
            fields["source_url"] = link
        _set_date(fields, "deadline", values.get("deadline", ""), warnings, end_of_day=True)
        _set_date(fields, "published", values.get("published", ""), warnings, end_of_day=False)
        fields["beneficiary_countries"] = _countries(values.get("beneficiary", ""), warnings)
        fields["classifications"] = _codes(values.get("codes", ""), ctx, warnings)
        level = registration_level(values.get("registration", ""))
        if level is not None:
            fields["required_registration_level"] = level
        yield finish(fields, warnings, ctx, raw)


def parse(data: bytes, ctx: Context, name: str = "") -> Iterator[Outcome]:
    """Any of the three shapes, told apart by their content."""
    text = data.decode("utf-8", errors="replace")
    head = text[:4096].lower()
    if "<" in head and ("<html" in head or "<div" in head or "<!doctype" in head):
        if "tablerow" in text[:200_000].lower() and "data-noticeid" in text.lower():
            yield from parse_search_results(text, ctx)
        else:
            m = _NOTICE_ID.search(name)
            yield parse_detail(text, ctx, m.group(1) if m else "")
        return
    yield from parse_export(text, ctx)

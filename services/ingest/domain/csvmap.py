"""CSV files with a declarative column mapping (a YAML or JSON file, see services/ingest/README.md): rows of
notices, or rows of awards (``records: awards``, one ``AwardRecord`` per row)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import NoticeStatus
from services.ingest.domain.awards import day, finish_award, identifier, organisation
from services.ingest.domain.model import Context, Record, Rejection, at_line
from services.ingest.domain.normalize import (
    classification,
    clean_text,
    country,
    dedupe_classifications,
    finish,
    language_tag,
    money,
    parse_instant,
)
from services.ingest.domain.ungm import notice_type
from services.ingest.exceptions import SourceConfigError


class CodeColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Column holding one or more codes.
    column: str
    #: ``UNSPSC``, ``CPV`` or any other scheme name (kept as OTHER).
    scheme: str = "UNSPSC"
    #: Separator between several codes in one cell.
    split: str = ";"


class CsvMapping(BaseModel):
    """Which column feeds which notice field; ``constants`` fill fields no column holds."""

    model_config = ConfigDict(extra="forbid")

    #: The source becomes ``csv-<name>``.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    #: What a row is: a notice, or an award (``AwardRecord``; the award fields below).
    records: Literal["notices", "awards"] = "notices"
    delimiter: str = ","
    encoding: str = "utf-8"
    #: Field -> column. Notice fields: source_id, title, description, buyer_name, buyer_id, buyer_country,
    #: published, deadline, amount, currency, language, url, notice_type, status, delivery_country. Award fields:
    #: source_id (the notice or procurement), award_id, title, description, buyer_name, buyer_id, buyer_country,
    #: supplier_name, supplier_id, supplier_id_scheme, supplier_country, supplier_street, supplier_locality,
    #: supplier_postal_code, supplier_region, amount, currency, awarded, signed, lot_id, contract_id, url.
    columns: dict[str, str]
    codes: list[CodeColumn] = Field(default_factory=list)
    #: Field -> fixed value (``currency: AUD``).
    constants: dict[str, str] = Field(default_factory=dict)
    #: strptime format for dates that are not ISO 8601 (``%d/%m/%Y %H:%M``).
    date_format: str | None = None
    #: Offset for dates without one (``+10:00``); without it they are read as UTC with a warning.
    timezone: str | None = None
    #: Cell values (lower case) that mean the notice is cancelled, in the ``status`` column.
    cancelled_values: list[str] = Field(default_factory=lambda: ["cancelled", "canceled", "withdrawn"])

    @classmethod
    def from_dict(cls, data: Any) -> CsvMapping:
        try:
            mapping = cls.model_validate(data)
        except ValidationError as exc:
            raise SourceConfigError(f"invalid CSV mapping: {exc}") from exc
        for required in ("source_id", "supplier_name") if mapping.records == "awards" else ("source_id", "title"):
            if required not in mapping.columns:
                raise SourceConfigError(f"CSV mapping {mapping.name!r} must map the {required!r} column")
        return mapping


_FIELDS = {
    "source_id", "title", "description", "buyer_name", "buyer_id", "buyer_country", "published", "deadline",
    "amount", "currency", "language", "url", "notice_type", "status", "delivery_country",
}  # fmt: skip
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


def _instant(value: str, mapping: CsvMapping, end_of_day: bool) -> tuple[datetime, str | None]:
    if mapping.date_format:
        parsed = datetime.strptime(value, mapping.date_format)
        has_time = any(d in mapping.date_format for d in ("%H", "%I", "%M"))
        text = parsed.isoformat() if has_time else parsed.date().isoformat()
        if parsed.tzinfo is None and mapping.timezone:
            text += mapping.timezone
        return parse_instant(text, end_of_day=end_of_day)
    instant, offset = parse_instant(value, end_of_day=end_of_day)
    if offset is None and mapping.timezone and _OFFSET.match(mapping.timezone):
        instant, offset = parse_instant(value + mapping.timezone, end_of_day=end_of_day)
    return instant, offset


def _getter(row: dict[str, str], mapping: CsvMapping) -> Any:
    def get(name: str) -> str:
        column = mapping.columns.get(name)
        value = row.get(column, "") if column else ""
        return clean_text(value) or mapping.constants.get(name, "")

    return get


def _codes(row: dict[str, str], mapping: CsvMapping, ctx: Context, warnings: list[str]) -> list[Any]:
    codes = []
    for spec in mapping.codes:
        for code in (row.get(spec.column) or "").split(spec.split):
            c = classification(spec.scheme, code, None, ctx, warnings)
            if c is not None:
                codes.append(c)
    return dedupe_classifications(codes)


def map_row(row: dict[str, str], mapping: CsvMapping, ctx: Context, raw: str) -> Record:
    get = _getter(row, mapping)
    warnings: list[str] = []
    fields: dict[str, Any] = {
        "source_id": get("source_id"),
        "title": get("title"),
        "description": get("description"),
        "language": language_tag(get("language")),
        "buyer": {"name": get("buyer_name")} if get("buyer_name") else None,
    }
    if fields["buyer"] is not None:
        if get("buyer_id"):
            fields["buyer"]["id"] = get("buyer_id")
        if country(get("buyer_country")):
            fields["buyer"]["country"] = country(get("buyer_country"))
    if get("notice_type"):
        fields["notice_type"] = notice_type(get("notice_type"))
    if get("status").lower() in mapping.cancelled_values:
        fields["status"] = NoticeStatus.CANCELLED
    if get("url").startswith(("http://", "https://")):
        fields["source_url"] = get("url")
    delivery = country(get("delivery_country"))
    if delivery:
        fields["delivery_countries"] = [delivery]
    fields["estimated_value"] = money(get("amount"), get("currency"), "amount", warnings) if get("amount") else None
    for name, end_of_day in (("published", False), ("deadline", True)):
        value = get(name)
        if not value:
            continue
        try:
            instant, offset = _instant(value, mapping, end_of_day)
        except (ValueError, OverflowError) as exc:
            warnings.append(f"{name} ignored: {exc}")
            continue
        if offset is None:
            warnings.append(f"{name} has no time zone; read as UTC")
        fields[f"{name}_at"], fields[f"{name}_utc_offset"] = instant, offset
    fields["classifications"] = _codes(row, mapping, ctx, warnings)
    return finish(fields, warnings, ctx, raw)


def _day(value: str, mapping: CsvMapping, name: str, warnings: list[str]) -> date | None:
    """The calendar day of a date cell: with ``date_format`` as it parses; an instant with a zone in the mapping's
    ``timezone`` (AusTender's ``2023-07-01T23:17:24Z`` was 2 July in Canberra); else as written."""
    if not value:
        return None
    if mapping.date_format:
        try:
            return datetime.strptime(value, mapping.date_format).date()
        except ValueError as exc:
            warnings.append(f"{name} ignored: {exc}")
            return None
    if len(value) > 10 and mapping.timezone and _OFFSET.match(mapping.timezone):
        try:
            instant, offset = parse_instant(value)
        except (ValueError, OverflowError):
            return day(value, name, warnings)
        if offset is not None:
            return instant.astimezone(datetime.fromisoformat(f"2000-01-01T00:00{mapping.timezone}").tzinfo).date()
    return day(value, name, warnings)


def map_award_row(row: dict[str, str], mapping: CsvMapping, ctx: Context, raw: str) -> Record:
    """One row of an award file -> an ``AwardRecord`` (``source_id`` ``<notice>:<award, lot or contract>``)."""
    get = _getter(row, mapping)
    warnings: list[str] = []
    notice = get("source_id")
    suffix = get("award_id") or get("lot_id") or get("contract_id") or notice
    supplier = organisation(
        get("supplier_name"),
        [identifier(get("supplier_id_scheme"), get("supplier_id"))],
        country_value=get("supplier_country"),
        street=get("supplier_street"),
        locality=get("supplier_locality"),
        postal_code=get("supplier_postal_code"),
        region=get("supplier_region"),
    )
    buyer: dict[str, Any] | None = {"name": get("buyer_name")} if get("buyer_name") else None
    if buyer is not None:
        if get("buyer_id"):
            buyer["id"] = get("buyer_id")
        if country(get("buyer_country")):
            buyer["country"] = country(get("buyer_country"))
    fields: dict[str, Any] = {
        "source_id": f"{notice}:{suffix}" if notice else "",
        "tender": {
            "id": notice or None,
            "title": get("title") or None,
            "description": get("description"),
            "classifications": _codes(row, mapping, ctx, warnings),
        },
        "buyer": buyer,
        "lot_id": get("lot_id") or None,
        "suppliers": [supplier] if supplier else [],
        "value": money(get("amount"), get("currency"), "amount", warnings) if get("amount") else None,
        "awarded_on": _day(get("awarded"), mapping, "awarded", warnings),
        "contract_signed_on": _day(get("signed"), mapping, "signed", warnings),
        "contract_id": get("contract_id") or None,
        "source_url": get("url") if get("url").startswith(("http://", "https://")) else None,
    }
    if fields["awarded_on"] is None:
        fields["awarded_on"] = fields["contract_signed_on"]
    return finish_award(fields, warnings, ctx, raw)


def parse(data: bytes, mapping: CsvMapping, ctx: Context) -> Iterator[Record]:
    try:
        text = data.decode(mapping.encoding)
    except (UnicodeDecodeError, LookupError):
        text = data.decode("cp1252", errors="replace")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=mapping.delimiter)
    header = reader.fieldnames or []
    record = "award" if mapping.records == "awards" else "notice"
    missing = [c for c in mapping.columns.values() if c not in header]
    if missing:
        detail = f"columns {missing} are not in the header {header}"
        yield Rejection("csv_columns_missing", detail, text[:100_000], record=record)
        return
    end = reader.line_num  # the header's last line
    for row in reader:
        # A quoted cell may hold line breaks: a record starts on the line after the previous one ended.
        line_no, end = end + 1, reader.line_num
        raw = orjson_line(row)
        if None in row:  # more cells than header columns
            detail = f"line {line_no}: more cells than the header's {len(header)}"
            yield Rejection("csv_row_malformed", detail, raw, record=record)
            continue
        mapper = map_award_row if mapping.records == "awards" else map_row
        outcome = mapper({k: v or "" for k, v in row.items()}, mapping, ctx, raw)
        if isinstance(outcome, Rejection) and outcome.reason in _EMPTY_FIELD:
            name = _EMPTY_FIELD[outcome.reason]
            column = mapping.columns.get(name)
            where = f"column {column!r}" if column else f"no column for {name} in the mapping"
            detail = f"{outcome.detail} ({where} is empty)"
            outcome = Rejection(outcome.reason, detail, outcome.payload, outcome.key, outcome.record)
        yield at_line(outcome, line_no)


#: Rejections of ``finish`` for a field left empty -> that field, to name its column.
_EMPTY_FIELD = {
    "no_source_id": "source_id",
    "no_title": "title",
    "no_buyer": "buyer_name",
    "no_supplier": "supplier_name",
}


def orjson_line(row: dict[Any, Any]) -> str:
    import orjson

    return orjson.dumps({str(k): v for k, v in row.items()}, option=orjson.OPT_NON_STR_KEYS).decode()

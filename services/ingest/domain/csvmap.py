"""CSV files with a declarative column mapping (a YAML or JSON file, see services/ingest/README.md)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import NoticeStatus
from services.ingest.domain.model import Context, Outcome, Rejection, at_line
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
    delimiter: str = ","
    encoding: str = "utf-8"
    #: Field -> column. Fields: source_id, title, description, buyer_name, buyer_id, buyer_country, published,
    #: deadline, amount, currency, language, url, notice_type, status, delivery_country.
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
        for required in ("source_id", "title"):
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


def map_row(row: dict[str, str], mapping: CsvMapping, ctx: Context, raw: str) -> Outcome:
    def get(name: str) -> str:
        column = mapping.columns.get(name)
        value = row.get(column, "") if column else ""
        return clean_text(value) or mapping.constants.get(name, "")

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
    codes = []
    for spec in mapping.codes:
        for code in (row.get(spec.column) or "").split(spec.split):
            c = classification(spec.scheme, code, None, ctx, warnings)
            if c is not None:
                codes.append(c)
    fields["classifications"] = dedupe_classifications(codes)
    return finish(fields, warnings, ctx, raw)


def parse(data: bytes, mapping: CsvMapping, ctx: Context) -> Iterator[Outcome]:
    try:
        text = data.decode(mapping.encoding)
    except (UnicodeDecodeError, LookupError):
        text = data.decode("cp1252", errors="replace")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=mapping.delimiter)
    header = reader.fieldnames or []
    missing = [c for c in mapping.columns.values() if c not in header]
    if missing:
        yield Rejection("csv_columns_missing", f"columns {missing} are not in the header {header}", text[:100_000])
        return
    end = reader.line_num  # the header's last line
    for row in reader:
        # A quoted cell may hold line breaks: a record starts on the line after the previous one ended.
        line_no, end = end + 1, reader.line_num
        raw = orjson_line(row)
        if None in row:  # more cells than header columns
            yield Rejection("csv_row_malformed", f"line {line_no}: more cells than the header's {len(header)}", raw)
            continue
        outcome = map_row({k: v or "" for k, v in row.items()}, mapping, ctx, raw)
        if isinstance(outcome, Rejection) and outcome.reason in _EMPTY_FIELD:
            name = _EMPTY_FIELD[outcome.reason]
            column = mapping.columns.get(name)
            where = f"column {column!r}" if column else f"no column for {name} in the mapping"
            outcome = Rejection(outcome.reason, f"{outcome.detail} ({where} is empty)", outcome.payload, outcome.key)
        yield at_line(outcome, line_no)


#: Rejections of ``finish`` for a field left empty -> that field, to name its column.
_EMPTY_FIELD = {"no_source_id": "source_id", "no_title": "title", "no_buyer": "buyer_name"}


def orjson_line(row: dict[Any, Any]) -> str:
    import orjson

    return orjson.dumps({str(k): v for k, v in row.items()}, option=orjson.OPT_NON_STR_KEYS).decode()

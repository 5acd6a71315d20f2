"""Reading supplier profiles from files: JSON Lines of SupplierProfile, or a flat CSV (pure; no I/O but reading
the text given). Bad lines are returned with their line number and reason, never dropped silently.

CSV columns (header row required; only ``supplier_id``, ``name`` and ``country`` are mandatory)::

    supplier_id,name,country,emails,codes,keywords,description,certifications,registration_level,
    max_value_amount,max_value_currency

List cells are separated by ``;``. A code is ``UNSPSC:42132203``, ``CPV:33141411-4`` or a bare 8-digit UNSPSC code.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from contracts import Classification, CodeScheme, SupplierProfile
from contracts.api import ImportRejection


def short_error(exc: ValidationError, limit: int = 3) -> str:
    """What is wrong with a record, field by field: ``field: reason`` for the first ``limit`` errors, then how many
    more; a record that is not JSON, or not an object, gets the reason alone (there is no field to name)."""
    errors = exc.errors()
    parts = []
    for e in errors[:limit]:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        reason = f"not JSON: {e.get('ctx', {}).get('error', e['msg'])}" if e["type"] == "json_invalid" else e["msg"]
        parts.append(f"{loc}: {reason}" if loc else reason)
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


def parse_jsonl(lines: Iterable[str]) -> Iterator[tuple[int, SupplierProfile | ImportRejection]]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield n, SupplierProfile.model_validate_json(line)
        except ValidationError as exc:
            yield n, ImportRejection(line=n, reason=short_error(exc))


def _list(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def _code(text: str) -> Classification:
    scheme_text, _, code = text.rpartition(":")
    scheme = CodeScheme(scheme_text.upper()) if scheme_text else CodeScheme.UNSPSC
    check = None
    if scheme == CodeScheme.CPV and "-" in code:
        code, _, check = code.partition("-")
    return Classification(scheme=scheme, code=code, check_digit=check)


#: How an imported CSV text starts: its header row, with the mandatory columns first in this order (the
#: OpenAPI document states the same pattern; a BOM is allowed).
CSV_HEADER_PATTERN = r"^\ufeff?supplier_id,name,country(,[^\r\n]*)?(\r?\n|$)"
_CSV_HEADER = re.compile(CSV_HEADER_PATTERN)


def has_csv_header(text: str) -> bool:
    """Whether a CSV text starts with the header row ``CSV_HEADER_PATTERN`` wants."""
    return _CSV_HEADER.match(text) is not None


def parse_csv(text: str) -> Iterator[tuple[int, SupplierProfile | ImportRejection]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            # The file is not CSV past this point (a stray quote, a NUL byte): say where, and stop reading.
            yield reader.line_num or 1, ImportRejection(line=reader.line_num or 1, reason=f"not CSV: {exc}")
            return
        n = reader.line_num
        try:
            data: dict[str, Any] = {
                "supplier_id": (row.get("supplier_id") or "").strip(),
                "names": {"en": (row.get("name") or "").strip()},
                "country": (row.get("country") or "").strip().upper(),
                "emails": _list(row.get("emails")),
                "codes": [_code(c) for c in _list(row.get("codes"))],
                "keywords": _list(row.get("keywords")),
                "certifications": _list(row.get("certifications")),
            }
            if (row.get("description") or "").strip():
                data["description"] = {"en": row["description"].strip()}
            if (row.get("registration_level") or "").strip():
                data["registration_level"] = row["registration_level"].strip()
            if (row.get("max_value_amount") or "").strip():
                data["max_contract_value"] = {
                    "amount": float(row["max_value_amount"]),
                    "currency": (row.get("max_value_currency") or "USD").strip().upper(),
                }
            yield n, SupplierProfile.model_validate(data)
        except ValidationError as exc:
            yield n, ImportRejection(line=n, reason=short_error(exc))
        except ValueError as exc:
            yield n, ImportRejection(line=n, reason=str(exc))


def merge_import(stored: SupplierProfile, line: SupplierProfile) -> SupplierProfile:
    """What an import line makes of a profile already stored: the fields the line states replace the stored ones,
    the others are kept (a CSV row has no past awards or preferences; a JSON line may give only some fields).

    What the supplier set itself (``set_by_supplier``: codes, keywords or a description from its profile page,
    preferences from its preferences page) stays as it chose, and a line changes only the preference fields it
    states and never turns alerts back on for a supplier who unsubscribed. A roster re-imported every week must not
    undo what suppliers chose in between.
    """
    own = stored.set_by_supplier
    update: dict[str, Any] = {
        name: getattr(line, name)
        for name in line.model_fields_set
        if name not in ("schema_version", "updated_at", "set_by_supplier") and name not in own
    }
    if "preferences" in update:
        stated = line.preferences
        update["preferences"] = stored.preferences.model_copy(
            update={name: getattr(stated, name) for name in stated.model_fields_set if f"preferences.{name}" not in own}
        )
    merged = stored.model_copy(update=update)
    if stored.preferences.unsubscribed and not merged.preferences.unsubscribed:
        merged = merged.model_copy(update={"preferences": merged.preferences.model_copy(update={"unsubscribed": True})})
    return merged


def same_profile(a: SupplierProfile, b: SupplierProfile) -> bool:
    """Whether two profiles say the same thing (``updated_at``, the time of the last save, aside)."""
    return a.model_dump(exclude={"updated_at"}) == b.model_dump(exclude={"updated_at"})


def parse_file_text(text: str, fmt: str) -> Iterator[tuple[int, SupplierProfile | ImportRejection]]:
    """``fmt`` is ``jsonl`` or ``csv``."""
    if fmt == "csv":
        return parse_csv(text)
    return parse_jsonl(text.splitlines())

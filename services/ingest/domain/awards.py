"""What every award mapper shares (OCDS, eForms results, award CSVs): organisations and their identifiers, the
award's content hash, and ``finish_award`` (fields -> a validated ``AwardRecord`` or a ``Rejection``).

An award's identity is ``<source>:<notice or ocid>:<award or lot>`` (``AwardRecord.award_id``): derived from the
source only, so the same award read twice, from a file or a feed, has the same id, and its content hash tells a
re-read from a correction (``versioning.next_award_version``).
"""

from __future__ import annotations

import hashlib
import operator
from datetime import date, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from contracts.award import AwardRecord
from services.ingest.domain.model import Context, Rejection
from services.ingest.domain.normalize import clean_text, country, parse_instant, problems, raw_text

#: Fields that describe a version rather than the award's content.
_NOT_CONTENT = {"version", "content_hash", "warnings", "received_at", "schema_version"}
_CONTENT = tuple(name for name in AwardRecord.model_fields if name not in _NOT_CONTENT)
_model_fields = operator.attrgetter("__dict__")


def award_hash(award: AwardRecord) -> str:
    """SHA-256 over the award's content (its fields but the version's own), as ``normalize.content_hash``."""
    fields = award.__dict__
    return hashlib.sha256(orjson.dumps({k: fields[k] for k in _CONTENT}, default=_model_fields)).hexdigest()


def identifier(scheme: object, value: object) -> dict[str, str] | None:
    """``{"scheme", "id"}`` when both are there; identifiers are kept as written (no case folding: ``HRB 1234``)."""
    s, v = clean_text(scheme), clean_text(value)
    if not s or not v:
        return None
    return {"scheme": s, "id": v}


def organisation(
    name: object,
    identifiers: list[dict[str, str] | None],
    *,
    country_value: object = None,
    street: object = None,
    locality: object = None,
    postal_code: object = None,
    region: object = None,
    party_id: object = None,
) -> dict[str, Any] | None:
    """An ``Organisation`` as plain fields, None without a name (a winner nobody can name is no evidence)."""
    text = clean_text(name)
    if not text:
        return None
    org: dict[str, Any] = {"name": text}
    ids = list({(i["scheme"], i["id"]): i for i in identifiers if i is not None}.values())
    if ids:
        org["identifiers"] = ids
    code = country(country_value)
    if code:
        org["country"] = code
    address = {
        k: v
        for k, v in (
            ("street", clean_text(street)),
            ("locality", clean_text(locality)),
            ("postal_code", clean_text(postal_code)),
            ("region", clean_text(region)),
            ("country", code),
        )
        if v
    }
    if address:
        org["address"] = address
    pid = clean_text(party_id)
    if pid:
        org["source_party_id"] = pid
    return org


def day(value: object, field: str, warnings: list[str]) -> date | None:
    """The calendar day of a date or date-time as the publisher wrote it (its own offset, not UTC: an award signed
    on 1 July in Canberra was signed on 1 July); a value that cannot be read is a warning."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = clean_text(value)
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            pass
        try:
            return parse_instant(text)[0].date()
        except (ValueError, OverflowError):
            warnings.append(f"{field} ignored: not a date: {text!r}")
            return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    warnings.append(f"{field} ignored: not a date: {value!r}")
    return None


def finish_award(fields: dict[str, Any], warnings: list[str], ctx: Context, raw: object) -> AwardRecord | Rejection:
    """Validate mapped fields into an ``AwardRecord`` (with its content hash), or reject with the reason.

    ``fields["source_id"]`` is ``<notice or ocid>:<award or lot>``; an award with no winner is rejected as
    ``no_supplier`` (nothing to learn about any supplier from it)."""
    source_id = clean_text(fields.get("source_id"))
    source = fields.get("source") or ctx.source
    if not source_id:
        return Rejection("no_source_id", "the award has no identifier", raw_text(raw), record="award")
    if not fields.get("suppliers"):
        return Rejection("no_supplier", f"award {source_id} names no winner", raw_text(raw), source_id, "award")
    fields["source"] = source
    fields["source_id"] = source_id
    fields["award_id"] = f"{source}:{source_id}"
    if warnings:
        fields["warnings"] = list(dict.fromkeys(warnings))
    try:
        award = AwardRecord.model_validate(fields)
    except ValidationError as exc:
        return Rejection("invalid_award", f"award {source_id}: {problems(exc)}", raw_text(raw), source_id, "award")
    award.__dict__["content_hash"] = award_hash(award)
    return award

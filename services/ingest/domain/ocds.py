"""OCDS (https://standard.open-contracting.org/latest/en/) releases, release packages, record packages, JSON Lines.

Accepts OCDS 1.0 and 1.1 and the non-standard shapes real publishers emit: records with ``compiledRelease``, with
only a ``versionedRelease`` (every field a list of ``{releaseID, releaseDate, releaseTag, value}``), or with only
``releases`` (merged here, later releases winning); tags as a string instead of a list; identifiers as numbers.
A release becomes a notice when one of its tags speaks of a tender (``tender``, ``tenderUpdate``,
``tenderAmendment``, ``tenderCancellation``) or of planning (``planning``: a prior information notice);
award-, contract- and implementation-only releases are not notices and are rejected as ``not_a_notice``.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator
from typing import Any, TypedDict

import msgspec
import orjson

from contracts import NoticeStatus, NoticeType, ProcurementMethod
from services.infra.limits import depth_exceeds
from services.ingest.domain.model import Context, Outcome, Rejection, at_line, without_bom
from services.ingest.domain.normalize import (
    classification,
    clean_text,
    country,
    dedupe_classifications,
    finish,
    language_tag,
    money,
    raw_text,
    set_instant,
)

_OCID_PREFIX = re.compile(r"^(ocds-[a-z0-9]{6})-", re.IGNORECASE)
_METHODS = {m.value for m in ProcurementMethod}

# ------------------------------------------------------------------------------------ what the mapper reads
#
# A release as far as ``map_release`` reads it. The mapper is given only these fields, however the release was
# decoded: a lone release's bytes are decoded straight into them (msgspec skips the rest unparsed: awards,
# contracts, milestones, tenderers... about a third of a real release), and a release already decoded whole (from a
# package, a record, a pushed body) is converted to them. Each object field also accepts any other JSON value, as
# real publishers write a list or a string where an object belongs, so every JSON document fits; the mapper's own
# type checks then decide as they would on the whole release.

_Scalar = str | int | float | bool | None


class _Address(TypedDict, total=False):
    countryName: Any
    country: Any


class _Identifier(TypedDict, total=False):
    id: Any
    legalName: Any


class _Organization(TypedDict, total=False):
    id: Any
    name: Any
    roles: Any
    identifier: _Identifier | list[Any] | _Scalar
    address: _Address | list[Any] | _Scalar


class _Code(TypedDict, total=False):
    scheme: Any
    id: Any
    description: Any


class _Unit(TypedDict, total=False):
    id: Any
    name: Any


class _Item(TypedDict, total=False):
    id: Any
    description: Any
    classification: _Code | list[Any] | _Scalar
    additionalClassifications: list[_Code | list[Any] | _Scalar] | dict[str, Any] | _Scalar
    quantity: Any
    unit: _Unit | list[Any] | _Scalar
    deliveryAddress: _Address | list[Any] | _Scalar


class _Document(TypedDict, total=False):
    url: Any
    title: Any
    documentType: Any
    language: Any


class _Value(TypedDict, total=False):
    amount: Any
    currency: Any


class _Period(TypedDict, total=False):
    endDate: Any


class _Tender(TypedDict, total=False):
    title: Any
    description: Any
    status: Any
    procurementMethod: Any
    datePublished: Any
    items: list[_Item | list[Any] | _Scalar] | dict[str, Any] | _Scalar
    documents: list[_Document | list[Any] | _Scalar] | dict[str, Any] | _Scalar
    value: _Value | list[Any] | _Scalar
    tenderPeriod: _Period | list[Any] | _Scalar
    procuringEntity: _Organization | list[Any] | _Scalar


class _Budget(TypedDict, total=False):
    project: Any
    description: Any
    amount: _Value | list[Any] | _Scalar


class _Planning(TypedDict, total=False):
    url: Any
    budget: _Budget | list[Any] | _Scalar


class _Release(TypedDict, total=False):
    ocid: Any
    id: Any
    tag: Any
    date: Any
    language: Any
    title: Any
    uri: Any
    url: Any
    tender: _Tender | list[Any] | _Scalar
    planning: _Planning | list[Any] | _Scalar
    buyer: _Organization | list[Any] | _Scalar
    parties: list[_Organization | list[Any] | _Scalar] | dict[str, Any] | _Scalar


class _Delivered(_Release, total=False):
    """A document as delivered: one release, or a release package with its releases; the fields that make it a
    record instead are kept unparsed, only to tell that it is one."""

    releases: msgspec.Raw
    records: msgspec.Raw
    compiledRelease: msgspec.Raw
    versionedRelease: msgspec.Raw


_RECORD_FIELDS = ("records", "compiledRelease", "versionedRelease")


def _names_a_release(value: dict[str, Any]) -> bool:
    """Whether an object reads as a release: it states an ocid, a tag or a tender."""
    return "ocid" in value or "tag" in value or "tender" in value


_read_delivered = msgspec.json.Decoder(_Delivered).decode
#: A package's releases, each kept as published (a rejection's payload), then read like a lone release.
_read_entries = msgspec.json.Decoder(list[msgspec.Raw]).decode
_read_entry = msgspec.json.Decoder(_Release | list[Any] | _Scalar).decode


def read_fields(release: dict[str, Any]) -> dict[str, Any]:
    """The fields of a decoded release that the mapper reads (new dicts and lists; values shared)."""
    fields: dict[str, Any] = msgspec.convert(release, _Release)
    return fields


def delivered(data: bytes) -> dict[str, Any] | None:
    """The fields the mapper reads of a document that is one release or a release package, decoded without the
    rest; None for any other document (records, JSON Lines, text that is not UTF-8, not JSON or nested near
    ``MAX_DEPTH`` in what is read), which ``decode`` then reads whole."""
    try:
        decoded: Any = _read_delivered(data)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None
    document: dict[str, Any] = decoded
    if any(name in document for name in _RECORD_FIELDS) or container_levels(document, MAX_DEPTH) >= MAX_DEPTH:
        return None
    return document


def is_lone_release(document: dict[str, Any]) -> bool:
    """Whether what ``delivered`` read is one release (what a push or a JSON Lines feed delivers), not a package."""
    return "releases" not in document and _names_a_release(document)


def decode(data: bytes) -> tuple[Any, list[str]]:
    """Parse JSON bytes; a document that is not UTF-8 is read as Windows-1252 with a warning.

    JSON Lines (one release or package per line) come back as a list. Raises ValueError if nothing parses.
    """
    data = without_bom(data)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        doc, warnings = _decode(data)
        deep = depth_exceeds(doc, MAX_DEPTH)
    else:
        # Valid JSON as it is (nearly every document): its containers are counted level by level at C speed, and
        # only a document that comes near the limit is measured exactly, on its bytes.
        warnings = []
        deep = container_levels(doc, MAX_DEPTH) >= MAX_DEPTH and json_depth_exceeds(data, MAX_DEPTH)
    if deep:
        raise ValueError(f"not an OCDS document: nested more than {MAX_DEPTH} levels deep")
    return doc, warnings


#: OCDS documents nest about a dozen levels; anything far deeper is hostile or broken, and would exhaust the
#: recursion limit of the mappers below.
MAX_DEPTH = 64


def container_levels(doc: Any, stop: int) -> int:
    """How many levels of containers ``doc`` nests, as CPython's garbage collector tracks them, counting no further
    than ``stop``; never recursive. The true depth is this count or one more, as a dict is tracked exactly when
    it holds a container (CPython tracks a dict from the first container put into it, so that a reference cycle
    through it can be collected) and a list always: the dicts left out are the leaves (``{"id": "1"}``).
    ``tests/unit/ingest`` checks that rule on decoded documents."""
    if not gc.is_tracked(doc):
        return 0 if type(doc) is not dict else 1
    level: Any = [doc]
    depth = 1
    while depth < stop:
        level = list(filter(gc.is_tracked, gc.get_referents(*level)))
        if not level:
            break
        depth += 1
    return depth


#: JSON's white space at the start of a document.
_BLANK = re.compile(rb"[ \t\r\n]*")
#: A JSON escape's backslash and the character after it (``\\u00e9`` leaves four hex digits: no quote, no bracket).
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
#: Keeps only brackets (opening ones become ``(``, closing ones ``)``) and quotes.
_BRACKETS = bytes.maketrans(b"{[}]", b"(())")
_NOT_BRACKET_OR_QUOTE = bytes(b for b in range(256) if b not in b'{[}]"')


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """Whether valid JSON ``data`` nests deeper than ``limit`` containers, told from its bytes (C-speed scans).

    Escapes are dropped first (left to right, as a JSON reader pairs backslashes), then strings
    (the text between the remaining quotes) with every bracket in them; each ``replace`` of ``()`` then removes
    exactly the innermost level, so the nesting exceeds ``limit`` when anything is left after ``limit`` rounds.
    """
    if b"\\" in data:  # one pass drops every escape (``\\\\``, ``\\"``, ``\\n``...), pairing backslashes as JSON does
        data = _ESCAPE.sub(b"", data)
    text = data.translate(_BRACKETS, _NOT_BRACKET_OR_QUOTE)
    if text.count(b"(") <= limit:  # fewer opening brackets than the limit, even counting those in strings
        return False
    # Adjacent quotes are an empty string or the end of one string and the start of the next: dropping them keeps
    # what lies outside strings. Quotes left enclose strings that hold brackets.
    text = text.replace(b'""', b"")
    if b'"' in text:
        text = b"".join(text.split(b'"')[::2])
    for _ in range(limit):
        if not text:
            return False
        text = text.replace(b"()", b"")
    return bool(text)


def _decode(data: bytes) -> tuple[Any, list[str]]:
    """What orjson could not read as it is: Windows-1252 text, JSON Lines, JSON nested past orjson's limit."""
    warnings: list[str] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        warnings.append("document is not UTF-8; decoded as Windows-1252")
    try:
        return json.loads(text), warnings
    except RecursionError as exc:
        raise ValueError("not JSON this parser accepts: nested too deeply") from exc
    except json.JSONDecodeError as first_error:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1:
            try:
                return [json.loads(line) for line in lines], warnings
            except (json.JSONDecodeError, RecursionError):
                pass
        raise ValueError(f"not JSON: {first_error}") from first_error


def next_page(doc: Any) -> str | None:
    """The OCDS API pagination link (``links.next``) of a package, if any."""
    if isinstance(doc, dict) and isinstance(doc.get("links"), dict):
        nxt = doc["links"].get("next")
        return nxt if isinstance(nxt, str) and nxt else None
    return None


def _is_versioned_value(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and "value" in v and ("releaseID" in v or "releaseDate" in v) for v in value)
    )


def collapse_versioned(value: Any) -> Any:
    """A versioned release (every field a history list) reduced to the latest value of each field."""
    if _is_versioned_value(value):
        latest = max(value, key=lambda v: str(v.get("releaseDate") or ""))
        return collapse_versioned(latest["value"])
    if isinstance(value, dict):
        return {k: collapse_versioned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [collapse_versioned(v) for v in value]
    return value


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if value is None:  # OCDS merging: null removes the field
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_releases(releases: list[Any]) -> dict[str, Any]:
    """A compiled release from a record's releases (dates ascending, later fields win; arrays replaced whole)."""
    full = [r for r in releases if isinstance(r, dict)]
    full.sort(key=lambda r: str(r.get("date") or ""))
    compiled: dict[str, Any] = {}
    for release in full:
        compiled = _merge(compiled, release)
    tags: list[str] = []
    for release in full:
        tags.extend(_tags(release))
    compiled["tag"] = list(dict.fromkeys(tags)) or ["compiled"]
    return compiled


def releases_of(doc: Any, extra_warnings: list[str]) -> Iterator[tuple[dict[str, Any] | None, Any, str]]:
    """``(release, raw, why-not)`` for every release in any OCDS shape; release is None with a reason when the
    entry cannot be read as one."""
    if isinstance(doc, list):
        for entry in doc:
            if isinstance(entry, dict) and ("releases" in entry or "records" in entry) and "ocid" not in entry:
                yield from releases_of(entry, extra_warnings)
            else:
                yield from releases_of_entry(entry)
        return
    if not isinstance(doc, dict):
        yield None, doc, "not a JSON object"
        return
    if "records" in doc:
        records = doc["records"]
        if not isinstance(records, list):
            yield None, doc, "'records' is not an array"
            return
        for record in records:
            yield _record(record)
        return
    if "releases" in doc and ("ocid" not in doc or "compiledRelease" in doc or "versionedRelease" in doc):
        if "ocid" in doc:  # a single record
            yield _record(doc)
            return
        releases = doc["releases"]
        if not isinstance(releases, list):
            yield None, doc, "'releases' is not an array"
            return
        for entry in releases:
            yield from releases_of_entry(entry)
        return
    if "compiledRelease" in doc or "versionedRelease" in doc:
        yield _record(doc)
        return
    yield from releases_of_entry(doc)


def releases_of_entry(entry: Any) -> Iterator[tuple[dict[str, Any] | None, Any, str]]:
    if not isinstance(entry, dict):
        yield None, entry, "release is not a JSON object"
    elif not _names_a_release(entry):
        yield None, entry, "neither an OCDS release (ocid, tag, tender) nor a package"
    else:
        yield entry, entry, ""


def _record(record: Any) -> tuple[dict[str, Any] | None, Any, str]:
    if not isinstance(record, dict):
        return None, record, "record is not a JSON object"
    compiled = record.get("compiledRelease")
    if isinstance(compiled, dict):
        compiled = collapse_versioned(compiled)
        compiled.setdefault("ocid", record.get("ocid"))
        if compiled.get("tag") in (None, [], ["compiled"], "compiled"):
            # compiledRelease carries only ``compiled``; the record's releases say what kinds of release it holds
            kinds = [t for r in _list(record.get("releases")) if isinstance(r, dict) for t in _tags(r)]
            compiled["tag"] = list(dict.fromkeys(kinds)) or ["compiled"]
        return compiled, record, ""
    versioned = record.get("versionedRelease")
    if isinstance(versioned, dict):
        release = collapse_versioned(versioned)
        release.setdefault("ocid", record.get("ocid"))
        release["tag"] = _versioned_tags(versioned) or ["compiled"]
        return release, record, ""
    releases = record.get("releases")
    if isinstance(releases, list) and any(isinstance(r, dict) and ("tender" in r or "tag" in r) for r in releases):
        merged = merge_releases(releases)
        merged.setdefault("ocid", record.get("ocid"))
        return merged, record, ""
    return None, record, "record has neither compiledRelease, versionedRelease nor embedded releases"


def _versioned_tags(versioned: dict[str, Any]) -> list[str]:
    tags: list[str] = []
    for value in versioned.values():
        if _is_versioned_value(value):
            for v in value:
                tag = v.get("releaseTag")
                tags.extend(tag if isinstance(tag, list) else [tag] if isinstance(tag, str) else [])
    return list(dict.fromkeys(t for t in tags if isinstance(t, str)))


def _tags(release: dict[str, Any]) -> list[str]:
    tag = release.get("tag")
    if isinstance(tag, str):
        return [tag]
    if isinstance(tag, list):
        return [t for t in tag if isinstance(t, str)]
    return []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _source_for(ocid: str, ctx: Context) -> str:
    if ctx.source != "ocds":
        return ctx.source
    m = _OCID_PREFIX.match(ocid)
    return m.group(1).lower() if m else "ocds"


def _buyer(release: dict[str, Any], tender: dict[str, Any]) -> dict[str, Any] | None:
    parties = [p for p in _list(release.get("parties")) if isinstance(p, dict)]
    buyer = _dict(release.get("buyer")) or _dict(tender.get("procuringEntity"))
    party = None
    buyer_id = clean_text(buyer.get("id")) or None
    for p in parties:
        roles = _list(p.get("roles"))
        if (buyer_id and clean_text(p.get("id")) == buyer_id) or (not buyer and "buyer" in roles):
            party = p
            break
    source = buyer or _dict(party)
    name = clean_text(source.get("name")) or clean_text(_dict(source.get("identifier")).get("legalName"))
    if not name and party:
        name = clean_text(party.get("name"))
    if not name:
        return None
    address = _dict(_dict(party).get("address")) or _dict(source.get("address"))
    out: dict[str, Any] = {"name": name}
    ident = buyer_id or clean_text(_dict(source.get("identifier")).get("id")) or None
    if ident:
        out["id"] = ident
    found = country(address.get("countryName")) or country(address.get("country"))
    if found:
        out["country"] = found
    return out


def _items(tender: dict[str, Any], ctx: Context, warnings: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Items with their codes (a release can carry hundreds: exact type checks, bound methods and the code cache
    read in place keep this loop cheap)."""
    items: list[dict[str, Any]] = []
    countries: list[str] = []
    raw_items = tender.get("items")
    if type(raw_items) is not list:
        return items, countries
    text = clean_text
    codes = ctx.code_cache
    for raw in raw_items:
        if type(raw) is not dict:
            continue
        get = raw.get
        item: dict[str, Any] = {}
        ident = text(get("id"))
        if ident:
            item["id"] = ident
        desc = text(get("description"))
        if desc:
            item["description"] = desc
        main = get("classification")
        if type(main) is dict and main:
            key = (main.get("scheme"), main.get("id"), main.get("description"))
            try:
                known = codes.get(key)
            except TypeError:  # an unhashable value: ``classification`` reads it without the cache
                known = None
            if known is None:
                c = classification(key[0], key[1], key[2], ctx, warnings)
            else:  # what ``classification`` answers from its cache, read here without the call
                c = known[0]
                if known[1] is not None:
                    warnings.append(known[1])
            if c is not None:
                item["classification"] = c
        extra = get("additionalClassifications")
        if type(extra) is list and extra:
            found_codes = [
                classification(a.get("scheme"), a.get("id"), a.get("description"), ctx, warnings)
                for a in extra
                if type(a) is dict
            ]
            item["additional_classifications"] = dedupe_classifications(c for c in found_codes if c is not None)
        quantity = get("quantity")
        if type(quantity) is int or type(quantity) is float:
            item["quantity"] = float(quantity)
        unit = get("unit")
        if type(unit) is dict:
            unit_name = text(unit.get("name")) or text(unit.get("id"))
            if unit_name:
                item["unit"] = unit_name
        address = get("deliveryAddress")
        if type(address) is dict:
            found = country(address.get("countryName"))
            if found and found not in countries:
                countries.append(found)
        items.append(item)
    return items, countries


def _documents(tender: dict[str, Any]) -> list[dict[str, Any]]:
    docs = []
    for raw in _list(tender.get("documents")):
        if not isinstance(raw, dict):
            continue
        url = clean_text(raw.get("url"))
        if not url:
            continue
        doc: dict[str, Any] = {"url": url}
        title = clean_text(raw.get("title"))
        if title:
            doc["title"] = title
        kind = clean_text(raw.get("documentType"))
        if kind:
            doc["document_type"] = kind
        lang = language_tag(raw.get("language"))
        if lang:
            doc["language"] = lang
        docs.append(doc)
    return docs


def map_release(release: dict[str, Any], ctx: Context, extra_warnings: list[str] | None = None) -> Outcome:
    """One OCDS release (or compiled release) -> a ``TenderNotice`` or a ``Rejection`` (which carries the whole
    release)."""
    return map_fields(read_fields(release), ctx, extra_warnings, release)


def map_fields(release: dict[str, Any], ctx: Context, extra_warnings: list[str] | None, raw: object) -> Outcome:
    """``map_release`` of the fields it reads (``read_fields``, ``delivered``); ``raw`` is the release as
    delivered, a rejection's payload."""
    ocid = clean_text(release.get("ocid"))
    if not ocid:
        return Rejection("no_ocid", "the release has no ocid", raw_text(raw), clean_text(release.get("id")) or None)
    tags = _tags(release)
    tender = _dict(release.get("tender"))
    is_tender = any(t.startswith("tender") for t in tags) or (
        any(t == "compiled" for t in tags) and bool(tender.get("title") or tender.get("items"))
    )
    is_planning = any(t.startswith("planning") for t in tags)
    if not (is_tender or is_planning):
        shown = ", ".join(tags) or "none"
        return Rejection("not_a_notice", f"release {ocid} is not a tender notice (tags: {shown})", raw_text(raw), ocid)
    warnings = list(extra_warnings or ())
    planning = _dict(release.get("planning"))
    title = clean_text(tender.get("title"))
    description = clean_text(tender.get("description"))
    if not title:
        for fallback, label in (
            (description, "tender.description"),
            (clean_text(_dict(planning.get("budget")).get("project")), "planning.budget.project"),
            (clean_text(_dict(planning.get("budget")).get("description")), "planning.budget.description"),
            (clean_text(release.get("title")), "title"),
        ):
            if fallback:
                title = fallback[:300]
                warnings.append(f"no tender.title; title taken from {label}")
                break
    items, delivery = _items(tender, ctx, warnings)
    if not title:
        descs = [i["description"] for i in items if i.get("description")]
        if descs:
            title = descs[0][:300]
            warnings.append("no tender.title; title taken from the first item")
    status = NoticeStatus.ACTIVE
    tender_status = clean_text(tender.get("status")).lower()
    if "tenderCancellation" in tags or tender_status in ("cancelled", "withdrawn"):
        status = NoticeStatus.CANCELLED
    elif "tenderAmendment" in tags or "tenderUpdate" in tags:
        status = NoticeStatus.AMENDED
    fields: dict[str, Any] = {
        "source": _source_for(ocid, ctx),
        "source_id": ocid,
        "status": status,
        "notice_type": NoticeType.CONTRACT_NOTICE if is_tender else NoticeType.PRIOR_INFORMATION,
        "title": title,
        "description": description,
        "language": language_tag(release.get("language")),
        "buyer": _buyer(release, tender),
        "items": items,
        "delivery_countries": delivery,
        "documents": _documents(tender),
    }
    method = clean_text(tender.get("procurementMethod")).lower()
    if method in _METHODS:
        fields["procurement_method"] = method
    elif method:
        warnings.append(f"procurementMethod {tender.get('procurementMethod')!r} is not in the OCDS codelist")
    value = _dict(tender.get("value")) or _dict(_dict(planning.get("budget")).get("amount"))
    if value:
        fields["estimated_value"] = money(value.get("amount"), value.get("currency"), "value", warnings)
    set_instant(fields, "published", release.get("date") or tender.get("datePublished"), warnings, end_of_day=False)
    set_instant(fields, "deadline", _dict(tender.get("tenderPeriod")).get("endDate"), warnings, end_of_day=True)
    uri = clean_text(release.get("uri") or release.get("url") or planning.get("url"))
    if uri.startswith(("http://", "https://")):
        fields["source_url"] = uri
    return finish(fields, warnings, ctx, raw)


def parse(data: bytes, ctx: Context) -> Iterator[Outcome]:
    """Every release of an OCDS document (any shape) as a notice or a rejection; never raises on bad input."""
    data = without_bom(data)
    document = delivered(data)
    if document is not None:
        if is_lone_release(document):
            yield map_fields(document, ctx, None, data)  # a rejection's payload is the release as delivered
            return
        if "releases" in document and "ocid" not in document:  # a release package (a record states its ocid)
            entries = _package_entries(document["releases"])
            if entries:
                yield from _package(entries, ctx)
                return
    lines = json_lines(data)
    if lines is not None:
        for number, line in lines:
            for outcome in parse(line, ctx):
                yield at_line(outcome, number)
        return
    try:
        doc, warnings = decode(data)
    except ValueError as exc:
        yield Rejection("invalid_json", str(exc), data.decode("utf-8", errors="replace"))
        return
    yield from parse_document(doc, ctx, warnings)


def _package_entries(releases: msgspec.Raw) -> list[tuple[Any, bytes]] | None:
    """Each release of a package as the fields the mapper reads and its bytes as published; None when the
    package's ``releases`` is not an array or a release nests near ``MAX_DEPTH`` (the package adds two levels)."""
    try:
        entries = [(_read_entry(raw), bytes(raw)) for raw in _read_entries(releases)]
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None
    if any(container_levels(fields, MAX_DEPTH) >= MAX_DEPTH - 2 for fields, _ in entries):
        return None
    return entries


def _package(entries: list[tuple[Any, bytes]], ctx: Context) -> Iterator[Outcome]:
    """What ``releases_of`` yields for the releases of a package decoded whole, from ``_package_entries``; a
    rejected release carries its bytes as published."""
    for fields, raw in entries:
        if type(fields) is dict and _names_a_release(fields):
            yield map_fields(fields, ctx, None, raw)
        else:
            for _, _, why in releases_of_entry(fields):
                yield Rejection("not_ocds", why, raw_text(raw if type(fields) is dict else fields))


def json_lines(data: bytes) -> list[tuple[int, bytes]] | None:
    """The numbered non-blank lines of a JSON Lines document (a bulk export: one release, record or package per
    line), each then read on its own, so that a broken line is rejected alone; None for anything else. A document
    is taken for JSON Lines when its first non-blank line is an object on its own (``{...}``) and another line
    follows: no single JSON document starts that way."""
    blank = _BLANK.match(data)
    start = blank.end() if blank else 0
    end = data.find(b"\n", start)
    first = data[start:end].rstrip() if end >= 0 else b""
    if not (first.startswith(b"{") and first.endswith(b"}")):
        return None
    lines = [(number, line) for number, line in enumerate(data.splitlines(), start=1) if line.strip()]
    return lines if len(lines) > 1 else None


def parse_document(doc: Any, ctx: Context, warnings: list[str] | None = None) -> Iterator[Outcome]:
    extra = warnings or []
    if (
        type(doc) is dict
        and _names_a_release(doc)
        and "releases" not in doc
        and not any(name in doc for name in _RECORD_FIELDS)
    ):
        # A lone release (what a push or a JSON Lines feed delivers): what ``releases_of`` would yield for it.
        yield map_release(doc, ctx, extra)
        return
    produced = False
    for release, raw, why in releases_of(doc, extra):
        produced = True
        if release is None:
            yield Rejection("not_ocds", why, raw_text(raw))
        else:
            yield map_release(release, ctx, extra)
    if not produced:
        yield Rejection("empty", "the document holds no release or record", raw_text(doc))

"""One entry point over every record format: bytes of a file or an HTTP body -> notices, award records and
rejections."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from services.ingest.domain import csvmap, eforms, jsonl, ocds, ocds_awards, ted, ungm
from services.ingest.domain.model import Context, Record, Rejection, without_bom
from services.ingest.exceptions import SourceConfigError

KINDS = ("ocds", "ted", "eforms", "ungm", "csv", "jsonl")
#: ``notice.source`` of each kind unless configured (CSV sources are ``csv-<mapping name>``). eForms notices are
#: TED's, under the publication numbers TED's search API gives them.
DEFAULT_SOURCE = {"ocds": "ocds", "ted": "ted", "eforms": "ted", "ungm": "ungm", "jsonl": "demo"}


def context_for(kind: str, mapping: csvmap.CsvMapping | None = None, **options: object) -> Context:
    if kind not in KINDS:
        raise SourceConfigError(f"unknown source kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "csv":
        if mapping is None:
            raise SourceConfigError("a csv source needs a mapping file (--mapping)")
        source = f"csv-{mapping.name}"
    else:
        source = DEFAULT_SOURCE[kind]
    return Context(source=source, **options)  # type: ignore[arg-type]


#: The most a gzipped file (``awards.csv.gz``) may unpack to, in bytes: a "gzip bomb" stops there.
MAX_GUNZIPPED_BYTES = 2_000_000_000


def gunzipped(data: bytes, limit: int = MAX_GUNZIPPED_BYTES) -> bytes:
    """``data`` unpacked when it is gzip (its magic number), else as it is. Raises ValueError past ``limit`` bytes
    or for a broken stream."""
    if data[:2] != b"\x1f\x8b":
        return data
    unpack = zlib.decompressobj(wbits=31)
    try:
        out = unpack.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ValueError(f"broken gzip stream: {exc}") from exc
    if len(out) > limit or unpack.unconsumed_tail:
        raise ValueError(f"unpacks to more than {limit:,} bytes")
    return out


def parse_bytes(
    kind: str, data: bytes, ctx: Context, mapping: csvmap.CsvMapping | None = None, name: str = ""
) -> Iterator[Record]:
    """Every record of one document. Never raises on bad input: bad records come back as ``Rejection``."""
    if kind == "eforms":  # TED's daily packages are tar.gz: read member by member
        yield from eforms.parse(data, ctx, name)
        return
    try:
        data = without_bom(gunzipped(data))
    except ValueError as exc:
        record = "award" if mapping is not None and mapping.records == "awards" else "notice"
        yield Rejection("invalid_gzip", str(exc), "", record=record)
        return
    if kind == "ocds":
        yield from ocds_awards.with_awards(ocds.parse(data, ctx), data, ctx)
    elif kind == "ted":
        yield from ted.parse(data, ctx)
    elif kind == "ungm":
        yield from ungm.parse(data, ctx, name)
    elif kind == "csv":
        if mapping is None:
            raise SourceConfigError("a csv source needs a mapping")
        yield from csvmap.parse(data, mapping, ctx)
    elif kind == "jsonl":
        yield from jsonl.parse(data, ctx)
    else:
        yield Rejection("unknown_kind", f"unknown source kind {kind!r}", data.decode("utf-8", errors="replace"))

"""TED Search API v3 (``POST https://api.ted.europa.eu/v3/notices/search``) response JSON.

Shapes seen in real responses (../shared/data/README.md): per-language dicts for titles and buyer names whose
key can be wrong about the language; deadlines as zoned dates, one per lot; CPV lists repeated; values as
strings; the same notice twice in one response; older responses with only ``PD`` / ``ND``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from contracts import NoticeStatus, NoticeType
from services.ingest.domain.model import Context, Outcome, Rejection
from services.ingest.domain.normalize import (
    ISO639_3,
    classification,
    clean_text,
    country,
    dedupe_classifications,
    detect_language,
    finish,
    language_probabilities,
    money,
    parse_instant,
    raw_text,
    set_instant,
)
from services.ingest.domain.ocds import decode


def _first_text(value: Any) -> tuple[str, str | None]:
    """``(text, language key)`` from a TED multilingual field: English first, else the first language."""
    if isinstance(value, str):
        return clean_text(value), None
    if isinstance(value, list):
        for v in value:
            text, key = _first_text(v)
            if text:
                return text, key
        return "", None
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (str(k).lower() != "eng", str(k)))
        for key in keys:
            text, _ = _first_text(value[key])
            if text:
                return text, str(key).lower()
    return "", None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _notice_type(kind: str) -> NoticeType | None:
    """TED notice types (eForms ``notice-type``): ``pin-*`` prior information, ``cn-*`` contract notices,
    ``can-*`` / ``veat`` / ``corr`` are not calls for tenders."""
    if kind.startswith("pin"):
        return NoticeType.PRIOR_INFORMATION
    if kind.startswith(("cn", "qu", "subco")) or kind in ("", "brin-ecs", "brin-eeig"):
        return NoticeType.CONTRACT_NOTICE
    return None


def map_notice(raw: dict[str, Any], ctx: Context) -> Outcome:
    number = clean_text(raw.get("publication-number") or raw.get("ND"))
    kind = clean_text(raw.get("notice-type")).lower()
    notice_type = _notice_type(kind)
    if notice_type is None:
        return Rejection("not_a_notice", f"TED notice {number} is of type {kind!r}, not a call", raw_text(raw), number)
    warnings: list[str] = []
    title, key = _first_text(raw.get("title-proc") or raw.get("notice-title") or raw.get("TI"))
    description, _ = _first_text(raw.get("description-proc") or raw.get("description-lot"))
    language = ISO639_3.get(key or "", None)
    if title and ctx.detect_language and (language is None or len(title) >= 30):
        # The key can be wrong about the language: believe the text only when it is clear about it (and the title
        # long enough to tell; a shorter one keeps its key, so langdetect, milliseconds a call, is not asked).
        probabilities = language_probabilities(f"{title} {description}")
        best = max(probabilities, key=lambda k: probabilities[k]) if probabilities else None
        if best and language and best != language and probabilities[best] >= 0.95 and len(title) >= 30:
            warnings.append(f"title is keyed as {key!r} but reads as {best!r}")
            language = best
        # Without a key, only a text clear enough for ``detect_language`` (its floor) says which language it is.
        language = language or detect_language(f"{title} {description}")
    names: list[str] = []
    for value in _list(raw.get("buyer-name")) if not isinstance(raw.get("buyer-name"), dict) else [raw["buyer-name"]]:
        if isinstance(value, dict):
            for v in value.values():
                names.extend(clean_text(n) for n in _list(v))
        else:
            names.append(clean_text(value))
    names = [n for n in dict.fromkeys(names) if n]
    if len(names) > 1:
        warnings.append("several buyers: " + "; ".join(names))
    countries = [c for c in (country(v) for v in _list(raw.get("buyer-country"))) if c]
    buyer: dict[str, Any] | None = {"name": names[0]} if names else None
    if buyer is not None and countries:
        buyer["country"] = countries[0]
    codes = [clean_text(c) for c in _list(raw.get("main-classification-proc")) + _list(raw.get("classification-cpv"))]
    classes = dedupe_classifications(
        c for c in (classification("CPV", code, None, ctx, warnings) for code in codes if code) if c is not None
    )
    fields: dict[str, Any] = {
        "source_id": number,
        "status": NoticeStatus.ACTIVE,
        "notice_type": notice_type,
        "title": title,
        "description": description,
        "language": language,
        "buyer": buyer,
        "classifications": classes,
        "delivery_countries": list(
            dict.fromkeys(c for c in (country(v) for v in _list(raw.get("place-of-performance"))) if c)
        ),
    }
    fields["estimated_value"] = money(
        raw.get("estimated-value-proc"), raw.get("estimated-value-cur-proc"), "estimated-value-proc", []
    )
    set_instant(fields, "published", raw.get("publication-date") or raw.get("PD"), warnings, end_of_day=False)
    deadlines = []
    for value in _list(raw.get("deadline-receipt-tender-date-lot")):
        try:
            deadlines.append((parse_instant(value, end_of_day=True), value))
        except ValueError as exc:
            warnings.append(f"deadline ignored: {exc}")
    if deadlines:
        (instant, offset), _ = min(deadlines, key=lambda d: d[0][0])
        fields["deadline_at"], fields["deadline_utc_offset"] = instant, offset
        if len({d[0][0] for d in deadlines}) > 1:
            warnings.append("lots have different deadlines; the earliest is kept")
    links: dict[str, Any] = raw["links"] if isinstance(raw.get("links"), dict) else {}
    html_links: dict[str, Any] = links["html"] if isinstance(links.get("html"), dict) else {}
    url = html_links.get("ENG") or next(iter(html_links.values()), None)
    if isinstance(url, str) and url.startswith("http"):
        fields["source_url"] = url
    return finish(fields, warnings, ctx, raw)


def parse(data: bytes, ctx: Context) -> Iterator[Outcome]:
    try:
        doc, _ = decode(data)
    except ValueError as exc:
        yield Rejection("invalid_json", str(exc), data.decode("utf-8", errors="replace"))
        return
    yield from parse_document(doc, ctx)


def parse_document(doc: Any, ctx: Context) -> Iterator[Outcome]:
    notices = doc.get("notices") if isinstance(doc, dict) else doc if isinstance(doc, list) else None
    if not isinstance(notices, list):
        yield Rejection("not_ted", "not a TED search response (no 'notices' array)", raw_text(doc))
        return
    for raw in notices:
        if isinstance(raw, dict):
            yield map_notice(raw, ctx)
        else:
            yield Rejection("not_ted", "a TED notice is not a JSON object", raw_text(raw))

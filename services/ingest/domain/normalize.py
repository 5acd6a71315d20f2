"""Normalization shared by every mapper: text, instants, codes, currencies, countries, languages, content hash.

Pure functions; a finding that does not make a record unusable becomes a warning on the notice instead of an
error, so nothing a buyer published is silently altered.
"""

from __future__ import annotations

import functools
import hashlib
import html
import operator
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from pydantic import ValidationError

from contracts import Classification, CodeScheme, NoticeStatus, TenderNotice
from contracts.codes import read_code
from services.ingest.domain.model import Context, Outcome, Rejection

# --------------------------------------------------------------------------------------------------- text

_TAG = re.compile(r"<[^>]*>")
_BLOCK_TAG = re.compile(r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/tr)\b[^>]*>")


def clean_text(value: object) -> str:
    """Text with HTML tags removed, entities decoded and whitespace collapsed; non-strings become ``""``."""
    if value is None:
        return ""
    if type(value) is int:  # an identifier written as a number: its digits hold no markup and no white space
        return str(value)
    if type(value) is str:
        # The common case, already clean, is told by a few substring scans (C speed) instead of a regex. Printable
        # text holds no newline, tab or no-break space, and its only white space is " ".
        if not value:
            return value
        if value.isprintable():
            if "<" not in value and "&" not in value and "  " not in value and value[0] != " " and value[-1] != " ":
                return value
        elif (
            "<" not in value
            and "&" not in value
            and "  " not in value
            and "\n" not in value
            and "\t" not in value
            and "\r" not in value
            and "\xa0" not in value
            and not value[0].isspace()
            and not value[-1].isspace()
        ):
            return value
        text = value
    else:
        text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""
    if "<" in text:
        text = _TAG.sub(" ", _BLOCK_TAG.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:  # entities that encoded markup (``&lt;p&gt;``)
            text = _TAG.sub(" ", text)
    return " ".join(text.split())


# ----------------------------------------------------------------------------------------------- instants

_INSTANT = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2}|[+-]\d{2})?\s*$"
)


def _offset(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 14 or minutes > 59:
        raise ValueError(f"utc offset out of range: {text}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


@functools.lru_cache(maxsize=512)
def _zone(text: str | None) -> tuple[timezone | None, str | None]:
    """``(tzinfo, "+04:30")`` of a zone as written; UTC itself for any zero offset. Feeds repeat a few zones."""
    tz = _offset(text)
    shown = format_offset(tz)
    return (UTC if shown == "+00:00" else tz), shown


def format_offset(tz: timezone | None) -> str | None:
    if tz is None:
        return None
    delta = tz.utcoffset(None)
    total = int(delta.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{sign}{total // 60:02d}:{total % 60:02d}"


def parse_instant(value: object, *, end_of_day: bool = False) -> tuple[datetime, str | None]:
    """An ISO 8601 date or date-time as ``(instant in UTC, original offset like "+04:30" or None)``.

    A date without a time (TED's ``2026-08-18Z``) means the whole day: ``end_of_day`` picks 23:59:59 (deadlines)
    instead of 00:00. A value without a zone is read as UTC and its offset reported as ``None``, so the caller
    can warn. Raises ValueError for anything else.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC), None
        return value.astimezone(UTC), format_offset(timezone(value.utcoffset() or timedelta(0)))
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    fast = _common_instant(value)
    if fast is not None:
        return fast
    m = _INSTANT.match(value)
    if m is None:
        raise ValueError(f"not an ISO 8601 date: {value!r}")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    tz, shown = _zone(zone)
    if hour is None:
        h, mi, s, us = (23, 59, 59, 0) if end_of_day else (0, 0, 0, 0)
    else:
        h, mi, s = int(hour), int(minute), int(second) if second else 0
        us = int(fraction[:6].ljust(6, "0")) if fraction else 0
        if h == 24 and mi == 0 and s == 0:  # ISO 8601 allows 24:00 for the end of a day
            h, mi, s, us = 23, 59, 59, 999999
    if tz is None or tz is UTC:
        return datetime(int(year), int(month), int(day), h, mi, s, us, tzinfo=UTC), shown
    return datetime(int(year), int(month), int(day), h, mi, s, us, tzinfo=tz).astimezone(UTC), shown


def _common_instant(value: str) -> tuple[datetime, str | None] | None:
    """``parse_instant`` of the shapes nearly every feed writes (``2026-03-01T10:00:00[.123]Z`` or ``+04:30``) by
    ``datetime.fromisoformat``, once the separators, digits and zone are checked to be the ones the general regex
    reads; None for any other shape or any doubt (an invalid field, ``24:00``), which the general reader handles
    (and words the same errors)."""
    n = len(value)
    if (
        n < 20
        or value[10] != "T"
        or value[4] != "-"
        or value[7] != "-"
        or value[13] != ":"
        or value[16] != ":"
        or not value.isascii()
    ):
        return None
    if value[-1] == "Z":
        end, zone = n - 1, "Z"
    elif n >= 25 and value[-3] == ":" and value[-6] in "+-" and value[-5:-3].isdigit() and value[-2:].isdigit():
        end, zone = n - 6, value[-6:]
    else:
        return None
    if end != 19 and not (value[19] == "." and (end == 23 or end == 26) and value[20:end].isdigit()):
        return None
    if value[11:13] == "24":
        return None
    try:
        tz, shown = _zone(zone)  # raises for an offset past 14 hours, as the general reader does
        if zone == "Z":
            return datetime.fromisoformat(value), shown
        # The wall time read as UTC, less the offset: what ``astimezone(UTC)`` computes, without its slow path.
        instant = datetime.fromisoformat(f"{value[:end]}Z")
    except ValueError:
        return None
    return (instant if tz is UTC else instant - _utc_offset(zone)), shown


@functools.lru_cache(maxsize=512)
def _utc_offset(zone: str) -> timedelta:
    tz = _zone(zone)[0]
    return tz.utcoffset(None) if tz is not None else timedelta(0)


def set_instant(out: dict[str, Any], field: str, value: object, warnings: list[str], *, end_of_day: bool) -> None:
    """Put ``<field>_at`` and ``<field>_utc_offset`` into ``out`` from a raw value; bad values become warnings."""
    if value is None or value == "":
        return
    try:
        instant, offset = parse_instant(value, end_of_day=end_of_day)
    except (ValueError, OverflowError) as exc:
        warnings.append(f"{field} ignored: {exc}")
        return
    if offset is None:
        warnings.append(f"{field} has no time zone; read as UTC")
    out[f"{field}_at"] = instant
    out[f"{field}_utc_offset"] = offset


# -------------------------------------------------------------------------------------------------- codes

#: CPV check digit rule (Regulation (EC) 213/2008): sum(weight x digit) mod 10 with weights 3, 7, 1 repeating.
#: Over the official CPV 2008 list (../shared/data/cpv/cpv2008-en.csv) it agrees with 8,922 of 9,454 codes
#: (94.4%), and no other weights do better. The other 532 are not a different rule: 352 of them form 11 subtrees
#: renumbered in 2008 that kept their CPV 2003 check digits (42100000-0 is CPV 2003's 29100000-0), 180 are single
#: codes; the Publications Office acknowledges these errors of the 2008 revision (OP-TED/ePO discussion 589).
#: Without the official list (``TB_INGEST_CPV_LIST_PATH``) those 532 codes are flagged with a warning, never
#: rejected; with it, the list wins for the codes it holds.
CPV_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7)


def cpv_check_digit(code: str) -> str:
    """The computed check digit of an 8-digit CPV code."""
    return str(sum(int(d) * w for d, w in zip(code, CPV_WEIGHTS, strict=True)) % 10)


def expected_cpv_check_digit(code: str, official: Mapping[str, str]) -> str:
    return official.get(code) or cpv_check_digit(code)


_UNSPSC_SCHEMES = {"UNSPSC", "UNSPSC-CO", "UNSPSC_CO", "UNSPSC CODE", "CCE-UNSPSC", "UNSPSC-UNGM"}
_CPV_SCHEMES = {"CPV", "CPV2008", "CPV 2008", "CPV-2008", "EU-CPV", "CPVS"}


def scheme_of(name: str) -> CodeScheme:
    key = name.strip().upper()
    if key in _UNSPSC_SCHEMES or key.startswith("UNSPSC"):
        return CodeScheme.UNSPSC
    if key in _CPV_SCHEMES:
        return CodeScheme.CPV
    return CodeScheme.OTHER


def classification(
    scheme_name: object, code: object, description: object, ctx: Context, warnings: list[str]
) -> Classification | None:
    """A normalized ``Classification``; a code that cannot be read is kept as OTHER with a warning, never lost."""
    try:
        key = (scheme_name, code, description)
        cached = ctx.code_cache.get(key)
    except TypeError:  # an unhashable value (a list where a string belongs)
        return _classification(scheme_name, code, description, ctx, warnings)
    if cached is None:
        found: list[str] = []
        cached = (_classification(scheme_name, code, description, ctx, found), found[0] if found else None)
        if len(ctx.code_cache) < 100_000:
            ctx.code_cache[key] = cached
    if cached[1] is not None:
        warnings.append(cached[1])
    result: Classification | None = cached[0]
    return result


def _classification(
    scheme_name: object, code: object, description: object, ctx: Context, warnings: list[str]
) -> Classification | None:
    raw_code = clean_text(code)
    if not raw_code:
        return None
    raw_scheme = clean_text(scheme_name) or "UNKNOWN"
    desc = clean_text(description) or None
    scheme = scheme_of(raw_scheme)
    if scheme == CodeScheme.UNSPSC:
        read = read_code(scheme, raw_code)
        if read is not None:
            return Classification(scheme=scheme, code=read[0], description=desc)
        warnings.append(f"unspsc code {raw_code!r} is not 8 digits; kept as {raw_scheme}")
        return Classification(scheme=CodeScheme.OTHER, code=raw_code, description=desc, scheme_name=raw_scheme)
    if scheme == CodeScheme.CPV:
        read = read_code(scheme, raw_code)
        if read is None:
            warnings.append(f"cpv code {raw_code!r} is not 8 digits with an optional check digit; kept as {raw_scheme}")
            return Classification(scheme=CodeScheme.OTHER, code=raw_code, description=desc, scheme_name=raw_scheme)
        digits, check = read
        if check is not None:
            expected = expected_cpv_check_digit(digits, ctx.cpv_check_digits)
            if check != expected:
                warnings.append(f"cpv check digit wrong for {digits}-{check} (expected {expected})")
        return Classification(scheme=scheme, code=digits, description=desc, check_digit=check)
    return Classification(scheme=CodeScheme.OTHER, code=raw_code, description=desc, scheme_name=raw_scheme)


def dedupe_classifications(codes: Iterable[Classification]) -> list[Classification]:
    seen: dict[tuple[str, str, str | None], Classification] = {}
    for c in codes:
        seen.setdefault((c.scheme, c.code, c.scheme_name), c)
    return list(seen.values())


# -------------------------------------------------------------------------------------------- currencies

#: ISO 4217 active codes (https://www.iso.org/iso-4217-currency-codes.html), list one of 2024.
CURRENCIES = frozenset(
    " ".join(
        (
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD",
            "CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP",
            "GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW",
            "KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN",
            "NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL",
            "SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES",
            "VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL",
        )
    ).split()
)


def money(amount: object, currency: object, field: str, warnings: list[str]) -> dict[str, Any] | None:
    """``{"amount", "currency"}`` or None; an unknown currency or unreadable amount is a warning."""
    if amount is None or amount == "":
        return None
    try:
        value = float(str(amount).replace(",", "").strip()) if isinstance(amount, str) else float(amount)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        warnings.append(f"{field} amount {amount!r} is not a number; ignored")
        return None
    if value != value or value < 0 or value in (float("inf"), float("-inf")):
        warnings.append(f"{field} amount {amount!r} is not a non-negative number; ignored")
        return None
    code = clean_text(currency).upper()
    if not code:
        warnings.append(f"{field} has no currency; ignored")
        return None
    if code not in CURRENCIES:
        warnings.append(f"{field} currency {code!r} is not an ISO 4217 code; ignored")
        return None
    return {"amount": value, "currency": code}


# --------------------------------------------------------------------------------------------- countries

#: ISO 3166-1 alpha-3 -> alpha-2 for the countries TED and UNGM publish most (EU/EEA, candidates, UN hubs).
_ALPHA3 = {
    "AUT": "AT", "BEL": "BE", "BGR": "BG", "HRV": "HR", "CYP": "CY", "CZE": "CZ", "DNK": "DK", "EST": "EE",
    "FIN": "FI", "FRA": "FR", "DEU": "DE", "GRC": "GR", "HUN": "HU", "IRL": "IE", "ITA": "IT", "LVA": "LV",
    "LTU": "LT", "LUX": "LU", "MLT": "MT", "NLD": "NL", "POL": "PL", "PRT": "PT", "ROU": "RO", "SVK": "SK",
    "SVN": "SI", "ESP": "ES", "SWE": "SE", "NOR": "NO", "ISL": "IS", "LIE": "LI", "CHE": "CH", "GBR": "GB",
    "ALB": "AL", "MKD": "MK", "MNE": "ME", "SRB": "RS", "BIH": "BA", "TUR": "TR", "UKR": "UA", "MDA": "MD",
    "GEO": "GE", "ARM": "AM", "USA": "US", "CAN": "CA", "AFG": "AF", "CHN": "CN", "COL": "CO", "PRY": "PY",
    "UGA": "UG", "TWN": "TW", "KEN": "KE", "ETH": "ET", "IND": "IN", "PAK": "PK", "BGD": "BD", "NGA": "NG",
}  # fmt: skip
#: Country names as the sample portals write them (English and local) -> alpha-2.
_NAMES = {
    "afghanistan": "AF", "armenia": "AM", "colombia": "CO", "moldova": "MD", "republic of moldova": "MD",
    "paraguay": "PY", "ukraine": "UA", "украина": "UA", "україна": "UA", "uganda": "UG", "taiwan": "TW",
    "united kingdom": "GB", "china": "CN", "kenya": "KE", "ethiopia": "ET", "india": "IN", "pakistan": "PK",
    "bangladesh": "BD", "nigeria": "NG", "germany": "DE", "france": "FR", "norway": "NO", "poland": "PL",
    "greece": "GR", "czechia": "CZ", "czech republic": "CZ", "united states": "US", "somalia": "SO",
    "sudan": "SD", "south sudan": "SS", "yemen": "YE", "syria": "SY", "iraq": "IQ", "lebanon": "LB",
    "jordan": "JO", "myanmar": "MM", "haiti": "HT", "denmark": "DK", "switzerland": "CH", "italy": "IT",
    # Supplier countries of award files (AusTender writes them in capitals: compared in lower case).
    "australia": "AU", "new zealand": "NZ", "singapore": "SG", "malaysia": "MY", "canada": "CA", "japan": "JP",
    "ireland": "IE", "netherlands": "NL", "sweden": "SE", "belgium": "BE", "spain": "ES", "israel": "IL",
    "south africa": "ZA", "hong kong": "HK", "korea, republic of": "KR", "south korea": "KR", "austria": "AT",
    "finland": "FI", "portugal": "PT", "thailand": "TH", "indonesia": "ID", "philippines": "PH", "vietnam": "VN",
    "viet nam": "VN", "papua new guinea": "PG", "fiji": "FJ", "united arab emirates": "AE", "brazil": "BR",
    "mexico": "MX", "luxembourg": "LU", "united states of america": "US", "usa": "US",
}  # fmt: skip


def country(value: object) -> str | None:
    """ISO 3166-1 alpha-2 from an alpha-2, alpha-3 or a known name; None when it cannot be told."""
    return _country(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=4096)
def _country(value: str) -> str | None:
    text = clean_text(value)
    if not text:
        return None
    upper = text.upper()
    if len(upper) == 2 and upper.isalpha() and upper.isascii():
        return upper
    if len(upper) == 3 and upper in _ALPHA3:
        return _ALPHA3[upper]
    return _NAMES.get(text.lower())


# --------------------------------------------------------------------------------------------- languages

_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
#: ISO 639-2/B (TED's keys) -> ISO 639-1.
ISO639_3 = {
    "bul": "bg", "ces": "cs", "cze": "cs", "dan": "da", "deu": "de", "ger": "de", "ell": "el", "gre": "el",
    "eng": "en", "spa": "es", "est": "et", "fin": "fi", "fra": "fr", "fre": "fr", "gle": "ga", "hrv": "hr",
    "hun": "hu", "ita": "it", "lav": "lv", "lit": "lt", "mlt": "mt", "nld": "nl", "dut": "nl", "pol": "pl",
    "por": "pt", "ron": "ro", "rum": "ro", "slk": "sk", "slo": "sk", "slv": "sl", "swe": "sv", "nor": "no",
    "isl": "is",
}  # fmt: skip


def language_tag(value: object) -> str | None:
    """A BCP 47 tag (``en``, ``en-GB``, ``zh-Hans``) from what a source says, or None if it is not one."""
    return _language_tag(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=1024)
def _language_tag(value: str) -> str | None:
    text = clean_text(value).replace("_", "-")
    if not text:
        return None
    primary, _, rest = text.partition("-")
    primary = primary.lower()
    primary = ISO639_3.get(primary, primary)
    tag = f"{primary}-{rest}" if rest else primary
    return tag if _LANG.match(tag) else None


_CJK = re.compile(r"[\u4e00-\u9fff]")


def language_probabilities(text: str) -> dict[str, float]:
    """Candidate languages of ``text`` with their probabilities (langdetect with a fixed seed, so the same text
    always gives the same answer); Chinese is reported as ``zh`` whatever the script."""
    if len(text) < 8:
        return {}
    if len(_CJK.findall(text)) * 3 > len(text):
        return {"zh": 1.0}
    if len(text) > _CACHED_TEXT_CHARS:
        return _langdetect(text)
    return dict(_cached_langdetect(text))


#: A poll reads the same notices again and again (only their hash tells they did not change): their texts are
#: remembered, as langdetect takes milliseconds a text. Long texts are not kept (memory).
_CACHED_TEXT_CHARS = 2000


@functools.lru_cache(maxsize=4096)
def _cached_langdetect(text: str) -> tuple[tuple[str, float], ...]:
    return tuple(_langdetect(text).items())


def _langdetect(text: str) -> dict[str, float]:
    from langdetect import DetectorFactory, LangDetectException, detect_langs

    DetectorFactory.seed = 0
    try:
        found = detect_langs(text)
    except LangDetectException:
        return {}
    out: dict[str, float] = {}
    for candidate in found:
        lang = "zh" if str(candidate.lang).startswith("zh") else str(candidate.lang)
        out[lang] = out.get(lang, 0.0) + float(candidate.prob)
    return out


#: The floor under a detected language, calibrated by ``python -m bench.langdetect_floor`` on notices whose
#: language is known (OCDS samples that state it, TED titles, eForms titles, AusTender descriptions). langdetect
#: is confidently wrong on short text ("Solar panels" -> ``ca`` at p 0.86, "Labour Hire" -> ``fr`` at p 0.99999):
#: below 25 letters a third of the AusTender descriptions came back as another language, whatever the probability.
#: A letter of Chinese, Japanese or Korean script counts for ``_DENSE_SCRIPT_WEIGHT`` (about a short word).
MIN_DETECT_LETTERS = 25
#: And the top candidate at least this probable, which also puts it at least 0.8 ahead of the second (the
#: probabilities sum to at most 1).
MIN_DETECT_PROBABILITY = 0.9
_DENSE_SCRIPT_WEIGHT = 3
_DENSE_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
#: The script each language langdetect knows is written in (Latin for the others). langdetect has no profile for
#: some scripts (Armenian, Georgian...) and answers them with certainty all the same (Armenian -> ``et``, p 1.0):
#: an answer whose script is not the text's is no answer.
_SCRIPTS = {
    "ar": "arabic", "fa": "arabic", "ur": "arabic", "bg": "cyrillic", "mk": "cyrillic", "ru": "cyrillic",
    "uk": "cyrillic", "el": "greek", "he": "hebrew", "hi": "devanagari", "mr": "devanagari", "ne": "devanagari",
    "bn": "bengali", "pa": "gurmukhi", "gu": "gujarati", "ta": "tamil", "te": "telugu", "kn": "kannada",
    "ml": "malayalam", "th": "thai", "ko": "hangul", "ja": "japanese", "zh": "han",
}  # fmt: skip
_SCRIPT_LETTERS = {
    name: re.compile(f"[{ranges}]")
    for name, ranges in {
        "latin": "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff",
        "arabic": "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff",
        "cyrillic": "\u0400-\u052f",
        "greek": "\u0370-\u03ff\u1f00-\u1fff",
        "hebrew": "\u0590-\u05ff",
        "devanagari": "\u0900-\u097f",
        "bengali": "\u0980-\u09ff",
        "gurmukhi": "\u0a00-\u0a7f",
        "gujarati": "\u0a80-\u0aff",
        "tamil": "\u0b80-\u0bff",
        "telugu": "\u0c00-\u0c7f",
        "kannada": "\u0c80-\u0cff",
        "malayalam": "\u0d00-\u0d7f",
        "thai": "\u0e00-\u0e7f",
        "hangul": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
        "japanese": "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff",
        "han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
    }.items()
}


def detect_language(text: str) -> str | None:
    """The language of ``text`` when it can be told with confidence, else None (an honest "not stated").

    Confidence: at least ``MIN_DETECT_LETTERS`` letters, a top candidate of probability ``MIN_DETECT_PROBABILITY``
    or more, and mostly letters of that language's script. Text in capitals is read in lower case (langdetect's
    profiles are lower case: "ADQUISICIÓN DE EQUIPOS E INSUMOS INFORMATICOS" read as it is comes back ``de``)."""
    letters = sum(c.isalpha() for c in text)
    weighted = letters + (_DENSE_SCRIPT_WEIGHT - 1) * len(_DENSE_SCRIPT.findall(text))
    if weighted < MIN_DETECT_LETTERS:
        return None
    if sum(c.isupper() for c in text) * 2 > letters:
        text = text.lower()
    probabilities = language_probabilities(text)
    if not probabilities:
        return None
    best = max(probabilities, key=lambda k: probabilities[k])
    if probabilities[best] < MIN_DETECT_PROBABILITY or not _LANG.match(best):
        return None
    script = _SCRIPT_LETTERS[_SCRIPTS.get(best, "latin")]
    return best if len(script.findall(text)) * 2 >= letters else None


# ------------------------------------------------------------------------------------------ hash, finish

#: Fields that describe a version rather than the notice's content.
_NOT_CONTENT = {"version", "status", "content_hash", "changes", "warnings", "received_at", "schema_version"}
#: The others, in their declared order (the order of a model's ``__dict__``).
_CONTENT = tuple(name for name in TenderNotice.model_fields if name not in _NOT_CONTENT)


def content_hash(notice: TenderNotice) -> str:
    """SHA-256 over the normalized content (its JSON), plus whether the notice is cancelled."""
    # Fields in their declared order (models are walked through their __dict__), so the JSON is canonical for a
    # given contract version; orjson does it several times faster than a full model dump.
    fields = notice.__dict__
    content = {k: fields[k] for k in _CONTENT}
    if not content["delivery_regions"]:
        # Added to the contract later: notices without regions keep the hash they were published with.
        del content["delivery_regions"]
    content["cancelled"] = notice.status == NoticeStatus.CANCELLED
    return hashlib.sha256(orjson.dumps(content, default=_model_fields)).hexdigest()


#: A nested model as its fields (a C callable: orjson calls it for every model in the notice). Only models reach
#: it: every other type a validated notice holds (str, enums, numbers, datetimes, lists) orjson writes itself.
_model_fields = operator.attrgetter("__dict__")


def raw_text(raw: object) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    try:
        return orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(raw)


def problems(exc: ValidationError) -> str:
    """A rejection's reason from a validation error: its first five findings, ``location: message`` each."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])


def finish(fields: dict[str, Any], warnings: list[str], ctx: Context, raw: object) -> Outcome:
    """Validate mapped fields into a ``TenderNotice`` (with language and content hash), or reject with reasons."""
    source_id = clean_text(fields.get("source_id"))
    source = fields.get("source") or ctx.source
    if not source_id:
        return Rejection("no_source_id", "the record has no identifier", raw_text(raw))
    if not fields.get("title"):
        return Rejection("no_title", f"record {source_id} has no title", raw_text(raw), source_id)
    buyer = fields.get("buyer")
    if not buyer or not buyer.get("name"):
        return Rejection("no_buyer", f"record {source_id} has no buyer name", raw_text(raw), source_id)
    fields["source"] = source
    fields["source_id"] = source_id
    fields["notice_id"] = f"{source}:{source_id}"
    if not fields.get("language") and ctx.detect_language:
        detected = detect_language(f"{fields['title']} {fields.get('description', '')}")
        if detected:
            fields["language"] = detected
    if warnings:
        fields["warnings"] = list(dict.fromkeys(warnings))
    try:
        # ``TenderNotice.model_validate`` without its Python wrapper: the same validator with the same defaults.
        notice: TenderNotice = TenderNotice.__pydantic_validator__.validate_python(fields)
    except ValidationError as exc:
        return Rejection("invalid_notice", f"record {source_id}: {problems(exc)}", raw_text(raw), source_id)
    # The notice is not shared yet: set the hash in place rather than copying the frozen model (a third of the
    # cost of building it).
    notice.__dict__["content_hash"] = content_hash(notice)
    return notice

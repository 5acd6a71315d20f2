"""A supplier's self-registration form read into a profile (pure): every field checked, each fault named by a code
that the page words in its own language; the mailbox an address reaches, and the supplier id it gets.

A public form is a door for strangers (issue "hardening"): the id of a self-registered supplier is derived from
its *mailbox* (``mailbox_key``: case, plus-tags and the dots that Gmail ignores do not make another mailbox), keyed
with the form secret, so that registering the same mailbox again, in any spelling, finds the same profile instead
of creating another one and sending another confirmation; and nobody without the secret can tell from a supplier id
which address registered it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from contracts import AlertFrequency, AlertPreferences, Classification, CodeScheme, SupplierProfile
from contracts.codes import read_code
from contracts.common import normalize_text
from services.matcher.domain.resolve import normalise_identifier

#: The languages of the page and of alerts.
LANGUAGES = ("en", "zh-Hans")
#: Longest company name and description the form takes, in characters (a profile stays far below the size limit).
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 4000
#: Codes one registration may list.
MAX_CODES = 30
#: Providers whose mailboxes ignore dots in the local part (``j.doe`` is ``jdoe``), with their other domain names.
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CODE_SPLIT = re.compile(r"[,;，；、\n]+")
_CPV_HINT = re.compile(r"^\s*cpv\s*:?\s*", re.IGNORECASE)


# --- official identifiers ------------------------------------------------------------------------------------------

#: Characters of a Chinese unified social credit code (GB 32100-2015: digits and the capitals but I, O, Z, S, V),
#: in the order of their values, and the weights of its first 17 characters (3^i mod 31).
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: An ABN's weights (Australian Business Register, "Format of the ABN": subtract 1 from the first digit, weigh,
#: the sum divisible by 89).
_ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
_COMPANIES_HOUSE = re.compile(r"^(?:\d{8}|[A-Z]{2}\d{6})$")


def _luhn(digits: str) -> bool:
    """ISO/IEC 7812-1 (Luhn) check, as INSEE's SIREN and SIRET use it."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _abn_valid(value: str) -> bool:
    if not (len(value) == 11 and value.isdigit()):
        return False
    digits = [int(d) for d in value]
    digits[0] -= 1
    return sum(d * w for d, w in zip(digits, _ABN_WEIGHTS, strict=True)) % 89 == 0


def _uscc_valid(value: str) -> bool:
    if len(value) != 18 or any(c not in _USCC_CHARS for c in value):
        return False
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(value[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31] == value[17]


#: The schemes the form offers (``SupplierProfile.identifiers``' spelling) -> whether a value is one: the length
#: and, where the scheme has one, the check digit. A SIRET (14 digits, one establishment) is read as its firm's SIREN.
IDENTIFIER_SCHEMES: dict[str, Callable[[str], bool]] = {
    "AU-ABN": _abn_valid,
    "FR-SIREN": lambda v: len(v) in (9, 14) and v.isdigit() and _luhn(v) and _luhn(v[:9]),
    "CN-USCC": _uscc_valid,
    "GB-COH": lambda v: bool(_COMPANIES_HOUSE.match(v)),
}


def read_identifier(scheme: str, value: str) -> str | None:
    """An identifier typed on the form (spaces, dots and dashes as people write them: ``51 824 753 556``) -> its
    ``OrgId`` spelling (``AU-ABN:51824753556``), or None when it is not one of ``scheme``'s (wrong length or check
    digit). ``KeyError`` for a scheme the form does not offer."""
    check = IDENTIFIER_SCHEMES[scheme]
    try:
        identifier = normalise_identifier(scheme, value)
    except ValueError:
        return None
    cleaned = re.sub(r"[^0-9A-Z]", "", value.upper())
    return str(identifier) if check(cleaned) else None


def mailbox_key(address: str) -> str:
    """The mailbox an address reaches: lower case, without a ``+tag``, without dots for providers that ignore them
    (``J.Doe+news@GoogleMail.com`` -> ``jdoe@gmail.com``)."""
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    domain = DOTLESS_DOMAINS.get(domain, domain)
    if domain == "gmail.com":
        local = local.replace(".", "")
    return f"{local}@{domain}"


def self_supplier_id(secret: bytes, address: str) -> str:
    """``self-`` and 24 hex digits of an HMAC of the mailbox: one id per mailbox, opaque without the secret."""
    return "self-" + hmac.new(secret, mailbox_key(address).encode(), hashlib.sha256).hexdigest()[:24]


def read_codes(text: str) -> tuple[list[Classification], list[str]]:
    """Codes typed one per line or separated by commas -> (codes, the pieces that are not codes). A piece starting
    with ``CPV`` or written with a check digit (``33141000-1``) is CPV; any other is UNSPSC at 2, 4, 6 or 8 digits
    (``contracts.codes.read_code``)."""
    codes: list[Classification] = []
    wrong: list[str] = []
    seen: set[tuple[CodeScheme, str]] = set()
    for piece in (p.strip() for p in _CODE_SPLIT.split(text)):
        if not piece:
            continue
        cpv_named = bool(_CPV_HINT.match(piece))
        bare = _CPV_HINT.sub("", piece)
        if bare.upper().startswith("UNSPSC"):
            bare = bare[6:].strip(" :")
        as_cpv = read_code(CodeScheme.CPV, bare)
        if cpv_named or (as_cpv is not None and as_cpv[1] is not None):
            read, scheme = as_cpv, CodeScheme.CPV
        else:
            read, scheme = read_code(CodeScheme.UNSPSC, bare), CodeScheme.UNSPSC
        if read is None:
            wrong.append(piece)
            continue
        if (scheme, read[0]) not in seen:
            seen.add((scheme, read[0]))
            codes.append(Classification(scheme=scheme, code=read[0], check_digit=read[1]))
    return codes, wrong


@dataclass
class RegistrationForm:
    """The form as filled in (``values``, echoed back into it), the profile it means when ``errors`` is empty, and
    what is wrong: field name -> (message code, its arguments)."""

    values: dict[str, str]
    errors: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    profile: SupplierProfile | None = None


#: The fields of the form, in their order on the page.
FIELDS = (
    "company",
    "country",
    "email",
    "id_scheme",
    "id_value",
    "description",
    "codes",
    "language",
    "frequency",
    "timezone",
)


def code_token(code: Classification) -> str:
    """How a suggested code travels in the form (a checkbox's value): ``UNSPSC:42132203``, ``CPV:33141420``."""
    return f"{code.scheme.value}:{code.code}"


def read_code_token(token: str) -> Classification | None:
    """``code_token``'s inverse; None for anything else (a tampered form)."""
    scheme_name, _, digits = token.partition(":")
    if scheme_name not in (CodeScheme.UNSPSC.value, CodeScheme.CPV.value):
        return None
    scheme = CodeScheme(scheme_name)
    read = read_code(scheme, digits)
    return Classification(scheme=scheme, code=read[0]) if read is not None else None


def read_registration(
    form: Mapping[str, str], secret: bytes, page_language: str, accepted: Sequence[str] = ()
) -> RegistrationForm:
    """Read the posted form. Every field is checked and each fault is reported (none stops the others).
    ``accepted``: the suggested codes the supplier kept (``code_token``s), added to those it typed."""
    values = {name: normalize_text(form.get(name) or "").strip() for name in FIELDS}
    values["country"] = values["country"].upper()
    values["language"] = values["language"] or page_language
    values["frequency"] = values["frequency"] or AlertFrequency.IMMEDIATE.value
    values["timezone"] = values["timezone"] or "UTC"
    errors: dict[str, tuple[str, dict[str, str]]] = {}
    if not values["company"]:
        errors["company"] = ("required", {})
    elif len(values["company"]) > MAX_NAME_CHARS:
        errors["company"] = ("too_long", {"limit": str(MAX_NAME_CHARS)})
    if not values["country"]:
        errors["country"] = ("required", {})
    elif not _COUNTRY.match(values["country"]):
        errors["country"] = ("country", {"value": values["country"]})
    address = ""
    if not values["email"]:
        errors["email"] = ("required", {})
    else:
        try:
            address = validate_email(values["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = ("email", {"value": values["email"]})
    if not values["description"]:
        errors["description"] = ("required", {})
    elif len(values["description"]) > MAX_DESCRIPTION_CHARS:
        errors["description"] = ("too_long", {"limit": str(MAX_DESCRIPTION_CHARS)})
    codes, wrong = read_codes(values["codes"])
    typed = {(c.scheme, c.code) for c in codes}
    for token in accepted:
        kept = read_code_token(token)
        if kept is not None and (kept.scheme, kept.code) not in typed:
            typed.add((kept.scheme, kept.code))
            codes.append(kept)
    if wrong:
        errors["codes"] = ("codes", {"value": ", ".join(wrong)})
    elif len(codes) > MAX_CODES:
        errors["codes"] = ("too_many_codes", {"limit": str(MAX_CODES)})
    if values["language"] not in LANGUAGES:
        errors["language"] = ("choice", {})
    if values["frequency"] not in {f.value for f in AlertFrequency}:
        errors["frequency"] = ("choice", {})
    try:
        ZoneInfo(values["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = ("timezone", {"value": values["timezone"]})
    pending: list[str] = []
    if values["id_value"] and values["id_scheme"] not in IDENTIFIER_SCHEMES:
        errors["id_scheme"] = ("choice", {})
    elif values["id_scheme"] and values["id_value"]:
        identifier = read_identifier(values["id_scheme"], values["id_value"])
        if identifier is None:
            errors["id_value"] = ("identifier", {"value": values["id_value"]})
        else:
            pending.append(identifier)
    elif values["id_scheme"] and values["id_scheme"] not in IDENTIFIER_SCHEMES:
        errors["id_scheme"] = ("choice", {})
    if errors:
        return RegistrationForm(values, errors)
    text_language = "zh-Hans" if _CJK.search(values["description"]) else "en"
    name_language = "zh-Hans" if _CJK.search(values["company"]) else "en"
    profile = SupplierProfile(
        supplier_id=self_supplier_id(secret, address),
        names={name_language: values["company"]},
        country=values["country"],
        emails=[address],
        codes=codes,
        description={text_language: values["description"]},
        # They claim nothing before the address is confirmed (``Matcher._confirmed_claims``).
        pending_identifiers=pending,
        preferences=AlertPreferences(
            language=values["language"],
            frequency=AlertFrequency(values["frequency"]),
            timezone=values["timezone"],
        ),
    )
    return RegistrationForm(values, {}, profile)

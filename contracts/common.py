"""Value types shared by several messages: classification codes, money, countries, registration levels."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

#: ISO 3166-1 alpha-2 country code, upper case (``CN``, ``AF``).
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
#: ISO 4217 currency code, upper case (``USD``, ``EUR``).
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
#: BCP 47 language tag as used here: ``en``, ``zh-Hans``, ``fr``, ``es``...
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

#: What people's text loses at the contract boundary (``contracts/README.md``, "Text"): C0 controls but tab and line
#: feed (NUL breaks 8bit mail and C strings), DEL and the C1 controls; the bidi embeddings, overrides and isolates
#: U+202A-U+202E and U+2066-U+2069 (Unicode TR #9), which reorder what a reader sees ("U+202E" turns a phishing link
#: around); and the zero-width U+200B-U+200D, U+2060 and U+FEFF, which hide words from filters and matching.
_UNSEEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def normalize_text(value: str) -> str:
    """``value`` without the characters of ``_UNSEEN``, in Unicode normalization form C (NFC: one spelling for
    "é", composed, whatever the keyboard sent). Text that holds none of them comes back as it is."""
    # Printable text (no control, format or separator character but " ") holds none of them: the common case costs
    # one scan at C speed, and ASCII is NFC already.
    if not value.isprintable():
        value = _UNSEEN.sub("", value)
    if value.isascii() or unicodedata.is_normalized("NFC", value):
        return value
    return unicodedata.normalize("NFC", value)


def _non_empty_text(value: str) -> str:
    text = normalize_text(value).strip()
    if not text:
        raise ValueError("text is empty once control, bidi and zero-width characters are removed")
    return text


#: Text people and publishers wrote (titles, descriptions, names, keywords): normalized by ``normalize_text``.
Text = Annotated[str, AfterValidator(normalize_text)]
#: ``Text`` that is not empty once normalized and stripped of surrounding white space.
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_non_empty_text)]


class Model(BaseModel):
    """Base of every contract model: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CodeScheme(StrEnum):
    """Classification schemes. UNSPSC (UNGM, AusTender, Colombia) and CPV (TED, EU portals) are understood; any
    other scheme is kept with its name in ``Classification.scheme_name`` so nothing is lost."""

    UNSPSC = "UNSPSC"
    CPV = "CPV"
    OTHER = "OTHER"


class Classification(Model):
    """One classification code of an item or a supplier.

    UNSPSC codes are 8 digits, two per level (segment, family, class, commodity); a code given at a higher level
    is right-padded with zeros (``43210000`` is the family ``4321``). CPV codes are 8 digits plus a check digit
    (``33141411-4``); ``code`` holds the 8 digits and ``check_digit`` the check digit when the source gave one.
    """

    scheme: CodeScheme
    code: NonEmptyStr
    description: Text | None = None
    #: The source's own scheme name when ``scheme`` is OTHER (``CUCOP``, ``ДК021``...).
    scheme_name: Text | None = None
    #: CPV check digit as published, if any.
    check_digit: str | None = None


class Money(Model):
    amount: Annotated[float, Field(ge=0)]
    currency: CurrencyCode


class RegistrationLevel(StrEnum):
    """UNGM supplier registration levels, lowest first (https://www.ungm.org/Public/Pages/RegistrationLevels)."""

    BASIC = "basic"
    LEVEL_1 = "level_1"
    LEVEL_2 = "level_2"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {RegistrationLevel.BASIC: 0, RegistrationLevel.LEVEL_1: 1, RegistrationLevel.LEVEL_2: 2}

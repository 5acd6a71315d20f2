"""Value types shared by several messages: classification codes, money, countries, registration levels."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: ISO 3166-1 alpha-2 country code, upper case (``CN``, ``AF``).
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
#: ISO 4217 currency code, upper case (``USD``, ``EUR``).
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
#: BCP 47 language tag as used here: ``en``, ``zh-Hans``, ``fr``, ``es``...
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


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
    description: str | None = None
    #: The source's own scheme name when ``scheme`` is OTHER (``CUCOP``, ``ДК021``...).
    scheme_name: str | None = None
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

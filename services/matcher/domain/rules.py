"""Hard rules: each returns the reason a supplier is excluded from a notice, or ``None`` when the rule passes.

They run before scoring and are listed, in order, in ``RULES``; the first that fails names the exclusion.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from contracts.codes import clean_digits
from contracts.notice import TenderNotice
from services.matcher.domain.candidates import Candidate
from services.matcher.domain.text import normalize_phrase

#: A rule reads a ``Candidate``: a whole ``SupplierProfile``, or the ``CompactCandidate`` a packed index decodes.
Rule = Callable[[TenderNotice, Candidate, datetime, frozenset[str]], str | None]


def deadline_passed(
    notice: TenderNotice, profile: Candidate | None, now: datetime, ineligible: frozenset[str]
) -> str | None:
    # The notice alone decides (``rank`` checks it once per notice, with no profile).
    if notice.deadline_at is not None and notice.deadline_at <= now:
        return f"the deadline ({notice.deadline_at:%Y-%m-%d %H:%M} UTC) has passed"
    return None


def country_not_eligible(
    notice: TenderNotice, profile: Candidate, now: datetime, ineligible: frozenset[str]
) -> str | None:
    allowed = notice.eligible_supplier_countries
    if allowed is not None and profile.country not in allowed:
        return f"suppliers from {profile.country} are not eligible (only {', '.join(allowed) or 'none'})"
    return None


def registration_too_low(
    notice: TenderNotice, profile: Candidate, now: datetime, ineligible: frozenset[str]
) -> str | None:
    required = notice.required_registration_level
    if required is not None and profile.registration_level.rank < required.rank:
        return f"registration level {profile.registration_level.value} is below the required {required.value}"
    return None


def value_above_maximum(
    notice: TenderNotice, profile: Candidate, now: datetime, ineligible: frozenset[str]
) -> str | None:
    # Only compared in the same currency: converting would need rates the domain does not have, and excluding on
    # a guess would lose a supplier silently.
    value, ceiling = notice.estimated_value, profile.max_contract_value
    if value and ceiling and value.currency == ceiling.currency and value.amount > ceiling.amount:
        return (
            f"estimated value {value.amount:,.0f} {value.currency} is above the supplier's maximum "
            f"{ceiling.amount:,.0f}"
        )
    return None


def on_ineligibility_list(
    notice: TenderNotice, profile: Candidate, now: datetime, ineligible: frozenset[str]
) -> str | None:
    if profile.supplier_id in ineligible:
        return "the supplier is on the ineligibility list"
    return None


@functools.lru_cache(maxsize=8192)
def _code_prefix(code: str) -> str:
    # Preference codes carry no scheme, so trailing zeros are stripped digit by digit (CPV pads per digit, UNSPSC
    # per pair); at worst a UNSPSC family ending in 0 also matches its nine neighbours, never misses a match.
    digits = clean_digits(code)
    stripped = digits.rstrip("0")
    return stripped if len(stripped) >= 2 else digits[:2]


def preference_codes(code: str, notice_codes: list[str]) -> bool:
    """A preference code matches a notice code when either is a prefix of the other (any level, any scheme)."""
    p = _code_prefix(code)
    if not p:
        return False
    for n in notice_codes:
        np_ = _code_prefix(n)
        if np_ and (np_.startswith(p) or p.startswith(np_)):
            return True
    return False


def preferences_exclude(
    notice: TenderNotice, profile: Candidate, now: datetime, ineligible: frozenset[str]
) -> str | None:
    prefs = profile.preferences
    if not (prefs.unsubscribed or prefs.codes or prefs.countries or prefs.agencies or prefs.min_value):
        return None
    if prefs.unsubscribed:
        return "the supplier has unsubscribed from alerts"
    if prefs.codes:
        notice_codes = [c.code for c in notice.all_classifications()]
        if not any(preference_codes(c, notice_codes) for c in prefs.codes):
            return f"none of the notice's codes is among the supplier's preferred codes ({', '.join(prefs.codes[:5])})"
    if prefs.countries:
        places = set(notice.delivery_countries) | set(notice.beneficiary_countries)
        if places and not places & set(prefs.countries):
            shown = ", ".join(sorted(places))
            return f"the notice's countries ({shown}) are not among the supplier's preferred countries"
    if prefs.agencies:
        wanted = {normalize_phrase(a) for a in prefs.agencies}
        buyer = {normalize_phrase(notice.buyer.name)} | (
            {normalize_phrase(notice.buyer.id)} if notice.buyer.id else set()
        )
        if not wanted & buyer:
            return f"the buyer {notice.buyer.name} is not among the agencies the supplier follows"
    minimum, value = prefs.min_value, notice.estimated_value
    if minimum and value and minimum.currency == value.currency and value.amount < minimum.amount:
        return (
            f"estimated value {value.amount:,.0f} {value.currency} is below the supplier's minimum "
            f"{minimum.amount:,.0f}"
        )
    return None


#: (rule name as in ``Exclusion.rule``, rule), evaluated in this order.
RULES: tuple[tuple[str, Rule], ...] = (
    ("deadline_passed", deadline_passed),
    ("ineligible_supplier", on_ineligibility_list),
    ("country_not_eligible", country_not_eligible),
    ("registration_level", registration_too_low),
    ("value_above_maximum", value_above_maximum),
    ("preferences", preferences_exclude),
)


def rules_for(notice: TenderNotice, ineligible: frozenset[str]) -> tuple[tuple[str, Rule], ...]:
    """The rules that can fail for this notice (the others need a notice field it does not have)."""
    needed = {
        "deadline_passed": notice.deadline_at is not None,
        "ineligible_supplier": bool(ineligible),
        "country_not_eligible": notice.eligible_supplier_countries is not None,
        "registration_level": notice.required_registration_level is not None,
        "value_above_maximum": notice.estimated_value is not None,
        "preferences": True,
    }
    return tuple((name, rule) for name, rule in RULES if needed[name])


def first_failure(
    notice: TenderNotice,
    profile: Candidate,
    now: datetime,
    ineligible: frozenset[str],
    rules: tuple[tuple[str, Rule], ...] = RULES,
) -> tuple[str, str] | None:
    for name, rule in rules:
        reason = rule(notice, profile, now, ineligible)
        if reason is not None:
            return name, reason
    return None

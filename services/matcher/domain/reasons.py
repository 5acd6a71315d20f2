"""Why a component scored: a reason as data (``contracts.shortlist.REASON_CODES``: a code and its args) and the
buyer's English line made from that data, so the two can never say different things.

The line is neutral and factual ("UNSPSC 42132203 is one of the supplier's codes"): the buyer's page, API and CSV
show it as it is. Emails render the code and args themselves, in the supplier's language and voice.

Codes in args are the digits of a scheme-tagged prefix (``"U:4213"`` -> scheme ``UNSPSC``, code ``4213``), as many
as the level they name (``contracts.shortlist.REASON_CODES``). The English line writes a UNSPSC or CPV code as the
8-digit code people register and read, padded with zeros as contracts store it ("the supplier's family 42130000",
never a prefix such as "421322" that nobody typed). A code of another scheme (``"O:X-17"``) is scheme ``other``
with its text as published; the English line calls it a "code" ("code X-17 is one of the supplier's codes").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import NamedTuple

Args = dict[str, str | int | float]

_SCHEMES = {"U": "UNSPSC", "C": "CPV", "O": "other"}
#: How the English line names a scheme arg (``other``: "code X-17").
_SHOWN = {"other": "code"}
#: Schemes whose codes have 8 digits, a higher level padded with zeros (``contracts.codes``).
_PADDED = frozenset({"UNSPSC", "CPV"})
_CODE_ARGS = ("code", "supplier_code")


class Reason(NamedTuple):
    """One component's reason: the English line, its ``REASON_CODES`` code (None when it has none) and args."""

    text: str
    code: str | None
    args: Args


#: No reason: a component with nothing to say (``reason=""``, no code, no args).
NONE = Reason("", None, {})


def _n(count: object, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _last(args: Mapping[str, object]) -> str:
    return f", last {args['last']}" if args["last"] else ""


#: The buyer's English line for each code, from its args.
_ENGLISH: dict[str, Callable[[Args], str]] = {
    "code_exact": lambda a: f"{a['scheme']} {a['code']} is one of the supplier's codes",
    "code_near": lambda a: (
        f"{a['scheme']} {a['code']} is one level from the supplier's {a['level']} {a['supplier_code']}"
    ),
    "code_shared_level": lambda a: f"{a['scheme']} {a['code']} is in the supplier's {a['level']} {a['supplier_code']}",
    "code_none": lambda a: f"no code in common with {a['scheme']} {a['code']}",
    "code_suggested": lambda a: (
        f"suggested from the supplier's description (it states no codes): {a['scheme']} {a['supplier_code']}"
        + ("" if a["supplier_code"] == a["code"] else f", near {a['scheme']} {a['code']}")
    ),
    "code_notice_suggested": lambda a: (
        f"{a['scheme']} {a['code']}, suggested from the notice's text (it states no codes), "
        + (
            "is one of the supplier's codes"
            if a["supplier_code"] == a["code"]
            else f"is near the supplier's {a['scheme']} {a['supplier_code']}"
        )
    ),
    "code_crosswalk": lambda a: (
        f"{a['scheme']} {a['code']} ≈ {a['supplier_scheme']} {a['supplier_code']}, one of the supplier's codes "
        f"(CPV-UNSPSC crosswalk, {a['percent']}% alike)"
    ),
    "words_shared": lambda a: f"the profile mentions {a['words']}",
    "words_none": lambda a: "no words in common with the profile",
    "wording_close": lambda a: (
        f"the title {'contains' if a['percent'] == 100 else 'nearly contains'} the supplier's wording "
        f"'{a['phrase']}' ({a['percent']}% similar)"
    ),
    "history": lambda a: (
        f"{_n(a['awards'], 'past award')} in {a['scheme']} {a['code']}, {a['family_awards']} in its family{_last(a)}"
    ),
    "buyer_awards": lambda a: f"{_n(a['awards'], 'past award')} from this buyer ({a['family_awards']} in this family)",
    "buyer_code_awards": lambda a: f"{_n(a['awards'], 'past award')} from this buyer for this very code",
    "repeat": lambda a: f"won the same contract {_n(a['times'], 'time')} before ({a['from_buyer']} from this buyer)",
    "activity": lambda a: f"{_n(a['awards'], 'past award')}{_last(a)}",
    "value_close": lambda a: "value is close to the contracts the supplier usually wins",
    "value_unlike": lambda a: "value is unlike the contracts the supplier usually wins",
    "value_unknown": lambda a: "no comparable contract values",
    "meaning_close": lambda a: f"the supplier's '{a['phrase']}' is close in meaning to '{a['notice_words']}'",
}


def reason(reason_code: str, /, **args: str | int | float) -> Reason:
    """``reason("code_exact", scheme="UNSPSC", code="42132203")`` -> the line, the code and the args."""
    return Reason(_ENGLISH[reason_code](shown_args(args)), reason_code, args)


def shown_args(args: Args) -> Args:
    """The args as the buyer's lines write them (the English line here, the Chinese one on the buyer pages): a UNSPSC
    or CPV code prefix as its 8-digit code, scheme ``other`` as ``code``."""
    if "scheme" not in args:
        return args
    scheme = str(args["scheme"])
    shown = {**args, "scheme": _SHOWN.get(scheme, scheme)}
    if scheme in _PADDED:
        for name in _CODE_ARGS:
            if name in shown:
                shown[name] = str(shown[name]).ljust(8, "0")
    return shown


def iso(day: date | None) -> str:
    """A date arg (``last``): ISO 8601, or "" when unknown."""
    return day.isoformat() if day is not None else ""


def about_code(
    reason_code: str, notice_tag: str, supplier_tag: str | None = None, /, **args: str | int | float
) -> Reason:
    """A reason about the notice code ``notice_tag`` (and a supplier's ``supplier_tag``), given as tags."""
    if supplier_tag is not None:
        args["supplier_code"] = supplier_tag[2:]
    return reason(reason_code, scheme=_SCHEMES[notice_tag[0]], code=notice_tag[2:], **args)

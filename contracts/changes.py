"""The lines of ``TenderNotice.changes``: what changed from one version of a notice to the next.

Ingest writes them (``services.ingest.domain.versioning``) in English, as a buyer's page shows them; readers that
speak to someone else (a supplier's email in its language and time zone) read them back into a ``Change`` with
``read_change`` and say it their way. A line this grammar does not know (another producer's) is shown as it is.

    notice cancelled | notice reopened after cancellation | content changed | items changed
    <field>: <before> -> <after>        (``SHOWN_FIELDS``; ``none`` for no value; instants in ISO 8601)
    codes added: <code>, <code>         (codes removed: ...; each ``<scheme> <code>``)
    <field> changed                     (``NAMED_FIELDS``: too long to show)
"""

from __future__ import annotations

from dataclasses import dataclass

#: Fields compared one by one; their old and new values are shown when short.
SHOWN_FIELDS = (
    "title",
    "deadline_at",
    "published_at",
    "estimated_value",
    "procurement_method",
    "notice_type",
    "language",
)
#: Fields only named when they changed.
NAMED_FIELDS = (
    "description",
    "buyer",
    "documents",
    "delivery_countries",
    "beneficiary_countries",
    "eligible_supplier_countries",
    "required_registration_level",
    "source_url",
)
#: The lines without a field, by kind.
PLAIN = {
    "cancelled": "notice cancelled",
    "reopened": "notice reopened after cancellation",
    "content": "content changed",
    "items": "items changed",
}
NONE = "none"
_ARROW = " -> "
_CODES = {"codes_added": "codes added: ", "codes_removed": "codes removed: "}


@dataclass(frozen=True)
class Change:
    """One line read back: ``kind`` is ``field`` (``field``, ``before``, ``after``; ``none`` for no value),
    ``named`` (``field``), ``codes_added`` / ``codes_removed`` (``codes``), or a key of ``PLAIN``."""

    kind: str
    field: str = ""
    before: str = ""
    after: str = ""
    codes: tuple[str, ...] = ()

    def line(self) -> str:
        """The line as ``TenderNotice.changes`` holds it."""
        if self.kind == "field":
            return f"{self.field}: {self.before}{_ARROW}{self.after}"
        if self.kind == "named":
            return f"{self.field} changed"
        if self.kind in _CODES:
            return _CODES[self.kind] + ", ".join(self.codes)
        return PLAIN[self.kind]


def read_change(line: str) -> Change | None:
    """The ``Change`` a line says, or None for a line of another grammar."""
    for kind, text in PLAIN.items():
        if line == text:
            return Change(kind)
    for kind, prefix in _CODES.items():
        if line.startswith(prefix):
            codes = tuple(c.strip() for c in line[len(prefix) :].split(",") if c.strip())
            return Change(kind, codes=codes) if codes else None
    name, sep, rest = line.partition(": ")
    if sep and name in SHOWN_FIELDS and _ARROW in rest:
        before, _, after = rest.partition(_ARROW)
        return Change("field", name, before, after)
    if line.endswith(" changed") and line[: -len(" changed")] in NAMED_FIELDS:
        return Change("named", line[: -len(" changed")])
    return None

"""Double opt-in (pure): the addresses of a profile that wait for their owner's confirmation, the idempotency key
of the one confirmation email each registration gets, and what its signed link names.

An address that a buyer's key or the supplier's own key registered (``SupplierProfile.email_confirmations``, decided
by the matcher) gets no alert until its owner confirms it: the notifier sends it one confirmation email per
registration (key ``<supplier>|confirmation|<address>|<registered at, µs>``, claimed in the notification store like
every email, so never twice, across restarts and instances), whose link (``tokens.CONFIRM``) names the supplier, the
address and the registration. A link for an earlier registration (the address was removed and registered again)
confirms nothing. An address gets at most one confirmation email per interval whatever supplier registered it
(``gate_key``): other registrations of it wait for the interval to pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contracts import SupplierProfile
from services.notifier.exceptions import InvalidToken

#: The ``kind`` of a confirmation email's record in the notification store (not a ``NotificationKind``: no
#: ``notifications.events`` event is published for it, see the README).
CONFIRMATION = "confirmation"

#: The ``kind`` of an address's record in the notification store that says which registration of the address had
#: the last confirmation email, and when (one email per address per ``notifier_confirmation_min_interval_days``).
CONFIRMATION_GATE = "confirmation_gate"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def gate_key(address: str) -> str:
    """The store key of an address's confirmation gate: one per mailbox (case-insensitive), whatever supplier
    registered it; ``@`` starts no supplier id, so it meets no email's key."""
    return f"@{CONFIRMATION_GATE}|{address.casefold()}"


def micros(at: datetime) -> int:
    """An instant as whole microseconds since 1970 (exact, unlike a float timestamp)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Pending:
    """One registration of an address that waits for its owner's confirmation."""

    supplier_id: str
    address: str
    registered_by: str
    registered_at: datetime

    @property
    def key(self) -> str:
        return f"{self.supplier_id}|{CONFIRMATION}|{self.address}|{micros(self.registered_at)}"

    @property
    def subject(self) -> str:
        """What the confirmation link signs: supplier, address and registration (neither holds a newline)."""
        return f"{self.supplier_id}\n{self.address}\n{micros(self.registered_at)}"


def pending(profile: SupplierProfile) -> list[Pending]:
    """The registrations of ``profile``'s addresses that wait for their owner's confirmation."""
    out = []
    for address in profile.unconfirmed_emails():
        entry = profile.email_confirmations[address]
        out.append(Pending(profile.supplier_id, address, entry.registered_by, entry.registered_at))
    return out


def read_subject(subject: str) -> tuple[str, str, int]:
    """Supplier id, address and registration (µs) named by a verified confirmation token's subject."""
    parts = subject.split("\n")
    if len(parts) != 3 or not parts[0] or "@" not in parts[1] or not parts[2].lstrip("-").isdigit():
        raise InvalidToken("malformed confirmation token")
    return parts[0], parts[1], int(parts[2])

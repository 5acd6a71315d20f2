"""Double opt-in (pure): the addresses of a profile that wait for their owner's confirmation, the idempotency key
of the one confirmation email each registration gets, and what its signed link names.

An address that a buyer's key or the supplier's own key registered (``SupplierProfile.email_confirmations``, decided
by the matcher) gets no alert until its owner confirms it: the notifier sends it one confirmation email per
registration (key ``<supplier>|confirmation|<address>|<registered at, µs>``, claimed in the notification store like
every email, so never twice, across restarts and instances), whose link (``tokens.CONFIRM``) names the supplier, the
address and the registration. A link for an earlier registration (the address was removed and registered again)
confirms nothing. A mailbox gets at most one confirmation email per interval whatever supplier registered it and
under whatever spelling (``gate_key`` over ``mailbox``: case, plus tags, Gmail's dots): other registrations of it
wait for the interval to pass. A registrant (``registered_by``: a buyer key's agency, or the supplier) gets at most
so many confirmation emails per hour and per day (``quota_keys``); the excess is not sent.
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


#: The ``kind`` of a registrant's counter record in the notification store: confirmation emails asked for by one
#: registrant in one hour or day (the count is the record's ``attempt``).
CONFIRMATION_QUOTA = "confirmation_quota"

#: Providers that deliver every spelling of a local part with or without dots to one mailbox (Gmail: "dots don't
#: matter"), with the domain they are one mailbox under.
_DOTS_IGNORED = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox(address: str) -> str:
    """The mailbox an address reaches, as far as the address tells: case folded, the subaddress (RFC 5233: ``+``
    and what follows, in the local part) dropped, and at providers that ignore them (``_DOTS_IGNORED``) the local
    part's dots dropped. ``Bomb+7@Example.org`` and ``bomb@example.org`` are one mailbox, so are
    ``j.doe@googlemail.com`` and ``jdoe@gmail.com``. Errs towards one mailbox: at a provider without subaddresses,
    ``a+b@`` and ``a+c@`` (two mailboxes) share one interval."""
    local, at, domain = address.strip().casefold().rpartition("@")
    if not at:
        return address.casefold()
    local = local.split("+", 1)[0] or local
    domain = domain.rstrip(".")
    if domain in _DOTS_IGNORED:
        local, domain = local.replace(".", "") or local, _DOTS_IGNORED[domain]
    return f"{local}@{domain}"


def gate_key(address: str) -> str:
    """The store key of an address's confirmation gate: one per mailbox (``mailbox``), whatever supplier registered
    it; ``@`` starts no supplier id, so it meets no email's key."""
    return f"@{CONFIRMATION_GATE}|{mailbox(address)}"


def quota_keys(registered_by: str, at: datetime) -> tuple[str, str]:
    """The store keys of a registrant's counters for the hour and the day (UTC) of ``at``."""
    who = " ".join(registered_by.casefold().split())
    at = at.astimezone(UTC)
    return (
        f"@{CONFIRMATION_QUOTA}|{who}|hour|{at:%Y-%m-%dT%H}",
        f"@{CONFIRMATION_QUOTA}|{who}|day|{at:%Y-%m-%d}",
    )


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

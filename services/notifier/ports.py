"""The notifier's ports: one small Protocol each, and the records the store keeps. The adapters live in
``adapters/`` (Elasticsearch, SMTP, the matcher's HTTP API, Kafka); the one in-memory fake of each port lives in
``adapters/memory.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Any, Protocol

from contracts import SupplierProfile
from contracts.api import ProfileSaved
from services.notifier.exceptions import MailError, StoreUnavailable


class State(StrEnum):
    QUEUED = "queued"  #: a digest-mode match waiting for the supplier's next digest
    SENDING = "sending"  #: claimed; an SMTP attempt may be under way, but its final "." has not been written
    COMMITTING = "committing"  #: the final "." is being written: from here on the server may have the message
    RETRYING = "retrying"  #: the last attempt failed for sure (not delivered); waiting for the next
    SENT = "sent"  #: the SMTP server accepted it (digest items: the digest that carried them was accepted)
    PARKED = "parked"  #: given up; on the dead-letter topic
    WITHDRAWN = "withdrawn"  #: a queued item that will not be sent (notice cancelled, deadline passed, superseded)


FINAL = frozenset({State.SENT, State.PARKED, State.WITHDRAWN})


@dataclass
class Record:
    key: str
    state: State
    kind: str
    supplier_id: str
    notice_ids: list[str] = field(default_factory=list)
    notice_version: int | None = None
    attempt: int = 0
    message_id: str | None = None
    owner: str | None = None
    lease_until: datetime | None = None
    reason: str | None = None
    #: Digest items: the notice and shortlist entry as JSON, to render the digest later.
    payload: str | None = None
    #: Digests: the keys of the items they carry; items: the digest that carried them.
    item_keys: list[str] = field(default_factory=list)
    digest_key: str | None = None
    updated_at: datetime | None = None
    #: Concurrency token of the stored version (set by the store when read).
    token: tuple[int, int] | None = None

    def doc(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("token")
        out["state"] = self.state.value
        for name in ("lease_until", "updated_at"):
            value = out[name]
            out[name] = value.isoformat() if value is not None else None
        return out

    @classmethod
    def from_doc(cls, doc: dict[str, Any], token: tuple[int, int] | None = None) -> Record:
        data = dict(doc)
        data["state"] = State(data["state"])
        for name in ("lease_until", "updated_at"):
            if data.get(name):
                data[name] = datetime.fromisoformat(data[name])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}, token=token)


@dataclass(frozen=True)
class Unsubscribe:
    supplier_id: str
    at: datetime
    #: The matcher acknowledged the preferences update.
    synced: bool


class NotificationStore(Protocol):
    def claim(self, record: Record) -> Record | None:
        """Create the record if its key is new (and return None), else return the stored one (with its token)."""

    def get(self, key: str) -> Record | None: ...

    def replace(self, record: Record) -> bool:
        """Write the record if the stored version still has ``record.token`` (or unconditionally when the token is
        None); False if someone else changed it meanwhile. Readable by key at once and by this store's searches
        (read-your-writes); by other processes' searches after ``make_searchable`` (or within a second).

        ``claim``, ``get`` and ``replace`` raise ``StoreUnavailable`` when the store cannot be reached or fails:
        the write may then have been applied or not (a retry with the old token answers False if it was)."""

    def claim_many(self, records: Sequence[Record]) -> list[Record | StoreUnavailable | None]:
        """``claim`` for several records in one request: per record None (created), the stored record (its key was
        claimed before), or the ``StoreUnavailable`` of that item (not known to be created: claim it again)."""

    def replace_many(self, records: Sequence[Record]) -> list[bool | StoreUnavailable]:
        """``replace`` for several records in one request: per record True (written, token updated), False (changed
        by someone else meanwhile) or the ``StoreUnavailable`` of that item (applied or not: write it again).
        Visible as ``replace``'s writes are."""

    def make_searchable(self) -> None:
        """Make every write this store made so far visible to every process's searches (``alerted_suppliers``,
        ``find``); nothing to do when it made none since the last time. ``StoreUnavailable``."""

    def alerted_suppliers(self, notice_id: str, before_version: int) -> set[str]:
        """Suppliers with a sent new match or amendment for an earlier version of the notice."""

    def find(
        self,
        *,
        states: Iterable[State],
        supplier_id: str | None = None,
        notice_id: str | None = None,
        kind: str | None = None,
    ) -> list[Record]: ...

    def save_unsubscribe(self, item: Unsubscribe) -> None: ...

    def unsubscribes(self) -> list[Unsubscribe]: ...


class MailSender(Protocol):
    def send(self, message: EmailMessage, before_commit: Callable[[], None] | None = None) -> None:
        """Hand one message to the server; raises a ``MailError`` subclass when it was not accepted.

        ``before_commit`` is called once the server is ready for the body, just before the last bytes (the final
        ``.`` that makes the server take the message) are written: the caller records "committing" there, so after
        a crash it knows whether the message can have been delivered."""

    def send_many(
        self, messages: Sequence[EmailMessage], before_commit: Callable[[list[int]], Collection[int]]
    ) -> list[MailError | None]:
        """Hand several messages over at once, one per connection (``connections`` at most in flight), and return
        each one's outcome: None when the server accepted it, else the ``MailError`` ``send`` would have raised.

        ``before_commit`` is called once per round with the indexes of the messages whose body is written and only
        the final "." is left; it returns the indexes that may be committed. The others are abandoned (their
        connection dropped, so the server discards them) and get a ``TransientMailError``. If it raises, no "." of
        the round is written and the exception propagates."""

    def close(self) -> None:
        """Close any open connection."""


class PreferencesClient(Protocol):
    def unsubscribe(self, supplier_id: str) -> None:
        """Set ``unsubscribed: true`` on the supplier's preferences; raises ``MatcherUnavailable`` if not done."""

    def update(self, supplier_id: str, changes: Mapping[str, Any]) -> SupplierProfile | None:
        """Change these preference fields (JSON values, a ``PreferencesPatch``'s fields) and return the profile as
        the matcher stored it; None if the matcher does not know the supplier. Raises ``MatcherUnavailable`` if the
        change was not made (unreachable, refused, failed)."""

    def profile(self, supplier_id: str) -> SupplierProfile | None:
        """The supplier's profile as the matcher holds it now (``GET /suppliers/{id}``); None if it does not know
        the supplier. Raises ``MatcherUnavailable`` if it cannot be read."""

    def replace(self, profile: SupplierProfile) -> ProfileSaved:
        """Store this whole profile (``PUT /suppliers/{id}``: the matcher stamps ``updated_at`` and re-matches open
        notices before it answers) and return what it stored with the number of notices re-matched. Raises
        ``MatcherUnavailable`` if it was not stored (unreachable, refused, failed, or an answer that cannot be read:
        then it may have been stored)."""


class ProfileFeed(Protocol):
    """The supplier profiles the matcher publishes (``suppliers.profiles``), read into the ``ProfileDirectory``."""

    def catch_up(self, timeout_s: float = 30.0) -> int:
        """Apply every profile published up to now; returns how many records were applied."""

    def close(self) -> None: ...

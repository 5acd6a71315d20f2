"""The one in-memory fake of each port (``ports.py``), for unit tests and the in-memory bootstrap."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from contracts import AlertPreferences, SupplierProfile
from contracts.api import ProfileSaved
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.exceptions import (
    MailError,
    MatcherUnavailable,
    StoreUnavailable,
    TransientMailError,
    UncertainDelivery,
)
from services.notifier.ports import Record, State, Unsubscribe


@dataclass
class WriteFault:
    """A failure the fake injects into the next ``replace`` of a record in ``state``: ``error`` is raised, after
    the write was applied when ``applied`` (the reply was lost), else instead of it. ``forget``: the store also
    lost the record's previous acknowledged write (a server restarted without having saved it: noida-db loses the
    writes it acknowledged in its last moments before a SIGTERM or kill)."""

    state: State
    error: BaseException
    applied: bool = False
    forget: bool = False


class InMemoryNotificationStore:
    """The fake for unit tests, with the same create-only and compare-and-set behaviour. ``faults`` are injected
    into writes (first matching one per write), like an Elasticsearch that goes away mid-stream."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[Record, int]] = {}
        self.unsubscribed: dict[str, Unsubscribe] = {}
        self.faults: list[WriteFault] = []
        self._previous: dict[str, tuple[Record, int]] = {}
        self._lock = threading.Lock()
        #: Bulk requests made so far, by operation (``claim_many``, ``replace_many``).
        self.bulk_requests: Counter[str] = Counter()

    def _fault(self, record: Record) -> WriteFault | None:
        for i, fault in enumerate(self.faults):
            if fault.state == record.state:
                return self.faults.pop(i)
        return None

    def _copy(self, record: Record, seq: int) -> Record:
        return dataclasses.replace(
            record, notice_ids=list(record.notice_ids), item_keys=list(record.item_keys), token=(seq, 1)
        )

    def claim(self, record: Record) -> Record | None:
        with self._lock:
            if record.key in self.records:
                stored, seq = self.records[record.key]
                return self._copy(stored, seq)
            self.records[record.key] = (self._copy(record, 0), 0)
            record.token = (0, 1)
            return None

    def get(self, key: str) -> Record | None:
        with self._lock:
            if key not in self.records:
                return None
            stored, seq = self.records[key]
            return self._copy(stored, seq)

    def replace(self, record: Record) -> bool:
        fault = self._fault(record)
        if fault is not None and fault.forget:
            with self._lock:
                if record.key in self._previous:
                    self.records[record.key] = self._previous.pop(record.key)
        if fault is not None and not fault.applied:
            raise fault.error
        applied = self._replace(record)
        if fault is not None:
            raise fault.error
        return applied

    def _replace(self, record: Record) -> bool:
        with self._lock:
            seq = -1
            if record.key in self.records:
                seq = self.records[record.key][1]
                if record.token is not None and record.token[0] != seq:
                    return False
                self._previous[record.key] = self.records[record.key]
            self.records[record.key] = (self._copy(record, seq + 1), seq + 1)
            record.token = (seq + 1, 1)
            return True

    def claim_many(self, records: Sequence[Record]) -> list[Record | StoreUnavailable | None]:
        self.bulk_requests["claim_many"] += 1
        out: list[Record | StoreUnavailable | None] = []
        for record in records:
            fault = self._fault(record) if record.state == State.SENDING else None
            if fault is not None and not fault.applied:
                out.append(StoreUnavailable(str(fault.error)))
                continue
            claimed = self.claim(record)
            out.append(StoreUnavailable(str(fault.error)) if fault is not None else claimed)
        return out

    def replace_many(self, records: Sequence[Record]) -> list[bool | StoreUnavailable]:
        self.bulk_requests["replace_many"] += 1
        out: list[bool | StoreUnavailable] = []
        for record in records:
            try:
                out.append(self.replace(record))
            except StoreUnavailable as exc:
                out.append(exc)
        return out

    def make_searchable(self) -> None:
        self.bulk_requests["make_searchable"] += 1

    def alerted_suppliers(self, notice_id: str, before_version: int) -> set[str]:
        return {
            r.supplier_id
            for r, _ in self.records.values()
            if notice_id in r.notice_ids
            and r.state == State.SENT
            and r.kind in ("new_match", "amendment")
            and (r.notice_version or 0) < before_version
        }

    def find(
        self,
        *,
        states: Iterable[State],
        supplier_id: str | None = None,
        notice_id: str | None = None,
        kind: str | None = None,
    ) -> list[Record]:
        wanted = set(states)
        with self._lock:
            return [
                self._copy(r, seq)
                for r, seq in sorted(self.records.values(), key=lambda pair: pair[0].key)
                if r.state in wanted
                and (supplier_id is None or r.supplier_id == supplier_id)
                and (notice_id is None or notice_id in r.notice_ids)
                and (kind is None or r.kind == kind)
            ]

    def save_unsubscribe(self, item: Unsubscribe) -> None:
        self.unsubscribed[item.supplier_id] = item

    def unsubscribes(self) -> list[Unsubscribe]:
        return list(self.unsubscribed.values())


@dataclass
class InMemoryMailSender:
    """The fake for unit tests: accepts messages into ``sent``. ``failures`` are raised first, one per message; an
    ``UncertainDelivery`` (or any failure while ``fail_after_commit`` is set) is raised after ``before_commit``,
    like a connection lost after the final ".". A ``BaseException`` there simulates the process dying (in
    ``send_many``: after the round's ``before_commit``, before any of its "." is written)."""

    sent: list[EmailMessage] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    fail_after_commit: bool = False
    calls: int = 0
    connections: int = 4

    def _failure(self) -> tuple[BaseException | None, bool]:
        failure = self.failures.pop(0) if self.failures else None
        after_commit = failure is None or self.fail_after_commit or isinstance(failure, UncertainDelivery)
        return failure, after_commit

    def send(self, message: EmailMessage, before_commit: Callable[[], None] | None = None) -> None:
        self.calls += 1
        failure, after_commit = self._failure()
        if after_commit and before_commit is not None:
            before_commit()
        if failure is not None:
            raise failure
        self.sent.append(message)

    def send_many(
        self, messages: Sequence[EmailMessage], before_commit: Callable[[list[int]], Collection[int]]
    ) -> list[MailError | None]:
        outcomes: list[MailError | None] = [None] * len(messages)
        for start in range(0, len(messages), self.connections):
            staged: dict[int, BaseException | None] = {}
            for i in range(start, min(start + self.connections, len(messages))):
                self.calls += 1
                failure, after_commit = self._failure()
                if after_commit:
                    staged[i] = failure
                elif isinstance(failure, MailError):
                    outcomes[i] = failure
                elif failure is not None:
                    raise failure
            if not staged:
                continue
            allowed = set(before_commit(list(staged)))
            for i, failure in staged.items():
                if i not in allowed:
                    outcomes[i] = TransientMailError("not_committed", "the caller withheld the final '.'")
                elif isinstance(failure, MailError):
                    outcomes[i] = failure
                elif failure is not None:
                    raise failure
                else:
                    self.sent.append(messages[i])
        return outcomes

    def close(self) -> None:
        return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class InMemoryPreferencesClient:
    """The fake: the matcher's profiles (``profiles``, optional: unknown ids answer like a 404), the unsubscribes,
    updates and whole profiles (``replaced``) it received; while ``down`` is true every call fails like an
    unreachable matcher. A saved profile is stamped with ``clock()``, as the matcher stamps ``updated_at``; a
    replaced one answers ``rematched`` re-matched notices."""

    unsubscribed: list[str] = field(default_factory=list)
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    replaced: list[SupplierProfile] = field(default_factory=list)
    profiles: dict[str, SupplierProfile] = field(default_factory=dict)
    down: bool = False
    rematched: int = 0
    clock: Callable[[], datetime] = _utcnow

    def unsubscribe(self, supplier_id: str) -> None:
        if self.down:
            raise MatcherUnavailable("matcher unreachable (fake)")
        self.unsubscribed.append(supplier_id)
        if supplier_id in self.profiles:
            self._save(supplier_id, {"unsubscribed": True})

    def update(self, supplier_id: str, changes: Mapping[str, Any]) -> SupplierProfile | None:
        if self.down:
            raise MatcherUnavailable("matcher unreachable (fake)")
        if supplier_id not in self.profiles:
            return None
        self.updates.append((supplier_id, dict(changes)))
        return self._save(supplier_id, changes)

    def _save(self, supplier_id: str, changes: Mapping[str, Any]) -> SupplierProfile:
        profile = self.profiles[supplier_id]
        merged = AlertPreferences.model_validate({**profile.preferences.model_dump(), **changes})
        saved = profile.model_copy(update={"preferences": merged, "updated_at": self.clock()})
        self.profiles[supplier_id] = saved
        return saved

    def profile(self, supplier_id: str) -> SupplierProfile | None:
        if self.down:
            raise MatcherUnavailable("matcher unreachable (fake)")
        return self.profiles.get(supplier_id)

    def replace(self, profile: SupplierProfile) -> ProfileSaved:
        if self.down:
            raise MatcherUnavailable("matcher unreachable (fake)")
        self.replaced.append(profile)
        saved = profile.model_copy(update={"updated_at": self.clock()})
        self.profiles[profile.supplier_id] = saved
        return ProfileSaved(profile=saved, rematched_notices=self.rematched)


@dataclass
class InMemoryProfileFeed:
    """The fake feed: ``published`` profiles (a supplier id alone: deleted) are applied to the directory at the next
    ``catch_up``, as the Kafka feed applies what came on the topic."""

    directory: ProfileDirectory
    published: list[SupplierProfile | str] = field(default_factory=list)
    closed: bool = False

    def catch_up(self, timeout_s: float = 30.0) -> int:
        applied, self.published = self.published, []
        for item in applied:
            if isinstance(item, str):
                self.directory.delete(item)
            else:
                self.directory.put(item)
        return len(applied)

    def close(self) -> None:
        self.closed = True

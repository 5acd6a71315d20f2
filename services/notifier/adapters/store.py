"""The notifier's durable state: the ``NotificationStore`` port, its Elasticsearch adapter and its in-memory fake.

One document per idempotency key in ``<prefix>-notifications`` (document id = the key, created with
``op_type=create`` so a second claim of the same key gets 409), and one per unsubscribed supplier in
``<prefix>-notifier-unsubscribes``. Updates of a claimed record use optimistic concurrency (``if_seq_no`` /
``if_primary_term``) so two notifiers cannot both take over an abandoned record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from elasticsearch import ApiError, BadRequestError, ConflictError, Elasticsearch, NotFoundError, TransportError

from services.notifier.exceptions import StoreUnavailable


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


@contextlib.contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Connection failures, timeouts and server errors (5xx, 429) -> ``StoreUnavailable``; other API errors (a bad
    request, a missing index) stay what they are."""
    try:
        yield
    except TransportError as exc:
        raise StoreUnavailable(f"{what}: {exc.__class__.__name__}: {exc}"[:300]) from exc
    except ApiError as exc:
        if exc.meta.status >= 500 or exc.meta.status == 429:
            raise StoreUnavailable(f"{what}: {exc.meta.status} {exc.message}"[:300]) from exc
        raise


class ElasticsearchNotificationStore:
    _MAPPING: ClassVar[dict[str, Any]] = {
        "properties": {
            "key": {"type": "keyword"},
            "state": {"type": "keyword"},
            "kind": {"type": "keyword"},
            "supplier_id": {"type": "keyword"},
            "notice_ids": {"type": "keyword"},
            "notice_version": {"type": "integer"},
            "attempt": {"type": "integer"},
            "message_id": {"type": "keyword"},
            "owner": {"type": "keyword"},
            "lease_until": {"type": "date"},
            "reason": {"type": "keyword"},
            "payload": {"type": "text", "index": False},
            "item_keys": {"type": "keyword"},
            "digest_key": {"type": "keyword"},
            "updated_at": {"type": "date"},
        }
    }
    _UNSUB_MAPPING: ClassVar[dict[str, Any]] = {
        "properties": {
            "supplier_id": {"type": "keyword"},
            "at": {"type": "date"},
            "synced": {"type": "boolean"},
        }
    }

    def __init__(self, es: Elasticsearch, notifications_index: str, unsubscribes_index: str) -> None:
        self._es = es
        self._index = notifications_index
        self._unsub = unsubscribes_index
        #: Writes were made since the last refresh. No write refreshes (a refresh costs far more than a write on a
        #: loaded server, and reads by id are real-time); a search refreshes first when this is set, so searches
        #: see every write this store made (read-your-writes), at one refresh per search after writes.
        self._unsearched = False

    def ensure_indexes(self) -> None:
        for index, mapping in ((self._index, self._MAPPING), (self._unsub, self._UNSUB_MAPPING)):
            if not self._es.indices.exists(index=index):
                try:
                    self._es.indices.create(index=index, mappings=mapping)
                except BadRequestError:  # another instance created it between exists and create
                    if not self._es.indices.exists(index=index):
                        raise

    def ping(self) -> bool:
        return bool(self._es.ping())

    def claim(self, record: Record) -> Record | None:
        with _unavailable(f"claim {record.key}"):
            return self._claim(record)

    def _claim(self, record: Record) -> Record | None:
        self._unsearched = True
        try:
            resp = self._es.index(index=self._index, id=record.key, document=record.doc(), op_type="create")
        except ConflictError:
            stored = self.get(record.key)
            if stored is None:  # deleted in between: cannot happen in normal operation; try once more
                return self._claim(record)
            return stored
        record.token = (int(resp["_seq_no"]), int(resp["_primary_term"]))
        return None

    def get(self, key: str) -> Record | None:
        try:
            with _unavailable(f"get {key}"):
                hit = self._es.get(index=self._index, id=key)
        except NotFoundError:
            return None
        return Record.from_doc(hit["_source"], (int(hit["_seq_no"]), int(hit["_primary_term"])))

    def replace(self, record: Record) -> bool:
        options: dict[str, Any] = {}
        if record.token is not None:
            options = {"if_seq_no": record.token[0], "if_primary_term": record.token[1]}
        self._unsearched = True
        try:
            with _unavailable(f"write {record.key} ({record.state.value})"):
                resp = self._es.index(index=self._index, id=record.key, document=record.doc(), **options)
        except ConflictError:
            return False
        record.token = (int(resp["_seq_no"]), int(resp["_primary_term"]))
        return True

    def _bulk(self, operations: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
        """One ``_bulk`` request; each item's result. The request failing as a whole -> ``StoreUnavailable``."""
        self._unsearched = True
        with _unavailable(what):
            resp = self._es.bulk(operations=operations)
        return [next(iter(item.values())) for item in resp["items"]]

    @staticmethod
    def _item_error(key: str, item: dict[str, Any]) -> StoreUnavailable:
        # Any per-item failure other than the 409 the caller expects (429 and 5xx normally) is retried one by one,
        # where a real client error surfaces with its own exception.
        error = item.get("error")
        reason = error.get("reason") if isinstance(error, dict) else error
        return StoreUnavailable(f"bulk item {key}: {item.get('status')} {reason}"[:300])

    def claim_many(self, records: Sequence[Record]) -> list[Record | StoreUnavailable | None]:
        if not records:
            return []
        operations: list[dict[str, Any]] = []
        for record in records:
            operations += [{"create": {"_index": self._index, "_id": record.key}}, record.doc()]
        try:
            items = self._bulk(operations, f"claim {len(records)} keys")
        except StoreUnavailable as exc:
            return [exc for _ in records]
        out: list[Record | StoreUnavailable | None] = []
        conflicts: list[int] = []
        for i, (record, item) in enumerate(zip(records, items, strict=True)):
            if item.get("status") in (200, 201):
                record.token = (int(item["_seq_no"]), int(item["_primary_term"]))
                out.append(None)
            elif item.get("status") == 409:
                conflicts.append(i)
                out.append(None)
            else:
                out.append(self._item_error(record.key, item))
        if conflicts:
            try:
                with _unavailable("read claimed keys"):
                    docs = self._es.mget(index=self._index, ids=[records[i].key for i in conflicts])["docs"]
            except StoreUnavailable as exc:
                docs = [{"error": str(exc)} for _ in conflicts]
            for i, doc in zip(conflicts, docs, strict=True):
                if doc.get("found"):
                    out[i] = Record.from_doc(doc["_source"], (int(doc["_seq_no"]), int(doc["_primary_term"])))
                else:  # deleted in between (not in normal operation), or the read failed: claim it again alone
                    out[i] = StoreUnavailable(f"claimed key {records[i].key} could not be read")
        return out

    def replace_many(self, records: Sequence[Record]) -> list[bool | StoreUnavailable]:
        if not records:
            return []
        operations: list[dict[str, Any]] = []
        for record in records:
            action: dict[str, Any] = {"_index": self._index, "_id": record.key}
            if record.token is not None:
                action.update(if_seq_no=record.token[0], if_primary_term=record.token[1])
            operations += [{"index": action}, record.doc()]
        try:
            items = self._bulk(operations, f"write {len(records)} records")
        except StoreUnavailable as exc:
            return [exc for _ in records]
        out: list[bool | StoreUnavailable] = []
        for record, item in zip(records, items, strict=True):
            if item.get("status") in (200, 201):
                record.token = (int(item["_seq_no"]), int(item["_primary_term"]))
                out.append(True)
            elif item.get("status") == 409:
                out.append(False)
            else:
                out.append(self._item_error(record.key, item))
        return out

    def make_searchable(self) -> None:
        if not self._unsearched:
            return
        self._unsearched = False
        try:
            with _unavailable("refresh"):
                self._es.indices.refresh(index=self._index)
        except BaseException:
            self._unsearched = True
            raise

    def alerted_suppliers(self, notice_id: str, before_version: int) -> set[str]:
        query = {
            "bool": {
                "filter": [
                    {"term": {"notice_ids": notice_id}},
                    {"term": {"state": State.SENT.value}},
                    {"terms": {"kind": ["new_match", "amendment"]}},
                    {"range": {"notice_version": {"lt": before_version}}},
                ]
            }
        }
        return {r.supplier_id for r in self._search(query)}

    def find(
        self,
        *,
        states: Iterable[State],
        supplier_id: str | None = None,
        notice_id: str | None = None,
        kind: str | None = None,
    ) -> list[Record]:
        filters: list[dict[str, Any]] = [{"terms": {"state": [s.value for s in states]}}]
        if supplier_id is not None:
            filters.append({"term": {"supplier_id": supplier_id}})
        if notice_id is not None:
            filters.append({"term": {"notice_ids": notice_id}})
        if kind is not None:
            filters.append({"term": {"kind": kind}})
        return self._search({"bool": {"filter": filters}})

    def _search(self, query: dict[str, Any]) -> list[Record]:
        if self._unsearched:
            self.make_searchable()
        out: list[Record] = []
        search_after: list[Any] | None = None
        while True:
            extra: dict[str, Any] = {"search_after": search_after} if search_after else {}
            resp = self._es.search(
                index=self._index, query=query, size=1000, sort=[{"key": "asc"}], seq_no_primary_term=True, **extra
            )
            hits = resp["hits"]["hits"]
            for hit in hits:
                token = (int(hit["_seq_no"]), int(hit["_primary_term"])) if "_seq_no" in hit else None
                out.append(Record.from_doc(hit["_source"], token))
            if len(hits) < 1000:
                return out
            search_after = hits[-1]["sort"]

    def save_unsubscribe(self, item: Unsubscribe) -> None:
        doc = {"supplier_id": item.supplier_id, "at": item.at.isoformat(), "synced": item.synced}
        self._es.index(index=self._unsub, id=item.supplier_id, document=doc, refresh=True)

    def unsubscribes(self) -> list[Unsubscribe]:
        resp = self._es.search(index=self._unsub, query={"match_all": {}}, size=10_000)
        return [
            Unsubscribe(h["_source"]["supplier_id"], datetime.fromisoformat(h["_source"]["at"]), h["_source"]["synced"])
            for h in resp["hits"]["hits"]
        ]


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

"""The notifier's durable state: the Elasticsearch adapter of the ``NotificationStore`` port (``ports.py``).

One document per idempotency key in ``<prefix>-notifications`` (document id = the key, created with
``op_type=create`` so a second claim of the same key gets 409), and one per unsubscribed supplier in
``<prefix>-notifier-unsubscribes``. Updates of a claimed record use optimistic concurrency (``if_seq_no`` /
``if_primary_term``) so two notifiers cannot both take over an abandoned record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

from elasticsearch import ApiError, BadRequestError, ConflictError, Elasticsearch, NotFoundError, TransportError

from services.notifier.exceptions import StoreUnavailable
from services.notifier.ports import Record, State, Unsubscribe


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

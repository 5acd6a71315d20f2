"""Durable state: what was published per notice and per award, and where each source stopped.

sqlite3 in ``TB_INGEST_STATE_DIR``: one file, transactions that survive a crash (WAL), no server to run, and
ingest is the only writer. A batch's notice states, rejection fingerprints and source checkpoint are written in
one transaction, after the producer flushed, so the state never claims more than Kafka holds.

Several processes may share a state directory (``run`` and a one-shot ``publish`` beside it): ``exclusive()``
holds an ``flock`` on ``ingest-state.lock`` there from a batch's first read of the known versions to its commit,
so two processes never both read version N and both publish N+1. The kernel drops the lock with the process, so
a killed holder never blocks the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from contracts import AwardRecord, NoticeStatus, TenderNotice
from services.ingest.domain.versioning import Known, KnownAward
from services.ingest.ports import Checkpoint

log = logging.getLogger(__name__)

#: A wait for another process's batch at least this long is logged (shorter ones only the first time).
LONG_WAIT_S = 5.0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS notices (
    notice_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL,
    notice_json TEXT NOT NULL, updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS awards (
    award_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, version INTEGER NOT NULL, award_json TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS rejections (fingerprint TEXT PRIMARY KEY, seen_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS checkpoints (
    source TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, body_hash TEXT, cursor TEXT,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
"""


class SqliteStateStore:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "ingest-state.sqlite3"
        self._lock = threading.Lock()  # the HTTP push and the pollers share one store
        # Opened once; ``flock`` locks belong to this open file and end when it closes (or the process dies).
        self.lock_path = directory / "ingest-state.lock"
        self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        # Two processes opening a new state at once: switching it to WAL needs the database to itself, and SQLite
        # answers "database is locked" at once rather than wait; they take turns on the lock file instead.
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        # Threads of this process share the descriptor, which the kernel would let through: they queue here.
        self._batch = threading.Lock()
        self._waited = False

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._batch:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(self._lock_fd, 20, 0).decode(errors="replace").strip() or "?"
                # Said once: two busy processes take turns every batch. A long wait is always told (afterwards).
                log.log(
                    logging.DEBUG if self._waited else logging.INFO,
                    "ingest state %s is in use by process %s: waiting for its batch to end (the processes sharing"
                    " it take turns per batch; later waits are logged only when longer than %.0f s)",
                    self.path,
                    holder,
                    LONG_WAIT_S,
                )
                self._waited = True
                started = time.monotonic()
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # blocks; the holder's exit releases it
                waited = time.monotonic() - started
                level = logging.WARNING if waited >= LONG_WAIT_S else logging.DEBUG
                log.log(level, "ingest state %s: waited %.1f s for process %s", self.path, waited, holder)
            try:
                os.pwrite(self._lock_fd, f"{os.getpid():<20}".encode(), 0)  # one fixed-width write: never empty
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def known(self, notice_id: str) -> Known | None:
        with self._lock:
            row = self._db.execute(
                "SELECT content_hash, version, status, notice_json FROM notices WHERE notice_id = ?", (notice_id,)
            ).fetchone()
        if row is None:
            return None
        return Known(row[0], int(row[1]), NoticeStatus(row[2]), TenderNotice.model_validate_json(row[3]))

    def known_award(self, award_id: str) -> KnownAward | None:
        with self._lock:
            row = self._db.execute(
                "SELECT content_hash, version, award_json FROM awards WHERE award_id = ?", (award_id,)
            ).fetchone()
        return None if row is None else KnownAward(row[0], int(row[1]), AwardRecord.model_validate_json(row[2]))

    def rejection_seen(self, fingerprint: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM rejections WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return row is not None

    def commit(
        self,
        notices: Sequence[TenderNotice],
        rejections: Sequence[str],
        checkpoint: tuple[str, Checkpoint] | None = None,
        awards: Sequence[AwardRecord] = (),
    ) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO notices (notice_id, content_hash, version, status, notice_json)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(notice_id) DO UPDATE SET content_hash = excluded.content_hash,"
                    " version = excluded.version, status = excluded.status, notice_json = excluded.notice_json,"
                    " updated_at = CURRENT_TIMESTAMP",
                    [(n.notice_id, n.content_hash, n.version, n.status.value, n.model_dump_json()) for n in notices],
                )
                self._db.executemany(
                    "INSERT INTO awards (award_id, content_hash, version, award_json) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(award_id) DO UPDATE SET content_hash = excluded.content_hash,"
                    " version = excluded.version, award_json = excluded.award_json, updated_at = CURRENT_TIMESTAMP",
                    [(a.award_id, a.content_hash, a.version, a.model_dump_json()) for a in awards],
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO rejections (fingerprint) VALUES (?)", [(f,) for f in rejections]
                )
                if checkpoint is not None:
                    source, cp = checkpoint
                    self._db.execute(
                        "INSERT INTO checkpoints (source, etag, last_modified, body_hash, cursor)"
                        " VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT(source) DO UPDATE SET etag = excluded.etag,"
                        " last_modified = excluded.last_modified, body_hash = excluded.body_hash,"
                        " cursor = excluded.cursor, updated_at = CURRENT_TIMESTAMP",
                        (source, cp.etag, cp.last_modified, cp.body_hash, cp.cursor),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def checkpoint(self, source: str) -> Checkpoint | None:
        with self._lock:
            row = self._db.execute(
                "SELECT etag, last_modified, body_hash, cursor FROM checkpoints WHERE source = ?", (source,)
            ).fetchone()
        return None if row is None else Checkpoint(*row)

    def ping(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1").fetchone() is not None

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._batch:
            os.close(self._lock_fd)

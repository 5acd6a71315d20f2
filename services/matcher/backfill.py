"""Backfill: rank the stored notices of a period again (a new supplier base, new weights) and keep only what changed.

- **What it reads**: ``NoticeStore.published_between``, page by page in (publication time, notice id) order
  (search_after on Elasticsearch), one reader; a notice without a publication time is in no period.
- **What it writes**: each open notice's current version is ranked again (``Matcher.rerank_stored``, the comparison
  of ``rematch``); a shortlist whose entries (suppliers, order, scores, reasons) equal the stored one is left alone,
  neither stored nor published; a changed one is stored and published. A notice closed since (its deadline passed)
  or cancelled is counted and left as it is: ranked now, its passed deadline would exclude every supplier and wipe
  the buyer's record, and nobody can bid on it any more. Nobody is emailed twice: a republished version reaches the
  notifier under the same idempotency keys (``<supplier>|<notice>|<version>|<kind>``), so only a supplier new on
  the shortlist gets an email.
- **Workers**: ``workers`` threads take the notices the reader hands out, each notice to exactly one of them (disjoint
  slices of the period, balanced by whoever is free). They share one matcher and its model; ranking is Python
  (one core at a time), so more workers help as far as the store's round trips leave a core idle.
- **Resumable**: the checkpoint is the place (publication time, notice id) up to which every notice is done, saved
  (after the publisher is flushed) each time it moves on by ``page`` notices, and at the end. A run killed midway
  starts again there: at most the notices after it are ranked again, and those already stored come out unchanged
  and are not republished. The place does not depend on the number of workers, so a run may resume with another.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from contracts import TenderNotice
from services.matcher.exceptions import InvalidInput
from services.matcher.ports import Checkpoints, NoticeCursor
from services.matcher.service import Matcher

log = logging.getLogger(__name__)

#: Notices read per request, and how far the done place moves between two checkpoints.
BACKFILL_PAGE = 200


class Outcome(StrEnum):
    """What the backfill did with one notice."""

    CHANGED = "changed"  #: ranked again to another shortlist: stored and published
    UNCHANGED = "unchanged"  #: ranked again to the same shortlist: nothing written
    CLOSED = "closed"  #: deadline passed or cancelled: not ranked, its shortlist left as it is


@dataclass(frozen=True)
class Period:
    """Notices published at or after ``since`` and before ``until`` (``None``: up to now and beyond)."""

    since: datetime
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name, at in (("since", self.since), ("until", self.until)):
            if at is not None and at.tzinfo is None:
                raise InvalidInput(f"{name} must say its time zone (got {at.isoformat()})")
        if self.until is not None and self.until <= self.since:
            raise InvalidInput(
                f"the period is empty: until ({self.until.isoformat()}) must be later than since "
                f"({self.since.isoformat()})"
            )

    def state(self) -> dict[str, str | None]:
        return {"since": self.since.isoformat(), "until": None if self.until is None else self.until.isoformat()}


@dataclass(frozen=True)
class BackfillReport:
    #: Notices the period holds.
    total: int
    #: Notices done by an earlier run and not looked at again (the checkpoint's count).
    resumed: int
    #: What this run did, by ``Outcome``.
    outcomes: dict[Outcome, int]

    @property
    def done(self) -> int:
        return sum(self.outcomes.values())


class _Watermark:
    """The place up to which every notice handed out is done: notices finish out of order across workers, the
    checkpoint may only name a place with nothing undone before it."""

    def __init__(self, done: int) -> None:
        self.done = done  # notices done before the first one handed out, plus those done contiguously since
        self.cursor: NoticeCursor | None = None
        self._next = 0  # sequence number of the next notice handed out
        self._low = 0  # lowest sequence number not yet done
        self._finished: set[int] = set()
        self._cursors: dict[int, NoticeCursor] = {}

    def hand_out(self, notice: TenderNotice) -> int:
        seq = self._next
        self._next += 1
        assert notice.published_at is not None  # in a period, so published
        self._cursors[seq] = NoticeCursor(notice.published_at, notice.notice_id)
        return seq

    def finish(self, seq: int) -> bool:
        """Mark done; ``True`` when the place moved on."""
        self._finished.add(seq)
        moved = False
        while self._low in self._finished:
            self._finished.discard(self._low)
            self.cursor = self._cursors.pop(self._low)
            self._low += 1
            self.done += 1
            moved = True
        return moved


class Backfill:
    """``run`` one period over ``matcher`` with its place kept in ``checkpoints``."""

    def __init__(self, matcher: Matcher, checkpoints: Checkpoints, page: int = BACKFILL_PAGE) -> None:
        if page < 1:
            raise InvalidInput(f"page must be at least 1, got {page}")
        self.matcher = matcher
        self.checkpoints = checkpoints
        self.page = page

    def _resume(self, period: Period, restart: bool) -> tuple[NoticeCursor | None, int, bool]:
        """The place, count and finished flag to start from (``None, 0, False``: the beginning)."""
        state = None if restart else self.checkpoints.load()
        if state is None:
            return None, 0, False
        if state.get("period") != period.state():
            raise InvalidInput(
                f"the checkpoint is of another period ({state.get('period')}); start this one from the beginning "
                "(restart) or keep its checkpoint elsewhere"
            )
        at = state.get("after")
        cursor = None if at is None else NoticeCursor(datetime.fromisoformat(at[0]), at[1])
        return cursor, int(state.get("done", 0)), bool(state.get("finished", False))

    def _save(self, period: Period, mark: _Watermark, after: NoticeCursor | None, finished: bool) -> None:
        state: dict[str, Any] = {
            "period": period.state(),
            "after": None if after is None else [after.published_at.isoformat(), after.notice_id],
            "done": mark.done,
            "finished": finished,
        }
        self.checkpoints.save(state)

    def run(
        self,
        period: Period,
        workers: int = 1,
        *,
        restart: bool = False,
        on_start: Callable[[int, int], None] | None = None,
        on_notice: Callable[[str, Outcome], None] | None = None,
    ) -> BackfillReport:
        """Rank the period's notices again with ``workers`` threads, from the checkpoint on (``restart``: from the
        beginning). ``on_start(total, resumed)`` once the period's size is known; ``on_notice(notice_id, outcome)``
        after each notice, from the worker's thread. An error in a worker stops the run and is raised here, the
        checkpoint left at the last place with nothing undone before it."""
        if workers < 1:
            raise InvalidInput(f"workers must be at least 1, got {workers}")
        after, resumed, finished = self._resume(period, restart)
        # Counted first: the count refreshes the index, so the pages see every notice stored until now.
        total = self.matcher.notices.count_published(period.since, period.until)
        first = self.matcher.notices.published_between(period.since, period.until, after, self.page)
        if on_start is not None:
            on_start(total, resumed)
        outcomes: Counter[Outcome] = Counter()
        if finished:
            return BackfillReport(total, resumed, dict(outcomes))
        mark = _Watermark(resumed)
        lock = threading.Lock()
        saved_at = [resumed]
        work: queue.Queue[tuple[int, TenderNotice] | None] = queue.Queue(maxsize=2 * self.page)
        stop = threading.Event()
        errors: list[BaseException] = []

        def worker() -> None:
            while (item := work.get()) is not None:
                if stop.is_set():
                    continue  # drain: the reader must never block on a full queue nobody reads
                seq, notice = item
                try:
                    outcome = self._one(notice)
                    if on_notice is not None:
                        on_notice(notice.notice_id, outcome)
                except BaseException as exc:  # handed to the caller's thread, which raises it
                    with lock:
                        errors.append(exc)
                    stop.set()
                    continue
                with lock:
                    outcomes[outcome] += 1
                    if mark.finish(seq) and mark.done - saved_at[0] >= self.page:
                        # Flushed first: a notice the checkpoint counts as done has its shortlist on the bus.
                        self.matcher.publisher.flush()
                        self._save(period, mark, mark.cursor, finished=False)
                        saved_at[0] = mark.done

        threads = [threading.Thread(target=worker, name=f"backfill-{i}", daemon=True) for i in range(workers)]
        for t in threads:
            t.start()
        try:
            page = first
            while page and not stop.is_set():
                for notice in page:
                    with lock:
                        seq = mark.hand_out(notice)
                    work.put((seq, notice))
                if len(page) < self.page:
                    break
                last = page[-1]
                assert last.published_at is not None
                page = self.matcher.notices.published_between(
                    period.since, period.until, NoticeCursor(last.published_at, last.notice_id), self.page
                )
        finally:
            for _ in threads:
                work.put(None)
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        self.matcher.publisher.flush()
        self._save(period, mark, mark.cursor or after, finished=True)
        log.info("backfill of %s: %d notices, %d resumed, %s", period.state(), total, resumed, dict(outcomes))
        return BackfillReport(total, resumed, dict(outcomes))

    def _one(self, notice: TenderNotice) -> Outcome:
        if not notice.is_open(self.matcher.clock()):
            return Outcome.CLOSED
        return Outcome.CHANGED if self.matcher.rerank_stored(notice) else Outcome.UNCHANGED

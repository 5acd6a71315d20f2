"""The awards worker: consume ``awards.records``, build the supplier base from them (``import_awards``: entity
resolution, a ``PastAward`` with its evidence per award, prospects for firms known only from awards), then commit.
Each poll's resolver is seeded with the stored profiles its records' winners may join, found by a query of the
store (``ProfileStore.find_by_keys``), not with every profile; unchanged profiles come from the store's cache of
parsed profiles (``TB_MATCHER_PROFILE_CACHE_SIZE``), so a busy topic does not parse the supplier base again per poll.

At-least-once and idempotent: the records of a poll are imported together (each award is attached once, by its
award id, so a redelivered batch changes nothing) and offsets are committed only after the profiles are stored and
the publisher flushed (the profiles topic, and the shortlists that the new prospects changed). A message that is not
an ``AwardRecord`` goes to ``awards.records.dlq`` with the reason, then is committed; a tombstone (the topic is
compacted: a producer may delete a key) is skipped. When Elasticsearch does not answer, nothing of the batch is
committed and it is handed over again after a back-off; any other error stops the worker without committing. The
loop and that policy are ``services.infra.bus.ConsumerLoop``'s. It runs in its own consumer group
(``TB_MATCHER_AWARDS_CONSUMER_GROUP``) beside the notice worker, in ``python -m services.matcher run``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts import DeadLetter
from contracts.award import AwardRecord
from services.infra.bus import Unreadable, dead_letter, read_message
from services.matcher.awards import AwardImportReport, import_awards
from services.matcher.entrypoints.worker import MatcherWorker
from services.matcher.exceptions import StoreUnavailable
from services.matcher.service import Matcher
from services.matcher.settings import Settings

log = logging.getLogger(__name__)

#: Award records fetched per poll, imported together (one resolution pass, one write per profile).
MAX_POLL_RECORDS = 200


@dataclass
class AwardBatch:
    """A poll's messages read: the award records to import, the dead letters to publish (key, letter), tombstones."""

    records: list[AwardRecord] = field(default_factory=list)
    letters: list[tuple[str, DeadLetter]] = field(default_factory=list)
    tombstones: int = 0


def read_batch(records: list[Any]) -> AwardBatch:
    """Sort a poll's raw messages into award records, dead letters (with the reason) and tombstones."""
    out = AwardBatch()
    for record in records:
        key = record.key.decode("utf-8", errors="replace") if record.key is not None else None
        if record.value is None:
            out.tombstones += 1
            continue
        award = read_message(record.value, AwardRecord, "award")
        if isinstance(award, Unreadable):
            letter = dead_letter("matcher", record.topic, award.reason, award.detail, record.value, key=key)
            out.letters.append((key or "unknown", letter))
        else:
            out.records.append(award)
    return out


def handle_batch(matcher: Matcher, dlq_topic: str, records: list[Any], *, retry: bool = False) -> AwardImportReport:
    """Import a poll's award records and dead-letter the unreadable ones (the caller flushes). Raises
    ``StoreUnavailable`` before any dead letter is published, so a batch retried later is not dead-lettered twice.
    ``retry``: the batch (or one before it) was cut short by an outage: the profiles its records name are re-matched
    even when they gain nothing now (they may have been stored but not re-matched)."""
    batch = read_batch(records)
    report = import_awards(matcher, batch.records, rematch_unchanged=retry) if batch.records else AwardImportReport()
    for key, letter in batch.letters:
        matcher.publisher.publish(dlq_topic, key, letter)
        matcher.metrics.dead_letters.labels(letter.reason).inc()
        log.warning("dead-lettered an award message (key %s): %s: %s", letter.key, letter.reason, letter.detail)
    for supplier_id, reason in report.refused:
        log.warning("awards: the profile of %s was not stored: %s", supplier_id, reason)
    if batch.tombstones:
        log.info("skipped %d tombstones on the awards topic", batch.tombstones)
    return report


class AwardsWorker(MatcherWorker):
    def __init__(
        self,
        matcher: Matcher,
        settings: Settings,
        stop: threading.Event,
        consumer_factory: Callable[[], Any] | None = None,
        initial_backoff: float = 0.5,
    ) -> None:
        super().__init__(matcher, settings, stop, consumer_factory, initial_backoff)
        #: Messages handled (imported, dead-lettered or skipped), new prospects and store failures, for logs and tests.
        self.handled = 0
        self.prospects = 0
        self.store_failures = 0
        #: The last batch was cut short by an outage: the next one re-matches what it names (``handle_batch``).
        self._retrying = False

    def _default_consumer(self) -> Any:
        # A batch re-ranks the open notices its new prospects fit: minutes at worst on a slow store.
        return self._json_consumer(
            self.settings.topic_awards, self.settings.matcher_awards_consumer_group, "matcher-awards", MAX_POLL_RECORDS
        )

    def run(self) -> None:
        loop = self._loop(self._consumer_factory(), self._handle, "awards worker")
        try:
            loop.run()
        finally:
            log.info("awards worker stopped after %d messages (%d new prospects)", self.handled, self.prospects)

    def _handle(self, records: list[Any]) -> int:
        """Import the batch whole, or nothing of it when Elasticsearch does not answer (it comes again)."""
        if self.stop.is_set():
            return 0
        try:
            report = handle_batch(self.matcher, self.settings.topic_awards_dlq, records, retry=self._retrying)
        except StoreUnavailable as exc:
            log.warning("Elasticsearch unavailable, will retry %d award records: %s", len(records), exc)
            self.store_failures += 1
            self._retrying = True
            return 0
        self._retrying = False
        self.handled += len(records)
        self.prospects += report.prospects
        if report.stored:
            log.info(
                "awards: %d records, %d profiles stored (%d new prospects, %d merges)",
                len(records), report.stored, report.prospects, len(report.merges),
            )  # fmt: skip
        return len(records)

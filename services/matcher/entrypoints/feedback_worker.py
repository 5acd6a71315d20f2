"""The feedback worker: consume ``matches.feedback``, store the suppliers' own "not relevant for me" marks
(``by_supplier``, published by the notifier from an alert's link) where ranking reads them, then commit.

Buyers' marks on the same topic are the matcher's own: it stored each when it made it (``Matcher.mark_entry``), so
they are skipped here, never stored or counted twice. At-least-once and idempotent: a mark is stored by its
``feedback_id`` (a redelivery writes the same document again) and offsets are committed only after the batch is
stored and the publisher flushed (the shortlists it changed, the dead letters). The topic is compacted, so a
tombstone (a producer deleting a key) is skipped; a message that is not a ``ShortlistFeedback`` goes to
``matches.feedback.dlq`` (``TB_TOPIC_FEEDBACK_DLQ``) with the reason, then is committed: it will never parse.
When Elasticsearch does not answer, the handled part of the batch is committed and the rest handed over again after
a back-off; any other error stops the worker without committing. The loop and that policy are
``services.infra.bus.ConsumerLoop``'s. It runs in its own consumer group (``TB_MATCHER_FEEDBACK_CONSUMER_GROUP``)
beside the notice worker, in ``python -m services.matcher run``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

from contracts.feedback import ShortlistFeedback
from services.infra.bus import Unreadable, read_message
from services.matcher.entrypoints.worker import MatcherWorker, handle_in_order, set_aside_unreadable
from services.matcher.service import Matcher
from services.matcher.settings import Settings

log = logging.getLogger(__name__)

Outcome = Literal["stored", "buyers", "tombstone", "dead_lettered"]

#: Marks fetched per poll: each is stored (and its notice's shortlist ranked again) before the batch is committed.
MAX_POLL_RECORDS = 50


def handle_message(matcher: Matcher, dlq_topic: str, origin: str, key: bytes | None, value: bytes | None) -> Outcome:
    """Handle one raw message of the feedback topic (``origin``): a mark that does not parse goes to ``dlq_topic``
    with the reason. Raises ``StoreUnavailable`` when Elasticsearch does not answer (nothing is stored then)."""
    if value is None:
        return "tombstone"
    mark = read_message(value, ShortlistFeedback, "feedback")
    if isinstance(mark, Unreadable):
        key_text = key.decode("utf-8", errors="replace") if key is not None else None
        set_aside_unreadable(matcher, dlq_topic, origin, key_text, mark.reason, mark.detail, value)
        return "dead_lettered"
    return "stored" if matcher.store_supplier_mark(mark) else "buyers"


class FeedbackWorker(MatcherWorker):
    def __init__(
        self,
        matcher: Matcher,
        settings: Settings,
        stop: threading.Event,
        consumer_factory: Callable[[], Any] | None = None,
        initial_backoff: float = 0.5,
    ) -> None:
        super().__init__(matcher, settings, stop, consumer_factory, initial_backoff)
        #: Messages by outcome, and store failures seen, for logs and tests.
        self.outcomes: dict[Outcome, int] = {"stored": 0, "buyers": 0, "tombstone": 0, "dead_lettered": 0}
        self.store_failures = 0

    def _default_consumer(self) -> Any:
        # A mark may re-rank its notice: a second or more when Elasticsearch is slow.
        return self._json_consumer(
            self.settings.topic_feedback,
            self.settings.matcher_feedback_consumer_group,
            "matcher-feedback",
            MAX_POLL_RECORDS,
        )

    def run(self) -> None:
        loop = self._loop(self._consumer_factory(), self._handle, "feedback worker")
        try:
            loop.run()
        finally:
            log.info("feedback worker stopped: %s", self.outcomes)

    def _handle(self, records: list[Any]) -> int:
        """Handle the records in order until Elasticsearch fails or a stop is asked for; how many were handled."""

        def one(record: Any) -> None:
            dlq = self.settings.topic_feedback_dlq
            self.outcomes[handle_message(self.matcher, dlq, record.topic, record.key, record.value)] += 1

        done, self.store_failures = handle_in_order(records, self.stop, one, self.store_failures)
        return done

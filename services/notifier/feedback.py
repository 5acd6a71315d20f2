"""The supplier's own "not relevant for me": the mark published on ``matches.feedback`` for the matcher's ranking.

Published and flushed before the page says it is recorded: a ``TransientPublishError`` (Kafka away) reaches the
page, which asks the supplier to try again; publishing the same mark twice is harmless (the topic is compacted on the
mark's id, the latest mark per supplier and notice kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from contracts.feedback import FeedbackReason, ShortlistFeedback
from services.infra.bus import EventPublisher
from services.notifier.domain.not_relevant import NoticeRef, supplier_mark


@dataclass
class SupplierFeedback:
    publisher: EventPublisher
    #: The feedback topic's configured name (``TB_TOPIC_FEEDBACK``).
    topic: str
    clock: Callable[[], datetime]

    def not_relevant(self, ref: NoticeRef, reason: FeedbackReason | None) -> ShortlistFeedback:
        """Publish the supplier's mark that the notice does not fit, with its optional reason; the mark as sent."""
        mark = supplier_mark(ref, reason, self.clock())
        self.publisher.publish(self.topic, mark.feedback_id, mark)
        self.publisher.flush()
        return mark

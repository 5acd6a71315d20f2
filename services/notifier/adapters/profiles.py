"""Reading the compacted ``suppliers.profiles`` topic into the ``ProfileDirectory``.

A plain consumer without a group: all partitions assigned, read from the beginning at start (compaction keeps the
latest profile per supplier forever, so the topic itself is the durable store), then ``catch_up()`` before every
shortlist batch reads up to the end offsets observed at that moment. The matcher publishes a profile before any
shortlist that contains it, so after a catch-up no shortlist meets a supplier that exists but is not known yet.
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from contracts import SupplierProfile
from services.infra.bus import records_to_end
from services.notifier.domain.profiles import ProfileDirectory

log = logging.getLogger(__name__)


class KafkaProfileFeed:
    def __init__(self, bootstrap_servers: str, topic: str, directory: ProfileDirectory, client_id: str) -> None:
        self._topic = topic
        self._directory = directory
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=1000,
        )
        self._partitions: list[TopicPartition] = []
        #: Profiles that could not be read (kept out of the directory; counted for /metrics).
        self.invalid = 0

    def _assign(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            parts = self._consumer.partitions_for_topic(self._topic)
            if parts:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {self._topic!r} has no partitions (does it exist?)")
            time.sleep(0.2)
        self._partitions = [TopicPartition(self._topic, p) for p in sorted(parts)]
        self._consumer.assign(self._partitions)
        self._consumer.seek_to_beginning(*self._partitions)

    def catch_up(self, timeout_s: float = 30.0) -> int:
        """Read every profile published up to now; returns how many records were applied."""
        if not self._partitions:
            self._assign(timeout_s)
        applied = 0
        for record in records_to_end(self._consumer, self._partitions, timeout_s, repr(self._topic)):
            self._apply(record.key, record.value)
            applied += 1
        return applied

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        supplier_id = key.decode("utf-8", "replace") if key else None
        if value is None:
            if supplier_id:
                self._directory.delete(supplier_id)
            return
        try:
            profile = SupplierProfile.model_validate_json(value)
        except ValidationError as exc:
            # The matcher owns this topic and validates before publishing; a bad record here is its bug. The
            # previous profile (if any) stays in use.
            self.invalid += 1
            log.warning("invalid supplier profile for key %s: %s", supplier_id, exc.errors()[:1])
            return
        self._directory.put(profile)

    def close(self) -> None:
        self._consumer.close()

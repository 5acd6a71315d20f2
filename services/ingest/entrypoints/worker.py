"""Poller threads: each source polled at its interval; a stop lets the current batch finish and commit."""

from __future__ import annotations

import logging
import threading

from services.infra.exceptions import TransientPublishError
from services.ingest.exceptions import FetchError
from services.ingest.polling import Poller

log = logging.getLogger(__name__)


class PollerThreads:
    def __init__(self, pollers: list[Poller], default_interval_s: float) -> None:
        self.pollers = pollers
        self.default_interval_s = default_interval_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for poller in self.pollers:
            thread = threading.Thread(target=self._loop, args=(poller,), name=f"poll-{poller.spec.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._threads)

    def stop(self, timeout_s: float = 60.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def _loop(self, poller: Poller) -> None:
        interval = poller.spec.interval_s or self.default_interval_s
        while not self._stop.is_set():
            try:
                stats = poller.poll_once(self._stop.is_set)
                quiet = not stats.published and not stats.rejected and not stats.unchanged
                log.log(logging.DEBUG if quiet else logging.INFO, "source %s: %s", poller.spec.name, stats.summary())
            except (FetchError, TransientPublishError) as exc:
                # An unreachable source or Kafka is expected now and then: the checkpoint did not move, nothing was
                # committed; the next poll reads and publishes the same records again.
                log.warning("source %s: %s", poller.spec.name, exc)
                poller.update_lag()
            self._stop.wait(interval)

"""``kill -9`` of a running notifier process in the middle of a stream of shortlists, then a restart of the same
instance: every due email arrives exactly once (the restarted process resends what the killed one had claimed but
not finished, and nothing it had finished)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from contracts import NotificationEvent
from services.notifier.settings import Settings
from tests.conftest import REPO, Endpoints
from tests.integration.notifier.helpers import (
    Sink,
    free_port,
    isolated_settings,
    prepare,
    publish,
    read_topic,
    wait_until,
)
from tests.unit.notifier.factories import notice, profile, shortlist

pytestmark = pytest.mark.integration


def env_of(settings: Settings) -> dict[str, str]:
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        env[f"TB_{name.upper()}"] = str(raw).lower() if isinstance(raw, bool) else str(raw)
    return env


def start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.notifier", "run"],
            env={**os.environ, **env_of(settings)},
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{settings.notifier_http_port}/readyz"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return proc.poll() is not None

    wait_until(ready, 90, "the notifier process to be ready")
    assert proc.poll() is None, log.read_text()[-3000:]
    return proc


def test_kill_9_mid_stream_then_restart_delivers_every_email_exactly_once(
    endpoints: Endpoints, unique: Callable[[str], str], tmp_path: Path
) -> None:
    sink = Sink().start()
    settings = isolated_settings(
        endpoints,
        unique,
        sink.port,
        notifier_http_port=free_port(),
        notifier_rate_limit_per_s=40,  # slow enough to be killed in the middle
        notifier_instance_id="kill-test",
        notifier_digest_interval_s=3600,
    )
    prepare(settings)
    suppliers = [profile(f"k{i}") for i in range(12)]
    publish(settings, *suppliers)
    shortlists = [shortlist(notice(str(n)), [f"k{(n + j) % 12}" for j in range(3)]) for n in range(30)]
    due = {f"{e.supplier_id}|{s.notice_id}|1|new_match" for s in shortlists for e in s.entries}
    log = tmp_path / "notifier.log"
    proc = start(settings, log)
    try:
        publish(settings, *shortlists)
        wait_until(lambda: len(sink.handler.messages) >= 15, 60, "the first emails")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        at_kill = len(sink.handler.messages)
        assert at_kill < len(due), "killed after the stream was done: not a mid-stream crash"
        proc = start(settings, log)
        sink.wait_for(len(due), timeout=120)
        time.sleep(1.5)  # a late duplicate would show up here
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        sink.stop()
    counts = Counter(sink.keys())
    assert set(counts) == due
    assert max(counts.values()) == 1, [k for k, c in counts.items() if c > 1]
    statuses = Counter(
        e.status.value
        for _, e in read_topic(settings.kafka_bootstrap_servers, settings.topic_notifications, NotificationEvent)
    )
    assert statuses["parked"] == 0
    assert proc.returncode == 0, log.read_text()[-3000:]

"""``python -m services.matcher``: keys created by the CLI work over HTTP; ``run`` answers and stops cleanly on
SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from services.infra.net import free_port
from tests.conftest import REPO, Endpoints
from tests.unit.matcher_service.builders import supplier

pytestmark = pytest.mark.integration


def test_create_key_import_run_and_sigterm(endpoints: Endpoints, unique: Callable[[str], str], tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {
        "TB_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "TB_ELASTICSEARCH_URL": endpoints.elasticsearch_url,
        "TB_MATCHER_INDEX_PREFIX": unique("cli"),
        "TB_MATCHER_CONSUMER_GROUP": unique("cli-group"),
        "TB_TOPIC_NOTICES": unique("notices"),
        "TB_TOPIC_PROFILES": unique("profiles"),
        "TB_TOPIC_SHORTLISTS": unique("shortlists"),
        "TB_MATCHER_HTTP_PORT": str(port),
    }
    cli = [sys.executable, "-m", "services.matcher"]

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)

    key = call("create-key", "--role", "buyer", "--agency", "UNICEF")
    assert key.returncode == 0, key.stderr
    token = key.stdout.strip()
    assert token.startswith("tbk_")
    assert call("create-key", "--role", "supplier").returncode == 2  # a supplier key needs --supplier-id

    profiles = tmp_path / "suppliers.jsonl"
    profiles.write_text(supplier("C1").model_dump_json() + "\n{broken\n", encoding="utf-8")
    imported = call("import-suppliers", str(profiles))
    assert imported.returncode == 1  # one line rejected, and said so
    assert "line 2" in imported.stderr
    assert "imported 1, unchanged 0, rejected 1" in imported.stderr
    again = call("import-suppliers", str(profiles))  # the same file again: the stored profile already says it all
    assert "imported 0, unchanged 1, rejected 1" in again.stderr
    # A line the profile limits refuse (more addresses than TB_MATCHER_MAX_EMAILS_PER_PROFILE) is named too.
    crowded = supplier("C2").model_copy(update={"emails": [f"c2-{i}@example.com" for i in range(3)]})
    limited = tmp_path / "limited.jsonl"
    limited.write_text(supplier("C3").model_dump_json() + "\n" + crowded.model_dump_json() + "\n", encoding="utf-8")
    refused = subprocess.run(
        [*cli, "import-suppliers", str(limited)],
        env=env | {"TB_MATCHER_MAX_EMAILS_PER_PROFILE": "2"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "line 2: supplier C2:" in refused.stderr
    assert "imported 1, unchanged 0, rejected 1" in refused.stderr

    proc = subprocess.Popen([*cli, "run"], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert ready is not None
        assert ready.json()["checks"] == {"elasticsearch": True, "kafka": True}
        got = httpx.get(f"{base}/suppliers/C1", headers={"X-API-Key": token}, timeout=10)
        assert got.json()["supplier_id"] == "C1"
        assert httpx.get(f"{base}/suppliers/C1", headers={"X-API-Key": "wrong"}, timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, output
    assert "notice worker stopped" in output

"""Two real ``python -m services.ingest publish`` processes on one state directory (as ``make run`` and a one-shot
publish beside it), both changing the same notices at once: every version of a notice is published exactly once,
numbered 1..n without a gap, because each batch holds the state's lock from its first read to its commit."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from contracts import TenderNotice
from tests.conftest import REPO, Endpoints
from tests.integration.ingest.helpers import ingest_env, read_topic

pytestmark = pytest.mark.integration

NOTICES = 40
FILES = 6  # per process


def write_revisions(directory: Path, writer: str) -> None:
    """``FILES`` files that each change all ``NOTICES`` notices (every file's text is its own, so each re-read of a
    notice is a change and gets the next version)."""
    directory.mkdir()
    for k in range(FILES):
        lines = [
            orjson.dumps(
                {
                    "notice_id": f"push:{i}",
                    "source": "push",
                    "source_id": str(i),
                    "title": f"Water pumps lot {i}, revision {k} from {writer}",
                    "language": "en",
                    "buyer": {"name": "UNICEF"},
                }
            )
            for i in range(NOTICES)
        ]
        (directory / f"{k:02d}.jsonl").write_bytes(b"\n".join(lines) + b"\n")


def test_two_processes_never_publish_a_version_twice(
    endpoints: Endpoints, tmp_path: Path, topics: tuple[str, str]
) -> None:
    notices, dlq = topics
    for writer in ("a", "b"):
        write_revisions(tmp_path / writer, writer)
    # Small batches: the two processes take turns many times while both run.
    env = ingest_env(endpoints, notices, dlq, tmp_path / "state", TB_INGEST_BATCH_SIZE="7")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "services.ingest", "publish", str(tmp_path / writer), "--source", "jsonl"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for writer in ("a", "b")
    ]
    said = [proc.communicate(timeout=120)[1] for proc in procs]  # both waited for (and their pipes closed)
    for proc, stderr in zip(procs, said, strict=True):
        assert proc.returncode == 0, stderr

    expected = NOTICES * FILES * 2
    got = read_topic(endpoints.kafka_bootstrap, notices, expected)
    versions: defaultdict[str, list[int]] = defaultdict(list)
    titles: Counter[str] = Counter()
    for key, value in got:
        notice = TenderNotice.model_validate_json(value)
        assert key == notice.notice_id
        versions[notice.notice_id].append(notice.version)
        titles[notice.title] += 1
    duplicates = {nid: sorted(v) for nid, v in versions.items() if len(v) != len(set(v))}
    assert not duplicates, f"versions published twice: {duplicates}"
    assert {nid: sorted(v) for nid, v in versions.items()} == {
        f"push:{i}": list(range(1, 2 * FILES + 1)) for i in range(NOTICES)
    }
    # Every revision of every notice was published once: none lost, none repeated.
    assert len(titles) == expected
    assert set(titles.values()) == {1}

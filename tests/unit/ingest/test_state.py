"""The sqlite state store on a temporary file: what a restart finds, and all-or-nothing commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import NoticeStatus, TenderNotice
from services.ingest.adapters.state import SqliteStateStore
from services.ingest.ports import Checkpoint

pytestmark = pytest.mark.unit


def notice(version: int = 1, title: str = "Pumps") -> TenderNotice:
    return TenderNotice(
        notice_id="ted:1-2026", source="ted", source_id="1-2026", version=version, title=title,
        buyer={"name": "Agency"}, content_hash=f"h{version}",
    )  # type: ignore[arg-type]  # fmt: skip


def test_state_survives_a_restart(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path)
    store.commit([notice()], ["fp1"], ("feed", Checkpoint(etag='"e1"', cursor="https://x/p2")))
    store.commit([notice(2, "Solar pumps")], [], None)
    store.close()
    reopened = SqliteStateStore(tmp_path)
    known = reopened.known("ted:1-2026")
    assert known is not None
    assert (known.version, known.content_hash, known.status) == (2, "h2", NoticeStatus.ACTIVE)
    assert known.notice is not None
    assert known.notice.title == "Solar pumps"
    assert reopened.rejection_seen("fp1")
    assert not reopened.rejection_seen("fp2")
    assert reopened.checkpoint("feed") == Checkpoint(etag='"e1"', cursor="https://x/p2")
    assert reopened.checkpoint("other") is None
    assert reopened.known("ted:2-2026") is None


def test_a_failed_commit_leaves_nothing_behind(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path)

    class Boom(Exception):
        pass

    class Exploding(str):
        def __conform__(self, protocol: object) -> str:
            raise Boom

    with pytest.raises(Boom):
        store.commit([notice()], [Exploding("fp")], None)
    assert store.known("ted:1-2026") is None

"""``make run``'s demo data: reused while its notices are open, a new batch once most of them have closed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.demo.data import generate_notices
from services.devrun import DEMO_NOTICES, prepare_demo_data

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def _write(demo: Path) -> tuple[str, str]:
    demo.mkdir()
    notices = "".join(f"{n.model_dump_json()}\n" for n in generate_notices(20, seed=7, now=T0))
    (demo / "notices.jsonl").write_text(notices, encoding="utf-8")
    (demo / "suppliers.jsonl").write_text('{"supplier_id": "kept as it is"}\n', encoding="utf-8")
    return notices, (demo / "suppliers.jsonl").read_text(encoding="utf-8")


def _ids(path: Path) -> set[str]:
    return {json.loads(line)["notice_id"] for line in path.read_text(encoding="utf-8").splitlines()}


def test_demo_notices_are_reused_while_most_are_open(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    notices, _ = _write(demo)
    # Deadlines are 3-40 days out: after 10 days some have closed, not most.
    for later in (timedelta(0), timedelta(days=10)):
        assert prepare_demo_data(demo, T0 + later) is None
        assert (demo / "notices.jsonl").read_text(encoding="utf-8") == notices


def test_a_new_batch_of_notices_replaces_closed_ones(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    _, suppliers = _write(demo)
    old = _ids(demo / "notices.jsonl")
    later = T0 + timedelta(days=60)

    said = prepare_demo_data(demo, later)

    assert said == f"20 of the 20 demo notices had closed: wrote {DEMO_NOTICES} new ones"
    fresh = [json.loads(line) for line in (demo / "notices.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(fresh) == DEMO_NOTICES
    assert not old & {n["notice_id"] for n in fresh}, "new notices, not amendments of the closed ones"
    assert all(datetime.fromisoformat(n["deadline_at"]) > later for n in fresh)
    assert (demo / "suppliers.jsonl").read_text(encoding="utf-8") == suppliers
    # The same day again: the new batch is open, nothing is rewritten.
    rewritten = (demo / "notices.jsonl").read_text(encoding="utf-8")
    assert prepare_demo_data(demo, later + timedelta(hours=1)) is None
    assert (demo / "notices.jsonl").read_text(encoding="utf-8") == rewritten

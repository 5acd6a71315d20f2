"""``make run``: its demo data (reused while its notices are open, a new batch once most of them have closed; the
suppliers imported again only when their file changed), its links, its ingest state, and a service that dies."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts import TenderNotice
from localrun import stack
from localrun.demodata.data import generate_notices
from localrun.pipeline import SERVICES, Pipeline, ServiceProcess
from localrun.run import (
    DEMO_NOTICES,
    adopt_ingest_state,
    banner,
    cli_ingest_state_dir,
    failure_message,
    file_sha256,
    mark_suppliers_imported,
    prepare_demo_data,
    stored_suppliers,
    supervise,
    suppliers_need_import,
)
from services.ingest.adapters.state import SqliteStateStore
from services.ingest.settings import Settings as IngestSettings
from services.notifier.adapters.memory import InMemoryPreferencesClient
from services.notifier.domain import tokens
from services.notifier.entrypoints.cli import _signed_url, supplier_check
from services.notifier.entrypoints.cli import app as notifier_cli
from services.notifier.settings import Settings as NotifierSettings
from tests.unit.http_stub import answering
from tests.unit.notifier.factories import notice, profile

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


# --- the links `python -m services.notifier preferences-url` prints work against `make run` ----------------------


def _no_tb_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("TB_")]:
        monkeypatch.delenv(key)


def test_the_cli_signs_links_the_notifier_of_make_run_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_tb_settings(monkeypatch)  # a shell as the README has it: no settings
    printed = _signed_url(tokens.PREFERENCES, "preferences", "sup-7", NotifierSettings())
    served = Pipeline(stack.StackConfig.from_env(), Path("/nonexistent")).env()
    base, _, token = printed.partition("/preferences?token=")
    assert base == served["TB_NOTIFIER_PUBLIC_URL"]
    secret = served["TB_NOTIFIER_UNSUBSCRIBE_SECRET"].encode()
    assert tokens.verify(secret, tokens.PREFERENCES, token) == "sup-7"


def _matcher(*known: str, down: bool = False) -> InMemoryPreferencesClient:
    fake = InMemoryPreferencesClient(profiles={s: profile(s) for s in known})
    fake.down = down
    return fake


def test_the_url_commands_say_when_the_matcher_has_no_such_supplier() -> None:
    assert supplier_check(_matcher("sup-1"), "sup-1", "http://m") == (True, "")
    known, note = supplier_check(_matcher("sup-1"), "no-such-supplier", "http://m")
    assert known is False
    assert "no supplier 'no-such-supplier' at the matcher (http://m)" in note
    known, note = supplier_check(_matcher("sup-1", down=True), "sup-1", "http://m")
    assert known is None
    assert "not checked" in note


def test_preferences_url_of_an_unknown_supplier_exits_1_without_a_link(monkeypatch: pytest.MonkeyPatch) -> None:
    with _matcher_server(404) as url:
        monkeypatch.setenv("TB_NOTIFIER_MATCHER_URL", url)
        result = CliRunner().invoke(notifier_cli, ["preferences-url", "no-such-supplier"])
        assert result.exit_code == 1
        assert "token=" not in result.stdout
        assert "no supplier 'no-such-supplier'" in result.stderr
        anyway = CliRunner().invoke(notifier_cli, ["preferences-url", "no-such-supplier", "--no-check"])
        assert anyway.exit_code == 0
        assert "/preferences?token=" in anyway.stdout


def test_url_commands_print_the_link_with_a_note_when_the_matcher_cannot_be_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _matcher_server(401) as url:
        monkeypatch.setenv("TB_NOTIFIER_MATCHER_URL", url)
        result = CliRunner().invoke(notifier_cli, ["unsubscribe-url", "sup-1"])
    assert result.exit_code == 0
    assert "/unsubscribe?token=" in result.stdout
    assert "supplier 'sup-1' not checked" in result.stderr


def _matcher_server(status: int) -> contextlib.AbstractContextManager[str]:
    """The matcher answering every request with ``status`` (without that supplier, or without the key)."""
    return answering(lambda path: (status, b'{"status": %d}' % status))


# --- `make run`'s ingest state is the command line's ----------------------------------------------------------------


def test_make_run_ingest_uses_the_state_of_the_publish_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_tb_settings(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert cli_ingest_state_dir() == (tmp_path / IngestSettings().ingest_state_dir).resolve()
    assert cli_ingest_state_dir() == tmp_path / ".data" / "ingest"
    cfg = stack.StackConfig.from_env()
    make_run = Pipeline(cfg, tmp_path / "run-dev", ingest_state_dir=cli_ingest_state_dir())
    assert make_run.env()["TB_INGEST_STATE_DIR"] == str(tmp_path / ".data" / "ingest")
    # Tests and `make demo` keep a private state.
    assert Pipeline(cfg, tmp_path / "x").env()["TB_INGEST_STATE_DIR"] == str(tmp_path / "x" / "ingest-state")


def _published(directory: Path, *notices: TenderNotice) -> None:
    store = SqliteStateStore(directory)
    store.commit(list(notices), [])
    store.close()


def test_the_state_of_earlier_runs_is_carried_over_once(tmp_path: Path) -> None:
    old, new = tmp_path / "run-dev" / "ingest-state", tmp_path / "ingest"
    v2 = notice("77", version=2)
    _published(old, v2)

    assert adopt_ingest_state(old, new)

    store = SqliteStateStore(new)
    known = store.known(v2.notice_id)
    store.close()
    assert known is not None
    assert known.version == 2
    assert not adopt_ingest_state(old, new)  # once: the shared state is never overwritten
    assert not adopt_ingest_state(tmp_path / "never-ran", tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_a_shared_state_is_kept_as_it_is(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _published(old, notice("1", version=3))
    _published(new, notice("2"))
    assert not adopt_ingest_state(old, new)
    store = SqliteStateStore(new)
    assert store.known("ungm:1") is None
    assert store.known("ungm:2") is not None
    store.close()


# --- a dying service stops `make run` with an error -----------------------------------------------------------------


def _child(tmp_path: Path, name: str, code: str) -> ServiceProcess:
    process = ServiceProcess(name, {}, tmp_path / "logs" / f"{name}.log", 0)
    process.proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    return process


def _end(*processes: ServiceProcess) -> None:
    for process in processes:
        assert process.proc is not None
        process.proc.kill()
        process.proc.wait()


def test_supervise_returns_the_service_that_died(tmp_path: Path) -> None:
    alive = _child(tmp_path, "matcher", "import time; time.sleep(60)")
    dead = _child(tmp_path, "ingest", "raise SystemExit(3)")
    try:
        failed = supervise({"matcher": alive, "ingest": dead}, lambda: False, poll_s=0.01)
    finally:
        _end(alive, dead)
    assert failed is dead
    said = failure_message(dead)
    assert said.startswith("make run stopped because ingest failed (exit 3)")
    assert str(tmp_path / "logs" / "ingest.log") in said
    killed = _child(tmp_path, "notifier", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.proc is not None
    killed.proc.wait()
    assert failure_message(killed).startswith("make run stopped because notifier failed (killed by SIGKILL)")


def test_supervise_returns_nothing_on_a_stop_request(tmp_path: Path) -> None:
    alive = _child(tmp_path, "matcher", "import time; time.sleep(60)")
    asked: list[bool] = []

    def stop_requested() -> bool:
        asked.append(True)
        return len(asked) > 3

    try:
        assert supervise({"matcher": alive}, stop_requested, poll_s=0.01) is None
    finally:
        _end(alive)


def test_the_running_block_says_where_the_logs_are(tmp_path: Path) -> None:
    suppliers = tmp_path / "suppliers.jsonl"
    suppliers.write_text('{"supplier_id": "sup-1", "preferences": {"language": "en"}}\n', encoding="utf-8")
    cfg = stack.StackConfig(tmp_path, 1, 2, 3)
    pipeline = Pipeline(cfg, tmp_path / "run-dev")
    for name, port in SERVICES.items():
        pipeline.processes[name] = ServiceProcess(name, {}, tmp_path / "run-dev" / "logs" / f"{name}.log", port)
    text = banner(pipeline, cfg, suppliers)
    assert f"service logs       {tmp_path / 'run-dev' / 'logs'}/" in text
    assert "/preferences?token=" in text


# --- a restart keeps what suppliers changed on their own pages ------------------------------------------------------


def test_the_demo_suppliers_are_imported_again_only_when_the_file_changed(tmp_path: Path) -> None:
    suppliers = tmp_path / "suppliers.jsonl"
    suppliers.write_text('{"supplier_id": "sup-1"}\n', encoding="utf-8")
    assert suppliers_need_import(suppliers, stored=300)  # never imported

    mark_suppliers_imported(suppliers, file_sha256(suppliers))

    assert not suppliers_need_import(suppliers, stored=300)
    # The matcher's store was emptied or cannot be read: import, whatever the marker says.
    assert suppliers_need_import(suppliers, stored=0)
    assert suppliers_need_import(suppliers, stored=None)
    suppliers.write_text('{"supplier_id": "sup-1"}\n{"supplier_id": "sup-2"}\n', encoding="utf-8")
    assert suppliers_need_import(suppliers, stored=300)


def test_the_marker_is_written_only_by_a_successful_import(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    _write(demo)
    suppliers = demo / "suppliers.jsonl"
    digest = file_sha256(suppliers)
    assert prepare_demo_data(demo, T0) is None
    assert suppliers_need_import(suppliers, stored=1), "prepare_demo_data does not mark anything imported"
    mark_suppliers_imported(suppliers, digest)
    assert [p.name for p in sorted(demo.iterdir())] == [
        "notices.jsonl",
        "suppliers.jsonl",
        "suppliers.jsonl.imported.sha256",
    ]
    assert (demo / "suppliers.jsonl.imported.sha256").read_text(encoding="utf-8") == f"{digest}\n"


def test_stored_suppliers_reads_the_count_of_a_real_server() -> None:
    with _count_server({"/tb-suppliers/_count": (200, b'{"count": 12}'), "/gone/_count": (404, b"{}")}) as url:
        assert stored_suppliers(url, "tb-suppliers") == 12
        assert stored_suppliers(url, "gone") == 0
        assert stored_suppliers(url, "broken") is None
    assert stored_suppliers("http://127.0.0.1:9", "tb-suppliers") is None


def _count_server(answers: dict[str, tuple[int, bytes]]) -> contextlib.AbstractContextManager[str]:
    return answering(lambda path: answers.get(path, (500, b"oops")))

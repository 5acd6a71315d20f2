"""What an operator sees when something is off: a wrong setting (one line, the right variable), a port in use
(said before anything starts, with its own exit status), a rejected record (named), a table in a pipe (whole), and
Ctrl-C at any moment of ``make run`` (what was started is stopped)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.table import Table
from typer.testing import CliRunner

from localrun import stack
from localrun.pipeline import SERVICES, Pipeline, ServiceProcess
from localrun.run import (
    DevRunPorts,
    banner,
    failure_message,
    ports_problems,
)
from services.infra.bus import dead_letter
from services.infra.console import PIPE_WIDTH, output_console
from services.infra.dlq import heading, parse_record
from services.infra.http import EXIT_PORT_UNAVAILABLE
from services.infra.net import free_port
from services.infra.settings import load_settings
from services.ingest.entrypoints.cli import app as ingest_cli
from services.ingest.settings import Settings as IngestSettings
from services.matcher.settings import Settings as MatcherSettings
from services.notifier.settings import Settings as NotifierSettings
from tests.unit.http_stub import answering

pytestmark = pytest.mark.unit


def _no_tb_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("TB_")]:
        monkeypatch.delenv(key)


def _config_error(cls: type, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        load_settings(cls)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error:\n")
    assert "Traceback" not in err
    return err


# --- F8: values that used to end in a traceback from the client or server that tripped on them ---------------------


@pytest.mark.parametrize(
    ("variable", "value", "cls", "said"),
    [
        ("TB_ELASTICSEARCH_URL", "notaurl", MatcherSettings, "expected an http:// or https:// URL with a host"),
        ("TB_ELASTICSEARCH_URL", "http://:9200", NotifierSettings, "expected an http:// or https:// URL with a host"),
        ("TB_NOTIFIER_PUBLIC_URL", "http://x:99999", NotifierSettings, "not a usable URL"),
        ("TB_INGEST_HTTP_PORT", "99999", IngestSettings, "a port is a number from 1 to 65535"),
        ("TB_MATCHER_HTTP_PORT", "0", MatcherSettings, "a port is a number from 1 to 65535"),
        ("TB_LOG_LEVEL", "LOUD", IngestSettings, "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ],
)
def test_an_unusable_value_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    cls: type,
    said: str,
) -> None:
    _no_tb_settings(monkeypatch)
    monkeypatch.setenv(variable, value)
    err = _config_error(cls, capsys)
    assert f"  {variable}={value!r}: {said}" in err


def test_usable_values_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_tb_settings(monkeypatch)
    monkeypatch.setenv("TB_ELASTICSEARCH_URL", "https://es.example.org:9243/prefix")
    monkeypatch.setenv("TB_LOG_LEVEL", "debug")
    monkeypatch.setenv("TB_INGEST_HTTP_PORT", "65535")
    settings = load_settings(IngestSettings)
    assert settings.log_level == "DEBUG"
    assert settings.ingest_http_port == 65535


def test_the_stack_ports_are_settings_too(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _no_tb_settings(monkeypatch)
    monkeypatch.setenv("TB_STACK_KAFKA_PORT", "abc")
    monkeypatch.setenv("TB_STACK_SMTP_PORT", "70000")
    with pytest.raises(SystemExit) as exited:
        stack.StackConfig.from_env()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "  TB_STACK_KAFKA_PORT='abc': Input should be a valid integer" in err
    assert "  TB_STACK_SMTP_PORT='70000': a port is a number from 1 to 65535" in err
    monkeypatch.setenv("TB_STACK_KAFKA_PORT", "59092")
    monkeypatch.delenv("TB_STACK_SMTP_PORT")
    cfg = stack.StackConfig.from_env()
    assert (cfg.kafka_port, cfg.smtp_port) == (59092, 2525)


# --- F9: an aliased setting is named as it is spelt ----------------------------------------------------------------


@pytest.mark.parametrize("variable", ["TB_NOTIFIER_SMTP_PORT", "TB_SMTP_PORT"])
def test_an_aliased_setting_is_named_by_the_variable_that_was_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str
) -> None:
    _no_tb_settings(monkeypatch)
    monkeypatch.setenv(variable, "abc")
    err = _config_error(NotifierSettings, capsys)
    assert f"  {variable}='abc': Input should be a valid integer" in err
    assert "TB_TB_" not in err


# --- F5: make run's ports ------------------------------------------------------------------------------------------


@contextmanager
def _taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _cfg(tmp_path: Path) -> stack.StackConfig:
    return stack.StackConfig(tmp_path, 59092, 59200, 5525)


def test_make_run_takes_its_ports_from_the_services_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_tb_settings(monkeypatch)
    assert load_settings(DevRunPorts).ports() == SERVICES
    monkeypatch.setenv("TB_MATCHER_HTTP_PORT", "18000")
    monkeypatch.setenv("TB_NOTIFIER_HTTP_PORT", "18002")
    ports = load_settings(DevRunPorts).ports()
    assert ports == {"matcher": 18000, "ingest": 8001, "notifier": 18002}
    pipeline = Pipeline(_cfg(tmp_path), tmp_path / "run-dev", ports=ports)
    env = pipeline.env()
    assert env["TB_MATCHER_HTTP_PORT"] == "18000"
    assert env["TB_NOTIFIER_PUBLIC_URL"] == "http://127.0.0.1:18002"
    assert env["TB_NOTIFIER_MATCHER_URL"] == "http://127.0.0.1:18000"
    suppliers = tmp_path / "suppliers.jsonl"
    suppliers.write_text('{"supplier_id": "sup-1"}\n', encoding="utf-8")
    for name, port in ports.items():
        pipeline.processes[name] = ServiceProcess(name, {}, tmp_path / f"{name}.log", port)
    text = banner(pipeline, _cfg(tmp_path), suppliers)
    assert "http://127.0.0.1:18000/docs" in text
    assert "http://127.0.0.1:18002/preferences?token=" in text


def test_a_port_in_use_is_said_before_anything_starts(tmp_path: Path) -> None:
    with _taken_port() as taken:
        problems = ports_problems({"matcher": 8000, "ingest": taken, "notifier": taken}, _cfg(tmp_path))
    assert len(problems) == 2
    assert problems[0].startswith(f"port {taken} (ingest) is in use by pid {os.getpid()} (")
    assert "`TB_INGEST_HTTP_PORT=" in problems[0]
    assert problems[1] == f"TB_NOTIFIER_HTTP_PORT and TB_INGEST_HTTP_PORT are both {taken}: give each its own"
    clash = ports_problems({"matcher": 59200}, _cfg(tmp_path))
    assert clash == [
        "TB_MATCHER_HTTP_PORT=59200 is the local stack's port (TB_STACK_ELASTICSEARCH_PORT): choose another"
    ]


@contextmanager
def _healthz_server() -> Iterator[int]:
    """Another process's service on a port: it answers /healthz (here from the test process)."""
    with answering(lambda path: (200, b'{"status": "ok"}')) as url:
        yield int(url.rsplit(":", 1)[1])


def test_a_port_that_answers_for_someone_else_is_not_taken_for_the_service(tmp_path: Path) -> None:
    with _healthz_server() as port:
        process = ServiceProcess("ingest", {}, tmp_path / "ingest.log", port)
        process.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        try:
            assert process.healthy()  # what `make run` used to believe
            assert process.owns_port() is False
            with pytest.raises(RuntimeError, match=f"port {port} answers, but not from the ingest started here"):
                process.wait_healthy(timeout=5)
        finally:
            process.proc.kill()
            process.proc.wait()


def test_a_service_that_died_is_reported_with_the_last_line_of_its_log(tmp_path: Path) -> None:
    log = tmp_path / "ingest.log"
    log.write_text("started\nerror: cannot listen on 127.0.0.1:8001 (Address already in use)\n\n", encoding="utf-8")
    process = ServiceProcess("ingest", {}, log, 8001)
    process.proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    process.proc.wait()
    said = failure_message(process)
    assert said.startswith("make run stopped because ingest failed (exit 4): error: cannot listen on 127.0.0.1:8001")
    assert f"its log: {log}" in said
    with pytest.raises(RuntimeError, match=r"ingest failed \(exit 4\): error: cannot listen"):
        process.wait_healthy(timeout=5)


def test_ingest_run_exits_4_on_a_port_in_use_before_it_talks_to_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_tb_settings(monkeypatch)
    monkeypatch.setenv("TB_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # nothing there: Kafka would be exit 3
    with _taken_port() as taken:
        monkeypatch.setenv("TB_INGEST_HTTP_PORT", str(taken))
        result = CliRunner().invoke(ingest_cli, ["run"])
    assert result.exit_code == EXIT_PORT_UNAVAILABLE == 4
    assert f"cannot listen on 127.0.0.1:{taken}" in result.stderr
    assert "TB_INGEST_HTTP_PORT" in result.stderr


@pytest.mark.parametrize(
    ("cli", "variable"),
    [
        ("services.matcher.entrypoints.cli:app", "TB_MATCHER_HTTP_PORT"),
        ("services.notifier.entrypoints.cli:app", "TB_NOTIFIER_HTTP_PORT"),
    ],
)
def test_matcher_and_notifier_run_exit_4_on_a_port_in_use_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, cli: str, variable: str
) -> None:
    import importlib

    module, name = cli.split(":")
    command = getattr(importlib.import_module(module), name)
    _no_tb_settings(monkeypatch)
    monkeypatch.setenv("TB_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # nothing there: a client would fail otherwise
    monkeypatch.setenv("TB_ELASTICSEARCH_URL", "http://127.0.0.1:9")
    with _taken_port() as taken:
        monkeypatch.setenv(variable, str(taken))
        result = CliRunner().invoke(command, ["run"])
    assert result.exit_code == EXIT_PORT_UNAVAILABLE, result.output
    assert f"cannot listen on 127.0.0.1:{taken}" in result.stderr
    assert variable in result.stderr


# --- F16: Ctrl-C at any moment -------------------------------------------------------------------------------------


@pytest.fixture
def stop_signals() -> Iterator[None]:
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack.handle_stop_signals()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _held_section(done: list[str]) -> None:
    with stack.held_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        done.append("recorded")  # the child started here is recorded before the signal is acted on


def test_a_stop_signal_waits_for_the_end_of_a_held_section(stop_signals: None) -> None:
    done: list[str] = []
    with pytest.raises(stack.Interrupted) as interrupted:
        _held_section(done)
    assert done == ["recorded"]
    assert interrupted.value.signum == signal.SIGTERM
    with pytest.raises(stack.Interrupted):
        os.kill(os.getpid(), signal.SIGINT)  # outside a held section: at once


@contextmanager
def _fake_elasticsearch_and_kafka() -> Iterator[tuple[int, int]]:
    with _healthz_server() as es, _taken_port() as kafka:
        yield kafka, es


def test_a_stack_start_that_does_not_finish_stops_what_it_started(tmp_path: Path) -> None:
    before = list(stack._CHILDREN)  # a stack this test process started for other tests runs on
    with _fake_elasticsearch_and_kafka() as (kafka, es):
        cfg = stack.StackConfig(tmp_path, kafka, es, free_port())
        started: list[str] = []
        # Kafka and Elasticsearch answer, so only the SMTP sink is started; then the wait gives up at once (what a
        # Ctrl-C while waiting does too: any exception).
        with pytest.raises(SystemExit, match="did not answer"):
            stack.up(cfg, timeout=0.0, started=started)
    assert started == []
    assert not (tmp_path / "run" / "smtp.pid").exists()
    assert not [p for p in stack.listening_pids(cfg.smtp_port) or () if p != os.getpid()]
    ours = [proc for proc in stack._CHILDREN if all(proc is not other for other in before)]
    assert ours  # the SMTP sink it started
    assert all(proc.poll() is not None for proc in ours)


# --- F10: which record was rejected --------------------------------------------------------------------------------

RELEASES = (
    '{"ocid":"ocds-abc123-1","id":"r1","date":"2026-11-01T00:00:00Z","tag":["tender"],'
    '"buyer":{"name":"Ministry of Health"},"tender":{"id":"t1","title":"Supply of beehives","status":"active",'
    '"tenderPeriod":{"endDate":"2026-12-20T00:00:00Z"}}}\n'
    '{"ocid": broken\n'
    '{"ocid":"ocds-abc123-3","id":"r3","date":"2026-11-01T00:00:00Z","tag":["tender"],'
    '"tender":{"id":"t3","title":"Supply of honey","status":"active"}}\n'
)


def test_parse_names_each_rejected_record_on_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_tb_settings(monkeypatch)
    releases = tmp_path / "releases.jsonl"
    releases.write_text(RELEASES, encoding="utf-8")
    result = CliRunner().invoke(ingest_cli, ["parse", str(releases), "--source", "ocds"])
    assert result.exit_code == 0, result.output
    said = result.stderr.splitlines()
    assert said[0].startswith(f"rejected {releases}: invalid_json: line 2: not JSON:")
    assert said[1] == f"rejected {releases} [ocds-abc123-3]: no_buyer: line 3: record ocds-abc123-3 has no buyer name"
    assert said[-1].startswith("1 files: 1 notices")  # the summary stays last
    assert [line[:12] for line in result.stdout.splitlines()] == ['{"schema_ver']  # stdout: notices only


# --- F12 and F14: output read by a script ---------------------------------------------------------------------------


def test_a_table_in_a_pipe_keeps_its_cells_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    table = Table("topic", "latest (UTC)", "label")
    long_label = "qa-buyer-of-the-ministry-of-health-procurement-unit " * 3
    table.add_row("tenders.notices.dlq.run-123456", "2026-11-26T08:43:12+00:00", long_label)
    out = io.StringIO()
    console = output_console(file=out)
    assert console.width == PIPE_WIDTH
    console.print(table)
    assert "tenders.notices.dlq.run-123456" in out.getvalue()
    assert "2026-11-26T08:43:12+00:00" in out.getvalue()
    assert long_label.strip() in out.getvalue()
    assert "…" not in out.getvalue()
    monkeypatch.setenv("COLUMNS", "60")  # asked for: kept
    assert output_console(file=io.StringIO()).width == 60


def test_dlq_show_prints_the_key_json_gives() -> None:
    no_key = dead_letter("ingest", "/tmp/releases.jsonl", "invalid_json", "line 3: not JSON", b"{", key=None)
    record = parse_record("tenders.notices.dlq", 0, 4, b"/tmp/releases.jsonl", no_key.model_dump_json().encode())
    assert record.as_json()["key"] is None
    assert "key=" not in heading(record)
    assert "origin=/tmp/releases.jsonl" in heading(record)
    keyed = dead_letter("ingest", "/tmp/releases.jsonl", "no_buyer", "no buyer", b"{}", key="ocds-1")
    record = parse_record("tenders.notices.dlq", 0, 5, b"ocds-1", keyed.model_dump_json().encode())
    assert record.as_json()["key"] == "ocds-1"
    assert " key=ocds-1 " in heading(record)
    assert datetime.now(UTC).date().isoformat() in heading(record)

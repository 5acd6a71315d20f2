"""Run the whole product on one machine without Docker.

    python -m services.devrun run    # `make run`: stack + three services + demo data, foreground, Ctrl-C stops
    python -m services.devrun demo   # `make demo`: a bounded end-to-end run that prints a JSON summary

The services run as child processes (``python -m services.<name> run``) with their settings passed through the
environment, exactly as an operator would run them.
"""

from __future__ import annotations

import hashlib
import json
import mailbox
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.infra import stack
from services.infra.settings import check_port, load_settings
from services.ingest.settings import Settings as IngestSettings
from services.notifier.settings import Settings as NotifierSettings

SERVICES = {"matcher": 8000, "ingest": 8001, "notifier": 8002}
#: Exit status of ``make run`` when a port it needs is taken (as the services' own: ``EXIT_PORT_UNAVAILABLE``).
EXIT_PORT_IN_USE = 4
#: Exit status of ``make run`` stopped by Ctrl-C or SIGTERM before it was running.
EXIT_INTERRUPTED = 130
DEV_ADMIN_KEY = "dev-admin-key-change-me"
DEV_PUSH_KEY = "dev-push-key-change-me"
#: The notifier's own default, so that ``python -m services.notifier preferences-url SUP`` (run without settings) signs
#: links that the notifier of ``make run`` accepts.
DEV_UNSUBSCRIBE_SECRET: str = NotifierSettings.model_fields["notifier_unsubscribe_secret"].default.get_secret_value()


@dataclass
class ServiceProcess:
    """One service as a child process in its own session (so a kill reaches all of it)."""

    name: str
    env: Mapping[str, str]
    log_path: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with stack.held_signals():  # started and recorded in one go, so a Ctrl-C cannot leave it running unseen
            self.proc = stack.spawn(
                [sys.executable, "-m", f"services.{self.name}", "run"], self.log_path, env={**os.environ, **self.env}
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def owns_port(self) -> bool | None:
        """Whether the process listening on the port is this one (or a child of it): None when that cannot be told
        (no ``/proc``)."""
        if self.proc is None:
            return False
        listeners = stack.listening_pids(self.port)
        if listeners is None:
            return None
        return bool(listeners & {self.proc.pid, *stack.group_members(self.proc.pid)})

    def wait_healthy(self, timeout: float = 60) -> None:
        """Until this process, the one started here, answers ``/healthz``: not merely something on its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} {_ended(self.proc.returncode)}{_last_words(self.log_path)}")
            if self.healthy():
                owner = self.owns_port()
                if owner is not False and self.proc is not None and self.proc.poll() is None:
                    return
                if owner is False:
                    raise RuntimeError(
                        f"port {self.port} answers, but not from the {self.name} started here; "
                        f"{port_in_use_message(self.name, self.port)}"
                    )
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer /healthz within {timeout:.0f}s; see {self.log_path}")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> None:
        if self.proc is not None:
            stack.stop_process(self.proc, sig, timeout)

    def kill(self) -> None:
        """``kill -9``: no chance to flush or commit."""
        self.stop(signal.SIGKILL)


@dataclass
class Pipeline:
    """The three services wired to one stack, with settings isolated by ``run_id`` when asked."""

    cfg: stack.StackConfig
    work_dir: Path
    run_id: str = ""
    smtp_port: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    #: HTTP port per service; tests and the demo pass free ones so they never collide with a `make run`.
    ports: dict[str, int] = field(default_factory=lambda: dict(SERVICES))
    #: Ingest's state (published versions); default: ``<work_dir>/ingest-state``, private to this pipeline.
    ingest_state_dir: Path | None = None

    def env(self) -> dict[str, str]:
        env = {
            "TB_KAFKA_BOOTSTRAP_SERVERS": self.cfg.kafka_bootstrap,
            "TB_ELASTICSEARCH_URL": self.cfg.elasticsearch_url,
            "TB_MATCHER_ADMIN_API_KEY": DEV_ADMIN_KEY,
            "TB_NOTIFIER_MATCHER_API_KEY": DEV_ADMIN_KEY,
            "TB_NOTIFIER_MATCHER_URL": f"http://127.0.0.1:{self.ports['matcher']}",
            "TB_NOTIFIER_UNSUBSCRIBE_SECRET": DEV_UNSUBSCRIBE_SECRET,
            "TB_NOTIFIER_SMTP_HOST": self.cfg.host,
            "TB_NOTIFIER_SMTP_PORT": str(self.smtp_port or self.cfg.smtp_port),
            "TB_INGEST_API_KEYS": DEV_PUSH_KEY,
            "TB_INGEST_STATE_DIR": str(self.ingest_state_dir or self.work_dir / "ingest-state"),
            "TB_LOG_LEVEL": "INFO",
        }
        for name, port in self.ports.items():
            env[f"TB_{name.upper()}_HTTP_PORT"] = str(port)
        env["TB_NOTIFIER_PUBLIC_URL"] = f"http://127.0.0.1:{self.ports['notifier']}"
        if self.run_id:
            suffix = f".{self.run_id}"
            for topic_field in (
                "NOTICES",
                "NOTICES_DLQ",
                "PROFILES",
                "SHORTLISTS",
                "SHORTLISTS_DLQ",
                "NOTIFICATIONS",
                "NOTIFICATIONS_DLQ",
            ):
                from services.infra.settings import CommonSettings

                default = CommonSettings.model_fields[f"topic_{topic_field.lower()}"].default
                env[f"TB_TOPIC_{topic_field}"] = f"{default}{suffix}"
            env["TB_MATCHER_INDEX_PREFIX"] = f"tb-{self.run_id}"
            env["TB_NOTIFIER_INDEX_PREFIX"] = f"tb-{self.run_id}"
            env["TB_MATCHER_CONSUMER_GROUP"] = f"matcher-{self.run_id}"
            env["TB_NOTIFIER_CONSUMER_GROUP"] = f"notifier-{self.run_id}"
        env.update(self.extra_env)
        return env

    def start(self, names: tuple[str, ...] = ("matcher", "notifier", "ingest")) -> None:
        for name in names:
            process = ServiceProcess(name, self.env(), self.work_dir / "logs" / f"{name}.log", self.ports[name])
            self.processes[name] = process
            process.start()
        for name in names:
            self.processes[name].wait_healthy()

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def cli(self, service: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a one-shot service command (``import-suppliers``, ``publish``) with the pipeline's settings."""
        return subprocess.run(
            [sys.executable, "-m", f"services.{service}", *args],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            # Out of the terminal's process group: Ctrl-C reaches ``make run`` alone, which kills this child (as
            # ``subprocess.run`` does on any exception) instead of both printing a KeyboardInterrupt traceback.
            start_new_session=True,
        )


def maildir_messages(path: Path) -> Iterator[Message]:
    if not (path / "new").exists():
        return
    box = mailbox.Maildir(path, create=False)
    for key in box.iterkeys():
        yield box[key]


def _write_demo_data(out: Path, suppliers: int, notices: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "services.demo",
            "write",
            "--out",
            str(out),
            "--suppliers",
            str(suppliers),
            "--notices",
            str(notices),
        ],
        check=True,
        start_new_session=True,  # Ctrl-C is ``make run``'s to handle: it kills this child, without its traceback
    )


DEMO_SUPPLIERS, DEMO_NOTICES = 300, 200


def prepare_demo_data(demo: Path, now: datetime) -> str | None:
    """The demo data of ``make run``, written once and then reused: regenerated notices would carry new deadlines,
    i.e. amendments to every notice (and a "this tender changed" email to every alerted supplier) at each start.

    When most of its notices have closed (a run weeks later), a new batch of notices replaces them in the file,
    with a seed taken from the day: new ids, so they are published as new notices and the closed ones stay as they
    were. Returns what was written, for the console, or None.
    """
    notices = demo / "notices.jsonl"
    if not notices.exists():
        _write_demo_data(demo, suppliers=DEMO_SUPPLIERS, notices=DEMO_NOTICES)
        return None
    deadlines = [json.loads(line).get("deadline_at") for line in notices.read_text(encoding="utf-8").splitlines()]
    still_open = sum(1 for d in deadlines if d is None or datetime.fromisoformat(d) > now)
    if 2 * still_open >= len(deadlines):
        return None
    from services.demo.data import generate_notices

    fresh = generate_notices(DEMO_NOTICES, seed=now.toordinal(), now=now)
    notices.write_text("".join(f"{n.model_dump_json()}\n" for n in fresh), encoding="utf-8")
    return f"{len(deadlines) - still_open} of the {len(deadlines)} demo notices had closed: wrote {len(fresh)} new ones"


def _step(pipeline: Pipeline, what: str, service: str, *args: str) -> None:
    """One CLI step of ``make run``, said before it runs, its summary line after; a clear error if it fails."""
    print(f"{what}...", flush=True)
    try:
        done = pipeline.cli(service, *args)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{what} failed (exit {exc.returncode}): {str(exc.stderr)[-1500:]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} did not finish within {exc.timeout:.0f} s") from exc
    summary = done.stderr.strip().splitlines()
    if summary:
        print(f"  {summary[-1]}", flush=True)


def cli_ingest_state_dir() -> Path:
    """Where ``python -m services.ingest publish`` keeps its state when run from here without settings (its default,
    ``.data/ingest``, is relative to the working directory; ``TB_INGEST_STATE_DIR`` when the shell sets it)."""
    return load_settings(IngestSettings).ingest_state_dir.resolve()


def adopt_ingest_state(old: Path, new: Path) -> bool:
    """Carry the state of an earlier ``make run`` (``.data/run-dev/ingest-state``) over to the shared one, once: when
    the shared one has none yet. Otherwise the shared state is kept as it is: notices only the old state knew are
    then published once more, unchanged and with the version they had (a demo notice is never amended), which is
    harmless: the matcher stores the same notice and republishes the same shortlist, and the notifier's
    idempotency keys send nothing twice. Returns whether the old state was carried over."""
    source, target = old / "ingest-state.sqlite3", new / "ingest-state.sqlite3"
    if not source.exists() or target.exists():
        return False
    new.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial")
    partial.unlink(missing_ok=True)
    # SQLite's backup reads a consistent copy, the write-ahead log included; the rename makes it appear whole. The
    # old directory is left as it was, unused from now on.
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as dst:
        src.backup(dst)
    partial.replace(target)
    return True


def _imported_marker(suppliers: Path) -> Path:
    return suppliers.with_name(f"{suppliers.name}.imported.sha256")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def suppliers_need_import(suppliers: Path, stored: int | None) -> bool:
    """Whether ``make run`` imports its demo suppliers: not when this file, as it is now, was imported already and the
    matcher still holds suppliers (``stored``: how many; None when it cannot tell). Its lines state every field, so
    importing it again would undo what suppliers changed on their own pages (codes, keywords, preferences)."""
    marker = _imported_marker(suppliers)
    if not marker.exists() or not stored:
        return True
    return marker.read_text(encoding="utf-8").strip() != file_sha256(suppliers)


def mark_suppliers_imported(suppliers: Path, digest: str) -> None:
    """Written after a successful import only, with the digest of the file that was read."""
    marker = _imported_marker(suppliers)
    marker.with_name(f"{marker.name}.tmp").write_text(f"{digest}\n", encoding="utf-8")
    marker.with_name(f"{marker.name}.tmp").replace(marker)


def stored_suppliers(elasticsearch_url: str, index: str) -> int | None:
    """Profiles in the matcher's supplier index: 0 when it does not exist, None when Elasticsearch cannot tell."""
    try:
        with urllib.request.urlopen(f"{elasticsearch_url.rstrip('/')}/{index}/_count", timeout=10) as resp:
            return int(json.loads(resp.read())["count"])
    except urllib.error.HTTPError as exc:
        return 0 if exc.code == 404 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def supervise(
    processes: Mapping[str, ServiceProcess], stop_requested: Callable[[], bool], poll_s: float = 0.5
) -> ServiceProcess | None:
    """Wait until a stop is requested (Ctrl-C, SIGTERM) or a service exits; returns the service that exited."""
    while not stop_requested():
        gone = first_exited(processes)
        if gone is not None:
            return gone
        time.sleep(poll_s)
    return None


def first_exited(processes: Mapping[str, ServiceProcess]) -> ServiceProcess | None:
    """A service whose process has ended, or None while all run."""
    for process in processes.values():
        if process.proc is not None and process.proc.poll() is not None:
            return process
    return None


def _ended(code: int | None) -> str:
    if code is not None and code < 0:
        return f"failed (killed by {signal.Signals(-code).name})"
    return f"failed (exit {code})" if code else f"exited unexpectedly (exit {code})"


def last_log_line(log_path: Path, limit: int = 300) -> str:
    """The last non-blank line of a service's log (where it says why it stopped), shortened; "" when none."""
    try:
        with open(log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16384))
            lines = [line.strip() for line in log.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    last = lines[-1] if lines else ""
    return last if len(last) <= limit else f"{last[:limit]}..."


def _last_words(log_path: Path) -> str:
    last = last_log_line(log_path)
    return f": {last}\n  its log: {log_path}" if last else f"; its log: {log_path}"


def failure_message(process: ServiceProcess) -> str:
    code = process.proc.returncode if process.proc is not None else None
    return f"make run stopped because {process.name} {_ended(code)}{_last_words(process.log_path)}"


class DevRunPorts(BaseSettings):
    """The services' HTTP ports under ``make run``: the services' own variables, so that one shell setting moves
    both the service and the URLs ``make run`` prints and wires (the notifier's links, its matcher URL)."""

    model_config = SettingsConfigDict(env_prefix="TB_", extra="ignore")

    #: Port of the matcher's buyer API.
    matcher_http_port: int = SERVICES["matcher"]
    #: Port of ingest's push API.
    ingest_http_port: int = SERVICES["ingest"]
    #: Port of the notifier's pages.
    notifier_http_port: int = SERVICES["notifier"]

    @field_validator("matcher_http_port", "ingest_http_port", "notifier_http_port")
    @classmethod
    def _port(cls, value: int) -> int:
        return check_port(value)

    def ports(self) -> dict[str, int]:
        return {name: int(getattr(self, f"{name}_http_port")) for name in SERVICES}


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port (as uvicorn does: ``SO_REUSEADDR``, so a recently closed
    connection in TIME_WAIT does not count as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _suggest_port(port: int, avoid: set[int]) -> int:
    for candidate in (port + 10000, port + 20000, port + 30000):
        if candidate <= 65535 and candidate not in avoid and port_free(candidate):
            return candidate
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use_message(name: str, port: int, avoid: Collection[int] = ()) -> str:
    """What holds the port (when this user's process does) and how to move this run elsewhere."""
    holders = sorted(stack.listening_pids(port) or ())
    by = f" by {', '.join(stack.describe_pid(pid) for pid in holders)}" if holders else ""
    variable = f"TB_{name.upper()}_HTTP_PORT"
    return (
        f"port {port} ({name}) is in use{by}. Stop that (another `make run`?), or give this run other ports, "
        f"e.g. `{variable}={_suggest_port(port, set(avoid))} make run`"
    )


def ports_problems(ports: Mapping[str, int], cfg: stack.StackConfig) -> list[str]:
    """Why the services could not listen on ``ports``: one line per port taken or given twice; [] when all is well.
    Checked before anything starts, so that a second ``make run`` says so at once."""
    problems = []
    stack_ports = {
        cfg.kafka_port: "TB_STACK_KAFKA_PORT",
        cfg.elasticsearch_port: "TB_STACK_ELASTICSEARCH_PORT",
        cfg.smtp_port: "TB_STACK_SMTP_PORT",
    }
    seen: dict[int, str] = {}
    for name, port in ports.items():
        variable = f"TB_{name.upper()}_HTTP_PORT"
        if port in seen:
            problems.append(f"{variable} and TB_{seen[port].upper()}_HTTP_PORT are both {port}: give each its own")
        elif port in stack_ports:
            problems.append(f"{variable}={port} is the local stack's port ({stack_ports[port]}): choose another")
        elif not port_free(port, cfg.host):
            problems.append(port_in_use_message(name, port, avoid=set(ports.values()) | set(stack_ports)))
        seen.setdefault(port, name)
    return problems


def banner(pipeline: Pipeline, cfg: stack.StackConfig, suppliers: Path) -> str:
    notifier_url = pipeline.processes["notifier"].url
    return (
        "\ntenderbridge is running:\n"
        f"  buyer API + docs   {pipeline.processes['matcher'].url}/docs   (admin key: {DEV_ADMIN_KEY})\n"
        f"  buyer web page     {pipeline.processes['matcher'].url}/ui/notices   (sign in with that key)\n"
        f"  ingest push API    {pipeline.processes['ingest'].url}/docs    (push key: {DEV_PUSH_KEY})\n"
        f"  notifier           {notifier_url}/healthz\n"
        f"  a supplier's page  {_sample_preferences_url(suppliers, notifier_url)}\n"
        f"  emails (Maildir)   {cfg.maildir}/new\n"
        f"  service logs       {pipeline.work_dir / 'logs'}/\n"
        f"  Kafka              {cfg.kafka_bootstrap}\n"
        f"  Elasticsearch      {cfg.elasticsearch_url}\n"
        "Ctrl-C stops everything this command started."
    )


def check_settings() -> None:
    """Each service's settings as the shell gives them: a wrong one ends ``make run`` before it starts anything, with
    the "configuration error" lines and exit status 2 (rather than a service that dies on it later)."""
    from services.matcher.settings import Settings as MatcherSettings  # slow to import: scikit-learn

    for cls in (IngestSettings, MatcherSettings, NotifierSettings):
        load_settings(cls)


def run() -> int:
    # Ctrl-C / SIGTERM raise ``stack.Interrupted`` from now on, wherever the run is: before the ``try`` below nothing
    # is started yet (``main`` says so), within it the ``finally`` stops what was started so far (``stack.up`` stops
    # what it started itself when interrupted on its way).
    stack.handle_stop_signals()
    cfg = stack.StackConfig.from_env()
    check_settings()
    ports = load_settings(DevRunPorts).ports()
    problems = ports_problems(ports, cfg)
    if problems:
        print("make run cannot start:\n" + "\n".join(f"  {p}" for p in problems), file=sys.stderr, flush=True)
        return EXIT_PORT_IN_USE
    started: list[str] = []
    work_dir = cfg.data_dir / "run-dev"
    pipeline: Pipeline | None = None
    failed: ServiceProcess | None = None
    interrupted = False
    try:
        print("starting the local stack (noida-db: Kafka + Elasticsearch; aiosmtpd: SMTP -> Maildir)...", flush=True)
        stack.up(cfg, started=started)
        # Ingest keeps its state where `python -m services.ingest publish` keeps it by default, so that a notice
        # published from the command line next to `make run` is an update (version 2...) of what `make run`
        # published, not a new version 1 the matcher drops as stale.
        state_dir = cli_ingest_state_dir()
        pipeline = Pipeline(cfg, work_dir, ingest_state_dir=state_dir, ports=ports)
        if adopt_ingest_state(work_dir / "ingest-state", state_dir):
            print(f"  carried the ingest state of earlier runs over to {state_dir}", flush=True)
        demo = cfg.data_dir / "demo-data"
        refreshed = prepare_demo_data(demo, datetime.now(UTC))
        if refreshed:
            print(f"  {refreshed}", flush=True)
        # Suppliers before the services: the matcher fits its scoring model over them as it starts, so the demo
        # notices are ranked with it. Only when the file changed since its last import: importing it again would
        # undo what suppliers changed on their own pages since.
        suppliers = demo / "suppliers.jsonl"
        from services.matcher.settings import Settings as MatcherSettings  # slow to import: scikit-learn

        # What the matcher CLI below reads from this environment.
        prefix = load_settings(MatcherSettings).matcher_index_prefix
        if suppliers_need_import(suppliers, stored_suppliers(cfg.elasticsearch_url, f"{prefix}-suppliers")):
            digest = file_sha256(suppliers)
            _step(pipeline, "importing the demo suppliers", "matcher", "import-suppliers", str(suppliers))
            mark_suppliers_imported(suppliers, digest)
        else:
            print("the demo suppliers are imported already (unchanged since; their own changes are kept)", flush=True)
        print("starting matcher, notifier and ingest...", flush=True)
        pipeline.start()
        notices = str(demo / "notices.jsonl")
        _step(pipeline, "publishing the demo notices", "ingest", "publish", notices, "--source", "jsonl")
        stop = False

        def _stop(signum: int, frame: object) -> None:
            nonlocal stop
            stop = True

        # Running: a stop request ends the supervision loop below, which then stops everything in order.
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        # The banner only when the services started here are all still up (each answered /healthz on its own port).
        failed = first_exited(pipeline.processes)
        if failed is None and not stop:
            print(banner(pipeline, cfg, suppliers), flush=True)
            failed = supervise(pipeline.processes, lambda: stop)
        if failed is not None:
            print(f"\n{failure_message(failed)}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:  # ``stack.Interrupted``: Ctrl-C or SIGTERM before the services were running
        interrupted = True
    finally:
        # A second Ctrl-C while stopping must not cut the stopping short (each stop is bounded: SIGKILL after 20 s).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _still_stopping)
        print("\nstopping...", flush=True)
        if pipeline is not None:
            pipeline.stop()
        if started:
            stack.down(cfg, only=started)
        print("stopped.", flush=True)
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if failed is None else 1


def _still_stopping(signum: int, frame: object) -> None:
    print(" (still stopping what this command started, a few seconds)", flush=True)


def _sample_preferences_url(suppliers: Path, notifier_url: str) -> str:
    """The preferences page (as linked from every email) of the first demo supplier that reads Chinese."""
    from services.notifier.domain import tokens

    chosen = ""
    for line in suppliers.read_text(encoding="utf-8").splitlines():
        profile = json.loads(line)
        chosen = chosen or profile["supplier_id"]
        if profile.get("preferences", {}).get("language") == "zh-Hans":
            chosen = profile["supplier_id"]
            break
    token = tokens.sign(DEV_UNSUBSCRIBE_SECRET.encode(), tokens.PREFERENCES, chosen)
    return f"{notifier_url}/preferences?token={token}"


def exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds through the ``finally`` blocks, which stop every process and server the run started.
    raise SystemExit(128 + signum)


def demo() -> int:
    from services.demorun import run_demo

    signal.signal(signal.SIGTERM, exit_on_sigterm)
    return run_demo()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    if command not in ("run", "demo"):
        print("usage: python -m services.devrun run|demo", file=sys.stderr)
        return 2
    try:
        return run() if command == "run" else demo()
    except RuntimeError as exc:
        print(f"tenderbridge {command} failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before anything was started (``run`` says "stopped." once it has started)
        print("\nstopped (nothing had been started).", file=sys.stderr)
        return EXIT_INTERRUPTED


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


def dump(obj: object) -> str:
    return json.dumps(obj, sort_keys=False)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

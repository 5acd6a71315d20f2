"""``make run``: the whole product on one machine without Docker, in the foreground, with demo data.

python -m localrun run    # stack + three services + demo data; Ctrl-C stops what it started
"""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from localrun import stack
from localrun.pipeline import (
    DEV_ADMIN_KEY,
    DEV_PUSH_KEY,
    DEV_UNSUBSCRIBE_SECRET,
    SERVICES,
    Pipeline,
    ServiceProcess,
    ended,
    last_words,
    port_in_use_message,
    write_demo_data,
)
from services.infra.net import port_free
from services.infra.settings import check_port, load_settings
from services.ingest.settings import Settings as IngestSettings
from services.notifier.settings import Settings as NotifierSettings

#: Exit status of ``make run`` when a port it needs is taken (as the services' own: ``EXIT_PORT_UNAVAILABLE``).
EXIT_PORT_IN_USE = 4
#: Exit status of ``make run`` stopped by Ctrl-C or SIGTERM before it was running.
EXIT_INTERRUPTED = 130


DEMO_SUPPLIERS, DEMO_NOTICES = 300, 200
#: The real OCDS samples of the shared reference data, published by ``make run`` when present.
OCDS_SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ocds-samples"


def prepare_demo_data(demo: Path, now: datetime) -> str | None:
    """The demo data of ``make run``, written once and then reused: regenerated notices would carry new deadlines,
    i.e. amendments to every notice (and a "this tender changed" email to every alerted supplier) at each start.

    When most of its notices have closed (a run weeks later), a new batch of notices replaces them in the file,
    with a seed taken from the day: new ids, so they are published as new notices and the closed ones stay as they
    were. Returns what was written, for the console, or None.
    """
    notices = demo / "notices.jsonl"
    if not notices.exists():
        write_demo_data(demo, suppliers=DEMO_SUPPLIERS, notices=DEMO_NOTICES)
        return None
    deadlines = [json.loads(line).get("deadline_at") for line in notices.read_text(encoding="utf-8").splitlines()]
    still_open = sum(1 for d in deadlines if d is None or datetime.fromisoformat(d) > now)
    if 2 * still_open >= len(deadlines):
        return None
    from localrun.demodata.data import generate_notices

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


def failure_message(process: ServiceProcess) -> str:
    code = process.proc.returncode if process.proc is not None else None
    return f"make run stopped because {process.name} {ended(code)}{last_words(process.log_path)}"


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
        f"  supplier sign-up   {pipeline.processes['matcher'].url}/register   (English or Chinese, public)\n"
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
        if OCDS_SAMPLES.exists():
            # Real notices, and their awards: the matcher's awards worker makes prospects of the winners it does not
            # know, which buyers then see (marked as such) on the shortlists they fit. Ingest's state makes a
            # restart publish only what changed.
            what = "publishing the real OCDS samples (notices and award records)"
            _step(pipeline, what, "ingest", "publish", str(OCDS_SAMPLES), "--source", "ocds")
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

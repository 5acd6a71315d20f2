"""The three services as child processes wired to one local stack: what ``make run``, ``make demo``, the e2e tests
and the soak benchmark start.

The services run as ``python -m services.<name> run`` with their settings passed through the environment, exactly
as an operator would run them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from localrun import stack
from services.infra.net import free_port, port_free
from services.notifier.settings import Settings as NotifierSettings

SERVICES = {"matcher": 8000, "ingest": 8001, "notifier": 8002}
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
                raise RuntimeError(f"{self.name} {ended(self.proc.returncode)}{last_words(self.log_path)}")
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
    #: One-shot commands running now (``cli``), which ``stop`` kills: a thread waiting on one (``make demo`` runs
    #: some beside each other) would otherwise hold a Ctrl-C until the command ends.
    commands: set[subprocess.Popen[str]] = field(default_factory=set)

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
                "AWARDS",
                "AWARDS_DLQ",
                "FEEDBACK",
                "FEEDBACK_DLQ",
            ):
                from services.infra.settings import CommonSettings

                default = CommonSettings.model_fields[f"topic_{topic_field.lower()}"].default
                env[f"TB_TOPIC_{topic_field}"] = f"{default}{suffix}"
            env["TB_MATCHER_INDEX_PREFIX"] = f"tb-{self.run_id}"
            env["TB_NOTIFIER_INDEX_PREFIX"] = f"tb-{self.run_id}"
            env["TB_MATCHER_CONSUMER_GROUP"] = f"matcher-{self.run_id}"
            env["TB_MATCHER_AWARDS_CONSUMER_GROUP"] = f"matcher-awards-{self.run_id}"
            env["TB_MATCHER_FEEDBACK_CONSUMER_GROUP"] = f"matcher-feedback-{self.run_id}"
            env["TB_NOTIFIER_CONSUMER_GROUP"] = f"notifier-{self.run_id}"
        env.update(self.extra_env)
        return env

    def start(self, names: tuple[str, ...] = ("matcher", "notifier", "ingest")) -> None:
        self.launch(names)
        self.wait_healthy(names)

    def launch(self, names: tuple[str, ...]) -> None:
        """Start the services without waiting for them (``wait_healthy`` does), so other work overlaps their start."""
        for name in names:
            process = ServiceProcess(name, self.env(), self.work_dir / "logs" / f"{name}.log", self.ports[name])
            self.processes[name] = process
            process.start()

    def wait_healthy(self, names: tuple[str, ...] | None = None) -> None:
        for name in names or tuple(self.processes):
            self.processes[name].wait_healthy()

    def stop(self) -> None:
        """Kill the one-shot commands still running, and stop every service at once (SIGTERM, then SIGKILL after the
        grace time): as long as the slowest one takes, not the sum of the three."""
        for command in self.commands.copy():
            command.kill()
        processes = list(self.processes.values())
        if processes:
            with ThreadPoolExecutor(max_workers=len(processes)) as pool:
                list(pool.map(ServiceProcess.stop, processes))

    def cli(self, service: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a one-shot service command (``import-suppliers``, ``publish``) with the pipeline's settings; raises
        ``CalledProcessError`` when it fails (or ``stop`` killed it), ``TimeoutExpired`` after ``timeout``."""
        command = [sys.executable, "-m", f"services.{service}", *args]
        with subprocess.Popen(
            command,
            env={**os.environ, **self.env()},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Out of the terminal's process group: Ctrl-C reaches ``make run`` alone, which kills this child (as
            # ``subprocess.run`` does on any exception) instead of both printing a KeyboardInterrupt traceback.
            start_new_session=True,
        ) as proc:
            self.commands.add(proc)
            try:
                out, err = proc.communicate(timeout=timeout)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                self.commands.discard(proc)
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, command, out, err)
        return subprocess.CompletedProcess(command, proc.returncode, out, err)


def write_demo_data(out: Path, suppliers: int, notices: int, timeout: float | None = None) -> None:
    """``python -m localrun.demodata write`` as a child process (as an operator would run it)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "localrun.demodata",
            "write",
            "--out",
            str(out),
            "--suppliers",
            str(suppliers),
            "--notices",
            str(notices),
        ],
        check=True,
        timeout=timeout,
        start_new_session=True,  # Ctrl-C is the harness's to handle: it kills this child, without its traceback
    )


def ended(code: int | None) -> str:
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


def last_words(log_path: Path) -> str:
    last = last_log_line(log_path)
    return f": {last}\n  its log: {log_path}" if last else f"; its log: {log_path}"


def _suggest_port(port: int, avoid: set[int]) -> int:
    for candidate in (port + 10000, port + 20000, port + 30000):
        if candidate <= 65535 and candidate not in avoid and port_free(candidate):
            return candidate
    return free_port()


def port_in_use_message(name: str, port: int, avoid: Collection[int] = ()) -> str:
    """What holds the port (when this user's process does) and how to move this run elsewhere."""
    holders = sorted(stack.listening_pids(port) or ())
    by = f" by {', '.join(stack.describe_pid(pid) for pid in holders)}" if holders else ""
    variable = f"TB_{name.upper()}_HTTP_PORT"
    return (
        f"port {port} ({name}) is in use{by}. Stop that (another `make run`?), or give this run other ports, "
        f"e.g. `{variable}={_suggest_port(port, set(avoid))} make run`"
    )


def exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds through the ``finally`` blocks, which stop every process and server the run started.
    raise SystemExit(128 + signum)


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]

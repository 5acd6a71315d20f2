"""The local stack without Docker: noida-db for the Kafka and Elasticsearch wire protocols and an aiosmtpd SMTP
sink writing a Maildir, all bound to 127.0.0.1 with their data under ``.data/``.

    python -m localrun.stack up       # start what is not already answering, wait until it answers
    python -m localrun.stack status
    python -m localrun.stack down     # stop exactly the processes this command started

PIDs are recorded in ``.data/run/<name>.pid``; ``down`` signals only those. Ports come from
``TB_STACK_KAFKA_PORT`` (29092), ``TB_STACK_ELASTICSEARCH_PORT`` (29200) and ``TB_STACK_SMTP_PORT`` (2525);
the data directory from ``TB_DATA_DIR`` (``.data``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.infra.net import port_open
from services.infra.settings import check_port, load_settings


class StackSettings(BaseSettings):
    """Where the local stack listens and keeps its data (read by ``make run``, ``make stack-up``...)."""

    model_config = SettingsConfigDict(env_prefix="TB_", extra="ignore")

    #: Directory of the stack's data, PID files and logs (and of ``make run``'s).
    data_dir: Path = Path(".data")
    #: Kafka wire protocol port of noida-db.
    stack_kafka_port: int = 29092
    #: Elasticsearch HTTP port of noida-db.
    stack_elasticsearch_port: int = 29200
    #: Port of the SMTP sink (aiosmtpd writing the Maildir).
    stack_smtp_port: int = 2525

    @field_validator("stack_kafka_port", "stack_elasticsearch_port", "stack_smtp_port")
    @classmethod
    def _port(cls, value: int) -> int:
        return check_port(value)


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    kafka_port: int
    elasticsearch_port: int
    smtp_port: int
    host: str = "127.0.0.1"

    @classmethod
    def from_env(cls) -> StackConfig:
        """From the ``TB_DATA_DIR`` and ``TB_STACK_*_PORT`` variables; a wrong one ends the command with a
        "configuration error" line and exit status 2."""
        settings = load_settings(StackSettings)
        return cls(
            data_dir=settings.data_dir.resolve(),
            kafka_port=settings.stack_kafka_port,
            elasticsearch_port=settings.stack_elasticsearch_port,
            smtp_port=settings.stack_smtp_port,
        )

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def elasticsearch_url(self) -> str:
        return f"http://{self.host}:{self.elasticsearch_port}"

    @property
    def maildir(self) -> Path:
        return self.data_dir / "maildir"

    def env(self) -> dict[str, str]:
        """The service settings that point at this stack."""
        return {
            "TB_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "TB_ELASTICSEARCH_URL": self.elasticsearch_url,
            "TB_SMTP_HOST": self.host,
            "TB_SMTP_PORT": str(self.smtp_port),
        }


def elasticsearch_ready(cfg: StackConfig) -> bool:
    try:
        with urllib.request.urlopen(cfg.elasticsearch_url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def kafka_ready(cfg: StackConfig) -> bool:
    if not port_open(cfg.host, cfg.kafka_port):
        return False
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def smtp_ready(cfg: StackConfig) -> bool:
    try:
        with socket.create_connection((cfg.host, cfg.smtp_port), timeout=1) as sock:
            return sock.recv(3) == b"220"
    except OSError:
        return False


_CHILDREN: list[subprocess.Popen[bytes]] = []


def _pid_file(cfg: StackConfig, name: str) -> Path:
    return cfg.data_dir / "run" / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def noida_binary() -> str:
    here = Path(sys.executable).parent / "noida-db"
    found = str(here) if here.exists() else shutil.which("noida-db")
    if not found:
        raise RuntimeError("noida-db is not installed: run `pip install -e .[dev]` (it pins noida-db)")
    return found


def noida_command(cfg: StackConfig) -> list[str]:
    """noida-db serving Kafka and Elasticsearch on the config's ports, its data in ``<data_dir>/noida``."""
    return [
        noida_binary(),
        "start",
        "--data-dir",
        str(cfg.data_dir / "noida"),
        "--host",
        cfg.host,
        "--only",
        "kafka,elasticsearch",
        "--kafka-port",
        str(cfg.kafka_port),
        "--elasticsearch-port",
        str(cfg.elasticsearch_port),
    ]


def spawn(argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a child leading its own session (so ``stop_process`` reaches all it starts), output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )


class Interrupted(KeyboardInterrupt):
    """Raised (by ``handle_stop_signals``) in the main thread on Ctrl-C or SIGTERM, so that ``finally`` blocks stop
    what was started; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_held = 0
_pending: list[int] = []


def _raise_interrupted(signum: int, frame: object) -> None:
    if _held:
        _pending.append(signum)  # raised when the section that must not be cut in two ends (``held_signals``)
        return
    raise Interrupted(signum)


def handle_stop_signals() -> None:
    """From now on Ctrl-C (SIGINT) and SIGTERM raise ``Interrupted`` in the main thread, except inside
    ``held_signals()``, which delays them to its end."""
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """A section a stop signal must not cut in two (a child started but not recorded yet, so never stopped): the
    signal's ``Interrupted`` is raised when the section ends. (Not ``pthread_sigmask``: children would inherit the
    blocked mask and ignore the SIGTERM that stops them.)"""
    global _held
    _held += 1
    try:
        yield
    except BaseException:
        _held -= 1
        if not _held:
            _pending.clear()  # already on its way out: a signal that came meanwhile adds nothing
        raise
    _held -= 1
    if not _held and _pending:
        signum = _pending[0]
        _pending.clear()
        raise Interrupted(signum)


def _spawn(cfg: StackConfig, name: str, argv: list[str], started: list[str]) -> int:
    (cfg.data_dir / "run").mkdir(parents=True, exist_ok=True)
    with held_signals():
        proc = spawn(argv, cfg.data_dir / "logs" / f"{name}.log")
        # Keep the handle: a collected Popen of a live child warns, and ``down`` reaps through waitpid.
        _CHILDREN.append(proc)
        _pid_file(cfg, name).write_text(str(proc.pid))
        started.append(name)
    return proc.pid


def _wait(what: str, check: object, cfg: StackConfig, timeout: float) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check(cfg):
            return
        time.sleep(0.3)
    raise SystemExit(f"{what} did not answer within {timeout:.0f}s (see {cfg.data_dir / 'logs'})")


def up(cfg: StackConfig, timeout: float = 60.0, started: list[str] | None = None) -> list[str]:
    """Start whatever does not answer yet; return the names started (an empty list means all were reused).

    When it cannot finish (a server does not answer in time, Ctrl-C while waiting...), it stops what it started
    before the error goes on: nothing is left running that no one will stop. ``started`` (appended to as each server
    starts) lets a caller see what was started so far."""
    started = [] if started is None else started
    try:
        _up(cfg, timeout, started)
    except BaseException:
        with held_signals():
            down(cfg, only=started)
            started.clear()
        raise
    return started


def _up(cfg: StackConfig, timeout: float, started: list[str]) -> None:
    if not (elasticsearch_ready(cfg) and port_open(cfg.host, cfg.kafka_port)):
        if port_open(cfg.host, cfg.kafka_port) or port_open(cfg.host, cfg.elasticsearch_port):
            raise SystemExit(
                f"port {cfg.kafka_port} or {cfg.elasticsearch_port} is taken by something that is not a working "
                "Kafka + Elasticsearch; stop it or choose other ports (TB_STACK_*_PORT)"
            )
        (cfg.data_dir / "noida").mkdir(parents=True, exist_ok=True)
        _spawn(cfg, "noida", noida_command(cfg), started)
    if not smtp_ready(cfg):
        for sub in ("tmp", "new", "cur"):
            (cfg.maildir / sub).mkdir(parents=True, exist_ok=True)
        _spawn(
            cfg,
            "smtp",
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"{cfg.host}:{cfg.smtp_port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(cfg.maildir),
            ],
            started,
        )
    _wait("Elasticsearch", elasticsearch_ready, cfg, timeout)
    _wait("Kafka", kafka_ready, cfg, timeout)
    _wait("SMTP", smtp_ready, cfg, timeout)


def down(cfg: StackConfig, timeout: float = 20.0, only: list[str] | None = None) -> list[str]:
    """Stop the processes recorded in the PID files (and only those; of them only ``only`` when given); return their
    names."""
    stopped: list[str] = []
    for name in ("smtp", "noida"):
        if only is not None and name not in only:
            continue
        pid_file = _pid_file(cfg, name)
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text().strip() or 0)
        if pid and _alive(pid):
            _stop_group(pid, functools.partial(_reap, pid), signal.SIGTERM, timeout)
            stopped.append(name)
        pid_file.unlink(missing_ok=True)
    return stopped


def stop_process(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Stop a child started by ``spawn`` and everything it started: ``sig`` to its process group, then SIGKILL to
    what is left after ``timeout`` seconds; returns when no member of the group is left."""
    if proc.poll() is None or group_members(proc.pid):
        _stop_group(proc.pid, proc.poll, sig, timeout)


def _stop_group(pgid: int, reap: Callable[[], object], sig: signal.Signals, timeout: float) -> None:
    # Each child leads its own session (start_new_session), so signalling the group also stops the children a
    # launcher may have (the noida-db entry point runs the server binary as a child).
    for signum, limit in ((sig, timeout), (signal.SIGKILL, 5.0)):
        _signal_group(pgid, signum)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            reap()
            if not (_alive(pgid) or group_members(pgid)):
                return
            time.sleep(0.05)
    reap()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group (zombies are gone for our purposes)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state, fields[2] the process group id.
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _reap(pid: int) -> None:
    for proc in _CHILDREN:
        if proc.pid == pid:
            proc.poll()
            return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def listening_pids(port: int) -> set[int] | None:
    """The processes (of this user: others' descriptors cannot be read) listening on a TCP port, read from
    ``/proc``; None where ``/proc/net/tcp`` cannot be read (not Linux)."""
    inodes: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT, st 0A is LISTEN, then the socket's inode.
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not readable:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids: set[int] = set()
    if not wanted:
        return pids
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile (the listing's own descriptor, for one)
            if link in wanted:
                pids.add(int(fd_dir.parent.name))
                break
    return pids


def describe_pid(pid: int) -> str:
    """``pid 42 (python -m services.ingest run)``, the command line shortened; just ``pid 42`` if unreadable."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return f"pid {pid}"
    words = [os.path.basename(argv[0].decode(errors="replace"))] + [a.decode(errors="replace") for a in argv[1:]]
    command = " ".join(" ".join(words).split())
    return f"pid {pid} ({command[:80]}{'...' if len(command) > 80 else ''})"


def status(cfg: StackConfig) -> dict[str, bool]:
    return {
        f"kafka {cfg.kafka_bootstrap}": kafka_ready(cfg),
        f"elasticsearch {cfg.elasticsearch_url}": elasticsearch_ready(cfg),
        f"smtp {cfg.host}:{cfg.smtp_port} -> {cfg.maildir}": smtp_ready(cfg),
    }


def main(argv: list[str]) -> int:
    cfg = StackConfig.from_env()
    command = argv[0] if argv else "status"
    if command == "up":
        try:
            started = up(cfg)
        except RuntimeError as exc:
            print(f"stack up failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nstack up interrupted: stopped what it had started", file=sys.stderr)
            return 130
        print(f"stack up ({', '.join(started) or 'all reused'}): data in {cfg.data_dir}")
        for key, value in cfg.env().items():
            print(f"  {key}={value}")
        return 0
    if command == "down":
        stopped = down(cfg)
        print(f"stack down: stopped {', '.join(stopped) or 'nothing (no PID files)'}")
        return 0
    if command == "status":
        states = status(cfg)
        for what, ok in states.items():
            print(f"{'up  ' if ok else 'DOWN'} {what}")
        return 0 if all(states.values()) else 1
    print("usage: python -m localrun.stack up|down|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""A local aiosmtpd sink for the notifier benchmark, run in its own process so that client and server do not share
an interpreter: ``python -m bench.notify.server --port P [--cert C --key K --auth user:password]``.

``Server.start`` runs it for the benchmark (``bench.notify`` and its ``pipeline``). It accepts every message, counts
them, and prints the count on SIGTERM. With ``--cert``/``--key`` it requires STARTTLS, with ``--auth`` AUTH
(PLAIN/LOGIN) after STARTTLS, like a provider's port 587; with ``--pipelining`` it advertises RFC 2920 PIPELINING,
as Postfix, Exim, Gmail and SES do.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.infra.net import free_port


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[str]

    @classmethod
    def start(cls, extra: list[str]) -> Server:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.notify.server", "--port", str(port), *extra],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the benchmark SMTP server did not start")
        return cls(port, proc)

    def stop(self) -> int:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return int(out.strip().splitlines()[-1])

    def cpu_s(self) -> float:
        """CPU time the server process used so far (Linux ``/proc``; NaN elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Counter:
    def __init__(self, pipelining: bool) -> None:
        self.count = 0
        self.pipelining = pipelining

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            # aiosmtpd reads commands one line at a time from its stream, so a pipelined group is handled in order;
            # it just does not say so. Real MTAs (Postfix, Exim, Gmail, SES) advertise it.
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 2.0.0 accepted"


def main(argv: list[str]) -> int:
    # aiosmtpd 1.4 logs a warning about its own deprecated Session.login_data on every AUTH.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="user:password")
    parser.add_argument("--pipelining", action="store_true", help="advertise PIPELINING (RFC 2920)")
    args = parser.parse_args(argv)
    handler = Counter(args.pipelining)
    kwargs: dict[str, Any] = {}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        kwargs.update(tls_context=context, require_starttls=True)
    if args.auth:
        user, password = args.auth.encode().split(b":", 1)

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.login == user and data.password == password
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticator, auth_require_tls=bool(args.cert))
    controller = Controller(handler, hostname="127.0.0.1", port=args.port, **kwargs)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    print(handler.count, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Sending email: the SMTP adapter of the ``MailSender`` port (``ports.py``).

The SMTP adapter keeps one connection open across messages (reconnecting when the server dropped it), spaces
messages to respect a rate limit, and classifies every failure:

- 4xx replies, refused/reset connections, timeouts before the body is sent -> ``TransientMailError`` (retry);
- 5xx replies -> ``PermanentMailError`` (park at once);
- the connection breaking after the whole body (and the final ``.``) was sent but before the server's reply ->
  ``UncertainDelivery``: the server may have accepted it, so the caller must not send it again.

To tell the last case apart, the DATA phase is driven step by step (``DATA``, body, reply) rather than through
``smtplib.SMTP.sendmail``.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Generator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses

from services.notifier.exceptions import MailError, PermanentMailError, TransientMailError, UncertainDelivery

log = logging.getLogger(__name__)


def _classify(code: int, reply: bytes | str, stage: str) -> MailError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    detail = f"{stage}: {code} {text}".strip()[:300]
    if 400 <= code < 500:
        return TransientMailError(f"smtp_{code}", detail)
    return PermanentMailError(f"smtp_{code}", detail)


def _connection_error(exc: BaseException, stage: str) -> TransientMailError:
    if isinstance(exc, ConnectionRefusedError):
        reason = "connection_refused"
    elif isinstance(exc, TimeoutError | socket.timeout):
        reason = "timeout"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        reason = "disconnected"
    elif isinstance(exc, ConnectionResetError):
        reason = "connection_reset"
    else:
        reason = "connection_error"
    return TransientMailError(reason, f"{stage}: {exc.__class__.__name__}: {exc}"[:300])


_LEADING_DOT = re.compile(rb"(?m)^\.")


class RateLimiter:
    """At most ``per_second`` calls per second, evenly spaced (0 = unlimited)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            if self._next > now:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self._interval


@dataclass(frozen=True)
class Prepared:
    """A message as it goes on the wire: envelope addresses and CRLF bytes."""

    sender: str
    recipients: list[str]
    data: bytes


def prepare(message: EmailMessage) -> Prepared:
    """Envelope from the From/To headers and the serialized message; raises ``PermanentMailError`` for what no
    server will take (no address, an internationalized address without SMTPUTF8, unencodable content)."""
    sender = getaddresses([str(message["From"] or "")])[0][1]
    recipients = [addr for _, addr in getaddresses([str(v) for v in message.get_all("To", [])]) if addr]
    if not sender or not recipients:
        raise PermanentMailError("no_address", "message has no sender or no recipient")
    if not all(a.isascii() for a in (sender, *recipients)):
        # SMTPUTF8 (RFC 6531) is not negotiated; an internationalized address cannot be sent as it is.
        raise PermanentMailError("unencodable", "non-ASCII address")
    try:
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    except (UnicodeError, ValueError) as exc:
        raise PermanentMailError("unencodable", str(exc)[:300]) from exc
    return Prepared(sender, recipients, data)


#: One SMTP transaction up to (not including) the final ".": it yields whenever it has written commands and waits for
#: their replies, and returns the connection, left in the middle of DATA. Driving several of them in lock step
#: overlaps the round trips of several connections without threads.
_Steps = Generator[None, None, smtplib.SMTP]


class SmtpMailSender:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        user: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        rate_limit_per_s: float = 0.0,
        reuse_connection: bool = True,
        local_hostname: str | None = None,
        ca_file: str | None = None,
        connections: int = 1,
    ) -> None:
        self._host, self._port = host, port
        self._starttls, self._implicit_tls = starttls, implicit_tls
        self._user, self._password = user, password
        self._timeout = timeout_s
        self._reuse = reuse_connection
        self._local_hostname = local_hostname
        self._ca_file = ca_file
        self._limiter = RateLimiter(rate_limit_per_s)
        #: At most this many messages are in flight at once in ``send_many``, one per connection.
        self.connections = max(1, connections)
        self._conns: list[smtplib.SMTP | None] = [None] * self.connections
        #: Connections opened so far (the benchmark and tests read it).
        self.connections_opened = 0

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._ca_file)

    def _connect(self) -> smtplib.SMTP:
        try:
            conn: smtplib.SMTP
            if self._implicit_tls:
                conn = smtplib.SMTP_SSL(
                    self._host,
                    self._port,
                    local_hostname=self._local_hostname,
                    timeout=self._timeout,
                    context=self._tls_context(),
                )
            else:
                conn = smtplib.SMTP(self._host, self._port, local_hostname=self._local_hostname, timeout=self._timeout)
            # The body and its final "." go out in two writes (see ``before_commit``): without TCP_NODELAY, Nagle's
            # algorithm holds the second one until the server's delayed ACK, ~40 ms per message.
            if conn.sock is not None:
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.ehlo()
            if self._starttls:
                code, reply = conn.starttls(context=self._tls_context())
                if code != 220:
                    raise _classify(code, reply, "STARTTLS")
                conn.ehlo()
            if self._user:
                conn.login(self._user, self._password or "")
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, "connect") from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentMailError("tls_certificate", str(exc)[:300]) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise _connection_error(exc, "connect") from exc
        self.connections_opened += 1
        return conn

    def send(self, message: EmailMessage, before_commit: Callable[[], None] | None = None) -> None:
        self.send_prepared(prepare(message), before_commit)

    def send_prepared(self, prepared: Prepared, before_commit: Callable[[], None] | None = None) -> None:
        """``send`` for a message already serialized (the benchmark times serialization apart from delivery)."""

        def commit(indexes: list[int]) -> Collection[int]:
            if before_commit is not None:
                before_commit()
            return indexes

        [outcome] = self.send_many_prepared([prepared], commit)
        if outcome is not None:
            raise outcome

    def send_many(
        self, messages: Sequence[EmailMessage], before_commit: Callable[[list[int]], Collection[int]]
    ) -> list[MailError | None]:
        outcomes: list[MailError | None] = [None] * len(messages)
        prepared: list[Prepared | None] = []
        for i, message in enumerate(messages):
            try:
                prepared.append(prepare(message))
            except PermanentMailError as exc:
                outcomes[i] = exc
                prepared.append(None)
        todo = [i for i, p in enumerate(prepared) if p is not None]
        if not todo:
            return outcomes

        def commit(indexes: list[int]) -> Collection[int]:
            return before_commit([todo[i] for i in indexes])

        for i, outcome in zip(
            todo, self.send_many_prepared([p for p in prepared if p is not None], commit), strict=True
        ):
            outcomes[i] = outcome
        return outcomes

    def send_many_prepared(
        self, messages: Sequence[Prepared], before_commit: Callable[[list[int]], Collection[int]]
    ) -> list[MailError | None]:
        """``send_many`` for messages already serialized: rounds of up to ``connections`` messages, one per
        connection, their SMTP steps in lock step (each round trip overlapped with the others')."""
        outcomes: list[MailError | None] = [None] * len(messages)
        try:
            for start in range(0, len(messages), self.connections):
                self._round(
                    messages, range(start, min(start + self.connections, len(messages))), before_commit, outcomes
                )
        finally:
            if not self._reuse:
                self.close()
        return outcomes

    def _round(
        self,
        messages: Sequence[Prepared],
        indexes: range,
        before_commit: Callable[[list[int]], Collection[int]],
        outcomes: list[MailError | None],
    ) -> None:
        running: dict[int, _Steps] = {}
        for slot, i in enumerate(indexes):
            self._limiter.wait()
            running[slot] = self._steps(slot, messages[i])
        staged: dict[int, smtplib.SMTP] = {}
        while running:
            for slot, steps in list(running.items()):
                try:
                    next(steps)
                except StopIteration as done:
                    staged[slot] = done.value
                    del running[slot]
                except MailError as exc:
                    outcomes[indexes[slot]] = exc
                    del running[slot]
        if not staged:
            return
        try:
            allowed = set(before_commit([indexes[slot] for slot in staged]))
        except BaseException:
            # "committing" could not be recorded: no "." may be written, and these connections, in the middle of
            # DATA, must never be reused (their next bytes would become part of the message).
            for slot in staged:
                self._drop(slot)
            raise
        committed: dict[int, smtplib.SMTP] = {}
        for slot, conn in staged.items():
            i = indexes[slot]
            if i not in allowed:
                self._drop(slot)  # the server discards the unfinished message
                outcomes[i] = TransientMailError("not_committed", "the caller withheld the final '.'")
                continue
            try:
                conn.send(b".\r\n")
            except (OSError, smtplib.SMTPException) as exc:
                # The final "." did not get through: not delivered.
                self._drop(slot)
                outcomes[i] = _connection_error(exc, "body")
                continue
            committed[slot] = conn
        for slot, conn in committed.items():
            i = indexes[slot]
            try:
                code, reply = conn.getreply()
            except (OSError, smtplib.SMTPException) as exc:
                self._drop(slot)
                outcomes[i] = UncertainDelivery("no_reply_after_data", f"{exc.__class__.__name__}: {exc}"[:300])
                continue
            if code != 250:
                outcomes[i] = _classify(code, reply, "end of DATA")

    def _steps(self, slot: int, prepared: Prepared) -> _Steps:
        sender, recipients, body = prepared.sender, prepared.recipients, prepared.data
        retried = False
        while True:
            conn = self._conns[slot]
            reused = conn is not None
            if conn is None:
                conn = self._conns[slot] = self._connect()
            stage = "MAIL FROM"
            try:
                if conn.has_extn("pipelining"):
                    yield from self._envelope_pipelined(slot, conn, sender, recipients)
                else:
                    yield from self._envelope_stepwise(slot, conn, sender, recipients)
                # RFC 5321 section 4.5.2: a line starting with "." gets one more; the body ends with CRLF "." CRLF.
                payload = _LEADING_DOT.sub(b"..", body)
                if not payload.endswith(b"\r\n"):
                    payload += b"\r\n"
                stage = "body"
                conn.send(payload)
                return conn
            except MailError:
                raise
            except (OSError, smtplib.SMTPException) as exc:
                self._drop(slot)
                # An idle connection the server closed fails on the first command: nothing was sent, reconnect once.
                if reused and not retried and stage == "MAIL FROM":
                    retried = True
                    continue
                # A failure while the body is written means the final "." did not get through: not delivered.
                raise _connection_error(exc, stage) from exc

    def _envelope_stepwise(
        self, slot: int, conn: smtplib.SMTP, sender: str, recipients: list[str]
    ) -> Generator[None, None, None]:
        """MAIL, RCPT..., DATA one at a time, each waiting for its reply; returns once the server said 354."""
        conn.putcmd("mail", f"FROM:{smtplib.quoteaddr(sender)}")
        yield
        code, reply = conn.getreply()
        if code != 250:
            self._reset(slot, conn)
            raise _classify(code, reply, "MAIL FROM")
        accepted, last = 0, (250, b"")
        for rcpt in recipients:
            conn.putcmd("rcpt", f"TO:{smtplib.quoteaddr(rcpt)}")
            yield
            code, reply = conn.getreply()
            if code in (250, 251):
                accepted += 1
            else:
                last = (code, reply)
        if not accepted:
            self._reset(slot, conn)
            raise _classify(last[0], last[1], "RCPT TO")
        conn.putcmd("data")
        yield
        code, reply = conn.getreply()
        if code != 354:
            self._reset(slot, conn)
            raise _classify(code, reply, "DATA")

    def _envelope_pipelined(
        self, slot: int, conn: smtplib.SMTP, sender: str, recipients: list[str]
    ) -> Generator[None, None, None]:
        """RFC 2920 (the server advertised PIPELINING): MAIL, RCPT... and DATA in one write, then their replies in
        order, saving two round trips per message; returns once the server said 354."""
        commands = [f"MAIL FROM:<{sender}>", *(f"RCPT TO:<{r}>" for r in recipients), "DATA"]
        conn.send("".join(f"{c}\r\n" for c in commands).encode("ascii"))
        yield
        mail = conn.getreply()
        rcpts = [conn.getreply() for _ in recipients]
        data = conn.getreply()
        refused = [r for r in rcpts if r[0] not in (250, 251)]
        failure: tuple[tuple[int, bytes], str] | None = None
        if mail[0] != 250:
            failure = (mail, "MAIL FROM")
        elif len(refused) == len(rcpts):
            failure = (refused[-1], "RCPT TO")
        elif data[0] != 354:
            failure = (data, "DATA")
        if failure is None:
            return
        if data[0] == 354:
            # In data mode with nothing valid to send: drop the connection rather than deliver an empty message.
            self._drop(slot)
        else:
            self._reset(slot, conn)
        (code, reply), stage = failure
        raise _classify(code, reply, stage)

    def _reset(self, slot: int, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop(slot)

    def _drop(self, slot: int) -> None:
        conn, self._conns[slot] = self._conns[slot], None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                log.debug("closing a broken SMTP connection failed", exc_info=True)

    def close(self) -> None:
        for slot in range(self.connections):
            conn, self._conns[slot] = self._conns[slot], None
            if conn is None:
                continue
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()

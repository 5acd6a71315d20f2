"""The SMTP adapter against a real aiosmtpd server: one connection for many messages, reconnection after the
server went away, and replies classified as transient or permanent."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from services.notifier.adapters.mail import SmtpMailSender
from services.notifier.exceptions import PermanentMailError, TransientMailError
from tests.integration.notifier.helpers import Sink, message, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(params=[False, True], ids=["stepwise", "pipelined"])
def sink(request: pytest.FixtureRequest) -> Iterator[Sink]:
    s = Sink(pipelining=request.param).start()
    yield s
    s.stop()


def test_many_messages_share_one_connection_and_arrive_intact(sink: Sink) -> None:
    sender = SmtpMailSender("127.0.0.1", sink.port, timeout_s=5)
    for i in range(20):
        sender.send(message(i))
    sender.close()
    emails = sink.wait_for(20)
    assert sender.connections_opened == 1
    assert sink.handler.sessions == 1
    assert sorted(sink.keys()) == sorted(f"k{i}" for i in range(20))
    plain = emails[0].get_body(("plain",))
    assert plain is not None
    assert plain.get_content().startswith(".a line starting with a dot")  # dot-stuffing undone by the server


def test_one_connection_per_message_when_reuse_is_off(sink: Sink) -> None:
    sender = SmtpMailSender("127.0.0.1", sink.port, reuse_connection=False)
    for i in range(3):
        sender.send(message(i))
    sink.wait_for(3)
    assert sender.connections_opened == 3


def test_server_down_is_transient_and_the_sender_reconnects_when_it_is_back(sink: Sink) -> None:
    sender = SmtpMailSender("127.0.0.1", sink.port, timeout_s=5)
    sender.send(message(1))
    sink.stop()
    with pytest.raises(TransientMailError) as refused:
        sender.send(message(2))
    assert refused.value.reason in {"connection_refused", "disconnected", "connection_reset", "connection_error"}
    sink.start()  # same port
    sender.send(message(3))
    sender.close()
    assert sink.keys() == ["k1", "k3"]
    assert sender.connections_opened == 2


def test_a_550_is_permanent_and_the_connection_stays_usable(sink: Sink) -> None:
    sender = SmtpMailSender("127.0.0.1", sink.port)
    with pytest.raises(PermanentMailError) as rejected:
        sender.send(message(1, to="reject-me@example.com"))
    assert rejected.value.reason == "smtp_550"
    sender.send(message(2))
    # One refused recipient among several: the others still get it.
    sender.send(message(3, to="reject-me@example.com, ok@example.com"))
    sender.close()
    assert sink.keys() == ["k2", "k3"]
    assert sender.connections_opened == 1


def test_an_idle_connection_the_server_closed_is_replaced_transparently() -> None:
    sink = Sink(timeout=0.3).start()  # the server hangs up on connections idle for 0.3 s
    try:
        sender = SmtpMailSender("127.0.0.1", sink.port)
        sender.send(message(1))
        wait_until(lambda: len(sink.handler.messages) == 1, 10, "the first message")
        time.sleep(1.0)
        sender.send(message(2))  # first command on the dead connection fails; nothing was sent: reconnect once
        sender.close()
    finally:
        sink.stop()
    assert sink.keys() == ["k1", "k2"]
    assert sender.connections_opened == 2


def test_a_failure_to_record_committing_leaves_the_message_undelivered_and_the_connection_unused(sink: Sink) -> None:
    class StoreDown(Exception):
        pass

    def committing() -> None:
        raise StoreDown("the committing write failed")

    sender = SmtpMailSender("127.0.0.1", sink.port, timeout_s=5)
    with pytest.raises(StoreDown):
        sender.send(message(1), committing)
    # The body went out without its final "."; that connection is dropped, never finished by the next message.
    sender.send(message(2))
    sender.close()
    sink.wait_for(1)
    assert sink.keys() == ["k2"]
    assert sender.connections_opened == 2

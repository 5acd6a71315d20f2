"""The one port check: whether something answers on a port (readiness probes, the local stack), whether a port is
free to listen on (``make run``), and a free one for a test's own server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from services.infra.net import any_port_open, free_port, port_free, port_open

pytestmark = pytest.mark.unit


@pytest.fixture
def listening() -> Iterator[int]:
    """A port this test listens on (nothing accepts: the backlog is enough for a TCP connect to succeed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_a_listening_port_is_open_and_not_free(listening: int) -> None:
    assert port_open("127.0.0.1", listening)
    assert not port_free(listening)


def test_a_port_nothing_listens_on_is_closed_and_free() -> None:
    port = free_port()
    assert not port_open("127.0.0.1", port)
    assert port_free(port)


@pytest.mark.parametrize(
    ("addresses", "answers"),
    [
        ("127.0.0.1:{open}", True),
        ("127.0.0.1:{closed},127.0.0.1:{open}", True),  # one answering bootstrap server is enough
        (" 127.0.0.1:{closed} , 127.0.0.1:{open} ", True),  # spaces around entries, as operators write them
        (":{open}", True),  # no host: this machine
        ("127.0.0.1:{closed}", False),
        ("127.0.0.1", False),  # no port
        ("127.0.0.1:kafka", False),  # a port that is not a number
        ("", False),
    ],
)
def test_any_port_open_reads_a_bootstrap_server_list(listening: int, addresses: str, answers: bool) -> None:
    servers = addresses.format(open=listening, closed=free_port())
    assert any_port_open(servers) is answers

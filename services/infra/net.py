"""Is a TCP port open, is it free: the one place these checks are written, for the services' readiness probes
(``/readyz``), the local stack, the demo and the tests."""

from __future__ import annotations

import socket

LOCALHOST = "127.0.0.1"


def port_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port`` (a cheap readiness check: nothing is sent)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def any_port_open(addresses: str, timeout_s: float = 1.0) -> bool:
    """Whether one of a comma-separated ``host:port`` list (Kafka's bootstrap servers) accepts a TCP connection; an
    entry without a port counts as closed, one without a host means this machine."""
    for address in addresses.split(","):
        host, _, port = address.strip().rpartition(":")
        if port.isdigit() and port_open(host or LOCALHOST, int(port), timeout_s):
            return True
    return False


def port_free(port: int, host: str = LOCALHOST) -> bool:
    """Whether a server could listen on the port (as uvicorn does: ``SO_REUSEADDR``, so a recently closed
    connection in TIME_WAIT does not count as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = LOCALHOST) -> int:
    """A port nothing listens on now, chosen by the system (for a test's or the demo's own server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])

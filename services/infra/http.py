"""HTTP pieces every FastAPI app shares: RFC 9457 problem+json errors, health and readiness, Prometheus metrics."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
#: Exit status of a service whose HTTP port cannot be bound (in use, or not allowed); 3 means Kafka does not answer.
EXIT_PORT_UNAVAILABLE = 4


class PortUnavailable(Exception):
    """Raised if a service's HTTP host and port cannot be bound; the message says which and the setting to change."""


def listening_socket(host: str, port: int, variable: str) -> socket.socket:
    """The bound socket uvicorn serves on (``server.run(sockets=[...])``), bound before anything else starts, so that
    a port in use is said plainly (exit ``EXIT_PORT_UNAVAILABLE``) instead of as uvicorn's startup failure after the
    workers began. Like uvicorn: ``SO_REUSEADDR``, IPv6 when the host is an IPv6 address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortUnavailable(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): another process has it? "
            f"Stop it, or choose another port with {variable}"
        ) from exc
    sock.set_inheritable(True)
    return sock


def listening_socket_or_exit(host: str, port: int, variable: str) -> socket.socket:
    """``listening_socket`` as a ``run`` command's first step: a port it cannot bind is said on one stderr line
    (``error: cannot listen on ...``) and ends the command with ``EXIT_PORT_UNAVAILABLE``, before any worker or
    client starts."""
    try:
        return listening_socket(host, port, variable)
    except PortUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_PORT_UNAVAILABLE) from exc


def problem(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json (https://www.rfc-editor.org/rfc/rfc9457)."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = getattr(exc, "headers", None)
        response = problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        if headers:
            response.headers.update(headers)
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return problem(422, "Unprocessable Content", "the request does not match the schema", errors=errors)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def ops_router(registry: CollectorRegistry, ready: Callable[[], dict[str, bool]]) -> APIRouter:
    """``/healthz`` (the process answers), ``/readyz`` (its dependencies answer), ``/metrics`` (Prometheus)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "a dependency does not answer"}})
    def readyz() -> Response:
        checks = ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @router.get("/metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router

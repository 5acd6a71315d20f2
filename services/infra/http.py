"""HTTP pieces every FastAPI app shares: RFC 9457 problem+json errors, health and readiness, Prometheus metrics,
a body-size guard (``BodyLimit``), security headers (``SecurityHeaders``) and the login-CSRF check
(``cross_site_form``)."""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        headers = dict(getattr(exc, "headers", None) or {})
        allowed = _allowed_methods(request) if exc.status_code == 405 else ""
        if allowed:
            headers["Allow"] = allowed
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


def _allowed_methods(request: Request) -> str:
    """``Allow`` of a 405: the methods of every route of the path (RFC 9110, section 10.2.1). Starlette names only
    the first route's, though ``GET``, ``PUT`` and ``DELETE`` of one path are three routes; FastAPI keeps the routes
    of an included router in it (``original_router``), so the walk goes into them. "" if no route is found (the
    caller then keeps Starlette's own)."""

    def routes(found: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
        for route in found:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                yield from routes(inner.routes)
            else:
                yield route

    every = list(routes(request.app.router.routes))
    # The path template the request's path is routed by (the first that matches, as the router picks), and the
    # methods of that template (``/suppliers/import`` is POST only, though ``/suppliers/{id}`` would match it too).
    template = next((r for r in every if r.matches(request.scope)[0] != Match.NONE), None)
    path = getattr(template, "path", None)
    if path is None:
        return ""
    methods = {m for r in every if getattr(r, "path", None) == path for m in getattr(r, "methods", None) or ()}
    return ", ".join(sorted(methods))


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


#: Deepest JSON nesting a body may have: far beyond any contract (a profile nests four levels), far below
#: Python's recursion limit, which a 100,000-deep array would hit while being parsed.
MAX_JSON_DEPTH = 64


class BodyLimit:
    """ASGI middleware: one size policy at the door. A body longer than ``max_bytes`` answers 413 naming the limit
    before any of it is read when its ``Content-Length`` says so, and as soon as the bytes read pass the limit
    otherwise (a chunked body); a JSON body nested deeper than ``MAX_JSON_DEPTH`` answers 422 before it is parsed.
    ``setting`` names the setting that moves the limit, in the answer."""

    def __init__(self, app: ASGIApp, max_bytes: int, setting: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting

    def too_large(self) -> str:
        return f"the body is larger than {self.max_bytes:,} bytes, the most this service reads ({self.setting})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            status, detail = (413, self.too_large()) if length.isdigit() else (400, "Content-Length is not a number")
            await problem(status, _title(status), detail)(scope, receive, send)
            return
        media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):  # JSON Lines: one value a line
            await self.app(scope, self._counted(receive), send)
            return
        body, refused = await self._read_json(receive)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _counted(self, receive: Receive) -> Receive:
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_bytes:
                    raise StarletteHTTPException(413, self.too_large())
            return message

        return counted

    async def _read_json(self, receive: Receive) -> tuple[bytes, Response | None]:
        """The whole body (bounded) and, if it must be refused, the answer."""
        chunks: list[bytes] = []
        read = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            read += len(chunk)
            if read > self.max_bytes:
                return b"", problem(413, _title(413), self.too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_depth(body) > MAX_JSON_DEPTH:
            detail = f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
            return b"", problem(422, _title(422), detail)
        return body, None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the connection says next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def json_depth(body: bytes, stop_above: int = MAX_JSON_DEPTH) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count), read without
    parsing; it stops counting once past ``stop_above``. Escapes and strings are removed by regular expressions
    and everything but brackets by ``translate`` (all in C), so Python looks at the brackets alone."""
    structure = _STRING.sub(b"", _ESCAPE.sub(b"", body)).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in structure:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest


_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


#: The pages' policy: nothing but their own inline styles (no script, no frames, forms posting only here). The
#: pages have no script at all; their ``<style>`` and ``style=`` attributes are ``'unsafe-inline'`` styles.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: FastAPI's ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from jsDelivr and start them with an inline script.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware: ``X-Content-Type-Options: nosniff`` on every response; on every HTML response a
    ``Content-Security-Policy`` (``PAGE_CSP``; ``DOCS_CSP`` on the API docs), ``X-Frame-Options: DENY`` and
    ``Referrer-Policy: no-referrer`` (a page's address holds notice ids and filters); ``Cache-Control: no-store``
    on every response under ``private_prefixes`` (pages for one signed-in reader, never for a shared cache)."""

    def __init__(self, app: ASGIApp, private_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.private_prefixes = private_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", DOCS_CSP if path in DOCS_PATHS else PAGE_CSP)
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("Referrer-Policy", "no-referrer")
                if path.startswith(self.private_prefixes):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cross_site_form(request: Request) -> bool:
    """Whether a browser marks the request as sent from another site (login CSRF): ``Sec-Fetch-Site`` other than
    ``same-origin`` or ``none`` (typed or bookmarked), else an ``Origin`` whose host is not the one asked. A request
    without either header is no browser's form post (every current browser sends ``Origin`` on a POST)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()

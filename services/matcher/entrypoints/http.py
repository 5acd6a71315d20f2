"""The buyer API (FastAPI; OpenAPI docs at ``/docs``): ``create_app`` puts together the routers of ``routers/``
(auth, suppliers, notices, pages), maps the matcher's errors to status codes, and guards the door.

Authentication: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``; roles and scopes are described in
``services.matcher.keys``; a revoked or expired key answers 401 saying which (``routers.deps.KeyGate``). Every error
of the API is RFC 9457 problem+json; the ``/ui`` pages answer a browser with HTML. Store calls are blocking, so
most routes are plain ``def`` functions that FastAPI runs in its thread pool.

At the door, before a route runs (outermost first): security headers on every answer (``SecurityHeaders``); a
request that sends a body to the API (not the sign-in form) is authenticated from its headers before one byte of
the body is read (``AuthBeforeBody``: an unauthenticated 200 MB post costs nothing); a body over
``TB_MATCHER_MAX_BODY_BYTES`` answers 413 and a JSON body nested deeper than ``MAX_JSON_DEPTH`` 422, before it is
parsed (``BodyLimit``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from services.infra.http import BodyLimit, SecurityHeaders, install_problem_handlers, ops_router, problem
from services.matcher.bootstrap import Container
from services.matcher.entrypoints.forms import FormSigner
from services.matcher.entrypoints.routers import auth, codes, feedback, notices, pages, register, suppliers
from services.matcher.entrypoints.routers.deps import (
    CHALLENGE,
    KEY_REQUIRED,
    REFUSALS,
    UI_COOKIE,
    KeyGate,
    UiKeyRefused,
    sign_in_url,
)
from services.matcher.exceptions import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    NotFound,
    StoreUnavailable,
    TooLarge,
    TooManyRegistrations,
)
from services.matcher.imports import short_error
from services.matcher.keys import Refusal

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
#: Methods whose body ``AuthBeforeBody`` does not let in unauthenticated.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Paths that read a body without an API key: the sign-in form carries the key in its body; the public
#: registration form has none (its own limits, honeypot and signed form token guard it).
KEYLESS_BODY_PATHS = frozenset({"/ui/login", register.REGISTER_PATH})
#: Paths whose forms authenticate with the pages' sign-in cookie (the notice page's marks).
COOKIE_BODY_PREFIX = "/ui/"


class AuthBeforeBody:
    """ASGI middleware: a request that may carry a body (``BODY_METHODS``) is refused with 401 unless its headers
    present a key the gate accepts, before the body is read (FastAPI reads and parses a body before it solves the
    route's dependencies). The route's own ``PrincipalDep`` checks the key again: a cheap read by id, and the one
    place where roles are decided."""

    def __init__(self, app: ASGIApp, gate: KeyGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or scope["path"] in KEYLESS_BODY_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = request.headers.get("x-api-key")
        if not token:
            scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
            token = credentials.strip() if scheme.lower() == "bearer" else None
        if not token and scope["path"].startswith(COOKIE_BODY_PREFIX):
            token = request.cookies.get(UI_COOKIE)
        refusal: str | None = KEY_REQUIRED
        if token:
            try:
                checked = await run_in_threadpool(self.gate.check, token, None)
            except StoreUnavailable as exc:
                await _unavailable(request, exc)(scope, receive, send)
                return
            refusal = REFUSALS[checked] if isinstance(checked, Refusal) else None
        if refusal is not None:
            response = problem(401, "Unauthorized", refusal)
            response.headers.update(CHALLENGE)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _unavailable(request: Request, exc: Exception) -> Response:
    # The store's own words go to the log, never to the caller.
    log.warning("store unavailable: %s", exc)
    response = problem(503, "Service Unavailable", "the profile store does not answer; retry later")
    response.headers["Retry-After"] = "5"
    return response


def create_app(container: Container) -> FastAPI:
    settings = container.settings
    app = FastAPI(
        title="tenderbridge matcher",
        version="1",
        description="Supplier profiles, notices and their explained shortlists. Authenticate with `X-API-Key` or "
        f"`Authorization: Bearer`. Bodies over {settings.matcher_max_body_bytes:,} bytes answer 413 "
        "(`TB_MATCHER_MAX_BODY_BYTES`); profiles over "
        f"{settings.matcher_max_profile_bytes:,} bytes 413 (`TB_MATCHER_MAX_PROFILE_BYTES`); profiles with more than "
        f"{settings.matcher_max_emails_per_profile} addresses 422 (`TB_MATCHER_MAX_EMAILS_PER_PROFILE`); a key "
        f"registering more than {settings.matcher_new_addresses_per_key_hour} new addresses an hour or "
        f"{settings.matcher_new_addresses_per_key_day} a day 429.",
    )
    app.state.container = container
    gate = KeyGate(container)
    app.state.key_gate = gate
    app.state.form_signer = FormSigner.from_settings(settings)
    #: The registration form's code suggestion (``register.CodeSuggest``; None would leave typed codes only).
    app.state.code_suggest = register.code_suggest_of(app)
    # autoescape=True for every template: notice titles and supplier names come from outside.
    app.state.templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    install_problem_handlers(app)

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem(404, "Not Found", str(exc))

    async def forbidden(request: Request, exc: Exception) -> Response:
        return problem(403, "Forbidden", str(exc))

    async def conflict(request: Request, exc: Exception) -> Response:
        return problem(409, "Conflict", str(exc))

    async def invalid(request: Request, exc: Exception) -> Response:
        status = 413 if isinstance(exc, TooLarge) else 422
        return problem(status, "Content Too Large" if status == 413 else "Unprocessable Content", str(exc))

    async def too_many(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TooManyRegistrations)
        response = problem(429, "Too Many Requests", str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def unavailable(request: Request, exc: Exception) -> Response:
        return _unavailable(request, exc)

    async def invalid_model(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError)
        return problem(422, "Unprocessable Content", short_error(exc))

    async def bad_query(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, notices.BadQuery)
        error = {"loc": ["query", exc.parameter], "msg": exc.message, "type": "value_error"}
        return problem(422, "Unprocessable Content", str(exc), errors=[error])

    async def ui_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UiKeyRefused)
        template = request.app.state.templates.get_template("refused.html.j2")
        page = template.render(revoked=exc.refusal == Refusal.REVOKED, login=sign_in_url(request))
        return HTMLResponse(page, status_code=401, headers=exc.headers)

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(AlreadyExists, conflict)
    app.add_exception_handler(InvalidInput, invalid)
    app.add_exception_handler(TooManyRegistrations, too_many)
    app.add_exception_handler(StoreUnavailable, unavailable)
    app.add_exception_handler(ValidationError, invalid_model)
    app.add_exception_handler(notices.BadQuery, bad_query)
    app.add_exception_handler(UiKeyRefused, ui_refused)
    app.include_router(ops_router(container.registry, container.ready))
    # The marks' routes before the notices' and pages' own: their ``path`` converters would take ``.../feedback``.
    routers = (
        feedback.router,
        suppliers.router,
        notices.router,
        codes.router,
        auth.router,
        pages.router,
        register.router,
    )
    for router in routers:
        app.include_router(router)
    # Added innermost first: SecurityHeaders wraps every answer, AuthBeforeBody runs before BodyLimit reads.
    app.add_middleware(BodyLimit, max_bytes=settings.matcher_max_body_bytes, setting="TB_MATCHER_MAX_BODY_BYTES")
    app.add_middleware(AuthBeforeBody, gate=gate)
    app.add_middleware(SecurityHeaders, private_prefixes=("/ui", register.REGISTER_PATH))
    return app

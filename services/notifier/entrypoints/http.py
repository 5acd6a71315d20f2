"""The notifier's HTTP app: RFC 8058 one-click unsubscribe, the confirmation and preferences pages, and the
operations endpoints (``/healthz``, ``/readyz``, ``/metrics``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from elasticsearch import ApiError, TransportError
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.infra.http import install_problem_handlers, ops_router
from services.notifier.domain import tokens
from services.notifier.domain.rendering import render_page
from services.notifier.exceptions import InvalidToken
from services.notifier.service import Notifier

_PROBLEM = {
    "application/problem+json": {
        "schema": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
            },
            "required": ["title", "status"],
        }
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "forged, malformed or wrong-purpose token", "content": _PROBLEM},
    422: {"description": "missing or oversized token", "content": _PROBLEM},
}
_STORE_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"description": "the unsubscribe store does not answer; retry", "content": _PROBLEM}
}
_UNSUBSCRIBED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "unsubscribed (JSON; an HTML page for browsers that accept text/html)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "supplier_id": {"type": "string"},
                        "unsubscribed": {"type": "boolean"},
                        "matcher_updated": {"type": "boolean"},
                    },
                }
            },
            "text/html": {"schema": {"type": "string"}},
        },
    },
    **_ERRORS,
    **_STORE_DOWN,
}


def get_notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


NotifierDep = Annotated[Notifier, Depends(get_notifier)]
Token = Annotated[str, Query(min_length=1, max_length=512, description="signed token from the email")]


def create_app(notifier: Notifier, ready: Callable[[], dict[str, bool]]) -> FastAPI:
    app = FastAPI(title="tenderbridge notifier", version="1")
    app.state.notifier = notifier
    install_problem_handlers(app)
    app.include_router(ops_router(notifier.metrics.registry, ready))

    def supplier_of(n: Notifier, purpose: str, token: str) -> str:
        try:
            return n.verify(purpose, token)
        except InvalidToken as exc:
            raise HTTPException(403, f"invalid {purpose} token") from exc

    def wants_html(request: Request) -> bool:
        return "text/html" in request.headers.get("accept", "")

    @app.post("/unsubscribe", responses=_UNSUBSCRIBED)
    def unsubscribe(request: Request, token: Token, n: NotifierDep) -> Response:
        """One-click unsubscribe (RFC 8058): mail clients POST ``List-Unsubscribe=One-Click`` here."""
        supplier_id = supplier_of(n, tokens.UNSUBSCRIBE, token)
        try:
            forwarded = n.unsubscribe(supplier_id)
        except (ApiError, TransportError) as exc:
            # Not recorded: say so, so the mail client (or the person) tries again; nothing is half done.
            raise HTTPException(503, "the unsubscribe could not be stored; try again shortly") from exc
        if wants_html(request):
            return HTMLResponse(render_page("unsubscribed", n.profiles.get(supplier_id)))
        return JSONResponse({"supplier_id": supplier_id, "unsubscribed": True, "matcher_updated": forwarded})

    @app.get("/unsubscribe", response_class=HTMLResponse, responses=_ERRORS)
    def unsubscribe_page(token: Token, n: NotifierDep) -> HTMLResponse:
        """A confirmation page; following the link alone changes nothing (link scanners follow links)."""
        supplier_id = supplier_of(n, tokens.UNSUBSCRIBE, token)
        action = f"/unsubscribe?token={quote(token, safe='')}"
        return HTMLResponse(render_page("unsubscribe", n.profiles.get(supplier_id), action=action))

    @app.get("/preferences", response_class=HTMLResponse, responses=_ERRORS)
    def preferences_page(token: Token, n: NotifierDep) -> HTMLResponse:
        """The supplier's alert preferences as the notifier applies them, with an unsubscribe button."""
        supplier_id = supplier_of(n, tokens.PREFERENCES, token)
        unsubscribe_token = n.token(tokens.UNSUBSCRIBE, supplier_id)
        action = f"/unsubscribe?token={quote(unsubscribe_token, safe='')}"
        return HTMLResponse(render_page("preferences", n.profiles.get(supplier_id), action=action))

    return app

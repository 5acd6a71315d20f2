"""HTTP app: ``POST /notices`` (push a TenderNotice or an OCDS release), ``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from services.infra.http import install_problem_handlers, ops_router, problem
from services.ingest.domain import jsonl, ocds
from services.ingest.domain.model import Context, Outcome, Rejection
from services.ingest.domain.normalize import raw_text
from services.ingest.service import Ingestor

MAX_BODY_BYTES = 5_000_000


def _key_from(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def map_pushed(body: Any, ctx: Context) -> Outcome:
    """A pushed document: a TenderNotice (it has ``notice_id``) or one OCDS release (it has ``ocid``)."""
    if isinstance(body, dict) and "notice_id" in body:
        return jsonl.from_dict(body, raw_text(body))
    if isinstance(body, dict) and ("ocid" in body or "tag" in body):
        outcomes = list(ocds.parse_document(body, ctx))
        if len(outcomes) != 1:
            return Rejection("not_one_release", "push exactly one OCDS release per request", raw_text(body))
        return outcomes[0]
    return Rejection(
        "unknown_document", "expected a TenderNotice (with notice_id) or an OCDS release (with ocid)", raw_text(body)
    )


def create_app(
    ingestor: Ingestor,
    api_keys: set[str],
    ctx: Context,
    ready: Callable[[], dict[str, bool]] = lambda: {"state": True},
) -> FastAPI:
    app = FastAPI(title="tenderbridge ingest", version="1")
    install_problem_handlers(app)
    app.include_router(ops_router(ingestor.metrics.registry, ready))

    def authorized(
        x_api_key: Annotated[str | None, Header()] = None, authorization: Annotated[str | None, Header()] = None
    ) -> None:
        key = _key_from(x_api_key, authorization)
        if key is None or not any(hmac.compare_digest(key, k) for k in api_keys):
            raise HTTPException(401, "a valid X-API-Key or Authorization: Bearer key is required")

    @app.post(
        "/notices",
        status_code=202,
        dependencies=[Depends(authorized)],
        responses={
            202: {"description": "accepted"},
            401: {"description": "no valid key"},
            422: {"description": "not a notice"},
        },
    )
    async def push(request: Request) -> Response:
        body_bytes = await request.body()
        if len(body_bytes) > MAX_BODY_BYTES:
            return problem(413, "Content Too Large", f"at most {MAX_BODY_BYTES} bytes per notice")
        try:
            body = orjson.loads(body_bytes)
        except orjson.JSONDecodeError as exc:
            outcome: Outcome = Rejection("invalid_json", str(exc), body_bytes.decode("utf-8", errors="replace"))
        else:
            if ocds.depth_exceeds(body, ocds.MAX_DEPTH):
                outcome = Rejection(
                    "invalid_json",
                    f"nested more than {ocds.MAX_DEPTH} levels deep",
                    body_bytes.decode("utf-8", "replace"),
                )
            else:
                outcome = map_pushed(body, ctx)
        # A rejected push is dead-lettered too (nothing is lost), and the caller is told why.
        _stats, published = await run_in_threadpool(ingestor.ingest, [outcome], "http")
        if isinstance(outcome, Rejection):
            return problem(422, "Unprocessable Content", outcome.detail, reason=outcome.reason)
        version = published[0].version if published else None
        return JSONResponse(
            {
                "notice_id": outcome.notice_id,
                "version": version,
                "published": bool(published),
                "warnings": list(outcome.warnings),
            },
            status_code=202,
        )

    return app

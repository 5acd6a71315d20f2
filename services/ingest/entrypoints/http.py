"""HTTP app: ``POST /notices`` (push a TenderNotice or an OCDS release), ``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from contracts import TenderNotice
from contracts.topics import MAX_NOTICE_BYTES
from services.infra.exceptions import BodyTooLarge, JsonRejected, PermanentPublishError, TransientPublishError
from services.infra.http import PROBLEM_JSON, install_problem_handlers, ops_router, problem
from services.infra.limits import loads_json, read_body
from services.ingest.domain import jsonl, ocds
from services.ingest.domain.model import Context, Outcome, Rejection, without_bom
from services.ingest.domain.normalize import raw_text
from services.ingest.service import Ingestor

#: The largest push read, in bytes. A body up to this size is read whole and normalized (HTML stripped, codes read):
#: what it makes is then held to the notice limit of the bus (``MAX_NOTICE_BYTES``, ``TB_INGEST_MAX_NOTICE_BYTES``).
MAX_BODY_BYTES = 5_000_000
#: Seconds a client waits before pushing again when Kafka does not answer (503).
RETRY = {"Retry-After": "30"}

#: The contract's JSON Schema (``contracts/schemas/tender_notice.v1.json``), its definitions as OpenAPI components.
_NOTICE_SCHEMA = TenderNotice.model_json_schema(mode="validation", ref_template="#/components/schemas/{model}")
_COMPONENTS: dict[str, Any] = {
    **_NOTICE_SCHEMA.pop("$defs", {}),
    "TenderNotice": _NOTICE_SCHEMA,
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details, the body of every error",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "reason": {"type": "string", "description": "why the record is not a notice (invalid_json, ...)"},
        },
        "required": ["title", "status"],
    },
}
_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
#: The body is read raw (size limit, then JSON, then which document it is), so it is declared here for the docs.
_PUSH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "A TenderNotice (it has notice_id; https://tenderbridge.dev/schemas/tender_notice.v1.json) or one OCDS "
            f"release (it has ocid); at most {MAX_BODY_BYTES:,} bytes."
        ),
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/TenderNotice"},
                        {
                            "type": "object",
                            "title": "OCDS release",
                            "description": "https://standard.open-contracting.org/latest/en/schema/release/",
                            "additionalProperties": True,
                        },
                    ]
                },
                "examples": {
                    "notice": {
                        "summary": "a TenderNotice",
                        "value": {
                            "notice_id": "push:1",
                            "source": "push",
                            "source_id": "1",
                            "title": "Water pumps",
                            "buyer": {"name": "UNICEF"},
                            "classifications": [{"scheme": "UNSPSC", "code": "4213"}],
                        },
                    },
                    "release": {
                        "summary": "an OCDS release",
                        "value": {
                            "ocid": "ocds-abc123-0001",
                            "id": "1",
                            "date": "2026-03-01T10:00:00Z",
                            "tag": ["tender"],
                            "buyer": {"name": "UNICEF"},
                            "tender": {"id": "1", "title": "Water pumps"},
                        },
                    },
                },
            }
        },
    }
}
_PUSH_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "accepted (version null and published false when the notice did not change)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "notice_id": {"type": "string"},
                        "version": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                        "published": {"type": "boolean"},
                        "warnings": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["notice_id", "version", "published", "warnings"],
                }
            }
        },
    },
    401: {"description": "no valid X-API-Key or Authorization: Bearer key", "content": _PROBLEM},
    413: {
        "description": (
            f"more than {MAX_BODY_BYTES:,} bytes (reason too_large, not read), or a notice that takes more than "
            f"{MAX_NOTICE_BYTES:,} bytes as JSON once normalized (the default of TB_INGEST_MAX_NOTICE_BYTES), or "
            "that Kafka refuses (reason too_large or message_too_large, dead-lettered; nothing stored)"
        ),
        "content": _PROBLEM,
    },
    422: {"description": "not a notice (dead-lettered with the reason)", "content": _PROBLEM},
    503: {"description": "Kafka does not answer: nothing was stored, push again (Retry-After)", "content": _PROBLEM},
}


def _key_from(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def map_pushed(body: Any, ctx: Context) -> Outcome:
    """A pushed document: a TenderNotice (it has ``notice_id``) or one OCDS release (it has ``ocid``)."""
    if isinstance(body, dict) and "notice_id" in body:
        return jsonl.from_dict(body, raw_text(body), ctx)
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
        responses=_PUSH_RESPONSES,
        openapi_extra=_PUSH_BODY,
    )
    async def push(request: Request) -> Response:
        """Push one notice: a TenderNotice or an OCDS release, normalized like every other source."""
        try:
            body_bytes = await read_body(request, MAX_BODY_BYTES)
        except BodyTooLarge as exc:
            return problem(413, "Content Too Large", f"{exc} per push", reason="too_large")
        try:
            body = loads_json(without_bom(body_bytes), ocds.MAX_DEPTH)
        except JsonRejected as exc:
            outcome: Outcome = Rejection("invalid_json", str(exc), body_bytes.decode("utf-8", "replace"))
        else:
            outcome = map_pushed(body, ctx)
        # A rejected push is dead-lettered too (nothing is lost), and the caller is told why.
        try:
            stats, published = await run_in_threadpool(ingestor.ingest, [outcome], "http")
        except TransientPublishError as exc:
            # Nothing was stored: the same push, later, is accepted as if it were the first.
            unavailable = problem(503, "Service Unavailable", f"{exc}; nothing was stored, push again")
            unavailable.headers.update(RETRY)
            return unavailable
        except PermanentPublishError as exc:
            return problem(422, "Unprocessable Content", str(exc), reason=exc.refused[0].reason)
        if stats.refused:  # a notice the bus cannot carry: dead-lettered, nothing stored
            refusal = stats.refused[0]
            return problem(413, "Content Too Large", refusal.detail, reason=refusal.reason)
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

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(_COMPONENTS)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
    return app

"""What every router of the buyer API depends on (as the FastAPI full-stack template's ``api/deps.py``): the
container, the key gate, the caller (``PrincipalDep`` from a header; ``UiPrincipalDep`` from a header or the pages'
cookie), the page templates, and the problem+json shape every error has. Routes declare these as ``Annotated``
aliases; tests swap them with ``app.dependency_overrides``."""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import BackgroundTasks, Depends, HTTPException, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ConfigDict

from services.infra.http import PROBLEM_JSON
from services.matcher.bootstrap import Container
from services.matcher.entrypoints.forms import FormSigner
from services.matcher.exceptions import InvalidInput, StoreUnavailable
from services.matcher.keys import (
    KEY_ID_LENGTH,
    LAST_USE_PRECISION,
    ApiKey,
    Principal,
    Refusal,
    Role,
    hash_token,
    same_secret,
)

log = logging.getLogger(__name__)

CSV_MEDIA_TYPE = "text/csv"


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of errors answered as problem+json."""
    return {
        code: {
            "description": HTTPStatus(code).phrase,
            "model": Problem,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for code in codes
    }


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_templates(request: Request) -> Environment:
    templates: Environment = request.app.state.templates
    return templates


TemplatesDep = Annotated[Environment, Depends(get_templates)]


api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")
bearer_token = HTTPBearer(auto_error=False, description="an API key as a bearer token")
#: The buyer pages (and only they) also accept the key from this cookie, set by ``POST /ui/login``.
UI_COOKIE = "tb_api_key"
ui_cookie = APIKeyCookie(name=UI_COOKIE, auto_error=False, description="set by POST /ui/login; /ui pages only")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tenderbridge"'}
#: Why a request has no principal: said by the API's 401 and by the guard that refuses a body before reading it.
KEY_REQUIRED = "an API key is required (X-API-Key or Authorization: Bearer)"


#: What a refused key is told: which of the three, nothing more (not when or why a key was revoked).
REFUSALS = {
    Refusal.UNKNOWN: "unknown API key",
    Refusal.REVOKED: "this API key was revoked",
    Refusal.EXPIRED: "this API key expired",
}


class UiKeyRefused(Exception):
    """Raised if a ``/ui`` page is asked for with a revoked or expired key: the app answers 401 with an HTML page
    that says so and links to the sign-in form (a browser shows it; problem+json is for the API's programs)."""

    def __init__(self, refusal: Refusal, headers: dict[str, str]) -> None:
        super().__init__(REFUSALS[refusal])
        self.refusal = refusal
        self.headers = headers


_refusal_counters: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()
_refusal_counters_lock = threading.Lock()


def refusal_counter(registry: CollectorRegistry) -> Counter:
    """``matcher_api_keys_refused_total{reason}``, one per registry (several apps may serve one container)."""
    with _refusal_counters_lock:
        counter = _refusal_counters.get(registry)
        if counter is None:
            counter = Counter(
                "matcher_api_keys_refused",
                "Requests refused for the API key they presented, by reason (unknown, revoked, expired)",
                ["reason"],
                registry=registry,
            )
            for reason in Refusal:
                counter.labels(reason.value)  # every reason at 0 from the start, so rate() sees the first refusal
            _refusal_counters[registry] = counter
        return counter


class KeyGate:
    """Tells who presents a token. The admin setting first, else the stored key, read from the store on every
    request: there is no cache, so a revocation or an expiry applies to the very next request.

    A key's last use is written at most once per ``LAST_USE_PRECISION`` per key and process, in a background task
    after the response (the stored ``last_used_at``, read with the key anyway, says when it is due; a claim in
    memory keeps a burst of requests from writing it more than once)."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.refused = refusal_counter(container.registry)
        self._claimed: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def check(self, token: str, background: BackgroundTasks | None) -> Principal | Refusal:
        admin = self.container.settings.matcher_admin_api_key
        if admin is not None and admin.get_secret_value() and same_secret(token, admin.get_secret_value()):
            return Principal(Role.ADMIN)
        key = self.container.keys.find(hash_token(token))
        if key is None:
            return self._refuse(Refusal.UNKNOWN, None)
        now = self.container.matcher.clock()
        refusal = key.refusal(now)
        if refusal is not None:
            return self._refuse(refusal, key)
        if background is not None and key.use_is_stale(now) and self._claim(key.key_hash, now):
            background.add_task(self._record_use, key.key_hash, now)
        return Principal(key.role, agency=key.agency, supplier_id=key.supplier_id, key_id=key.key_id)

    def _refuse(self, refusal: Refusal, key: ApiKey | None) -> Refusal:
        self.refused.labels(refusal.value).inc()
        if key is not None:  # the key id is public (a hash prefix); operators look for leaked keys still tried
            log.info("refused API key %s: %s", key.key_id, refusal.value)
        return refusal

    def _claim(self, key_hash: str, now: datetime) -> bool:
        with self._lock:
            claimed = self._claimed.get(key_hash)
            if claimed is not None and now - claimed < LAST_USE_PRECISION:
                return False
            self._claimed[key_hash] = now
            return True

    def _record_use(self, key_hash: str, now: datetime) -> None:
        try:
            self.container.keys.record_use(key_hash, now)
        except (StoreUnavailable, InvalidInput) as exc:  # a missed last use is not worth an error after the answer
            log.warning("could not record the last use of API key %s: %s", key_hash[:KEY_ID_LENGTH], exc)


def get_gate(request: Request) -> KeyGate:
    gate: KeyGate = request.app.state.key_gate
    return gate


GateDep = Annotated[KeyGate, Depends(get_gate)]


def header_token(x_api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    """The key a request presents in a header: ``X-API-Key`` first, else ``Authorization: Bearer``."""
    return x_api_key or (bearer.credentials if bearer is not None else None)


def get_principal(
    gate: GateDep,
    background: BackgroundTasks,
    x_api_key: Annotated[str | None, Security(api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)],
) -> Principal:
    token = header_token(x_api_key, bearer)
    if not token:
        raise HTTPException(401, KEY_REQUIRED, headers=CHALLENGE)
    principal = gate.check(token, background)
    if isinstance(principal, Refusal):
        raise HTTPException(401, REFUSALS[principal], headers=CHALLENGE)
    return principal


def sign_in_url(request: Request) -> str:
    """The sign-in form, sending the browser back to the page it asked for."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/login?next={quote(safe_next(here))}"


def safe_next(target: str) -> str:
    """Only redirect within the buyer pages (no open redirect to another site)."""
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/notices"


def get_ui_principal(
    gate: GateDep,
    background: BackgroundTasks,
    x_api_key: Annotated[str | None, Security(api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)],
    cookie: Annotated[str | None, Security(ui_cookie)],
) -> Principal | None:
    """Like ``get_principal`` plus the login cookie; ``None`` (the page redirects to the login form) if absent or
    unknown. The cookie is accepted on these read-only pages only, so a cross-site request cannot change anything.
    A revoked or expired key answers 401 like the API, but as an HTML page saying which with a link to the sign-in
    form (``UiKeyRefused``), and its cookie is cleared (the next visit signs in again)."""
    from_header = header_token(x_api_key, bearer)
    token = from_header or cookie
    if not token:
        return None
    principal = gate.check(token, background)
    if principal is Refusal.UNKNOWN:
        return None
    if isinstance(principal, Refusal):
        headers = dict(CHALLENGE)
        if not from_header:
            headers["Set-Cookie"] = f"{UI_COOKIE}=; Max-Age=0; Path=/ui; HttpOnly; SameSite=strict"
        raise UiKeyRefused(principal, headers)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
UiPrincipalDep = Annotated[Principal | None, Depends(get_ui_principal)]


def get_signer(request: Request) -> FormSigner:
    signer: FormSigner = request.app.state.form_signer
    return signer


#: The signer of the pages' form tokens (``entrypoints.forms``).
SignerDep = Annotated[FormSigner, Depends(get_signer)]


def ui_session(principal: Principal) -> str:
    """What a signed-in page's form tokens are bound to: the key's id (the admin setting has none: its role)."""
    return principal.key_id or principal.role.value

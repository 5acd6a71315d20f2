"""The buyer API (FastAPI; OpenAPI docs at ``/docs``).

Authentication: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``; roles and scopes are described in
``services.matcher.keys``; a revoked or expired key answers 401 saying which (``KeyGate``). Every error of the API
is RFC 9457 problem+json; the ``/ui`` pages answer a browser with HTML (the list form with what is wrong, a revoked
or expired key's page with a link to sign in). Store calls are blocking, so the routes are plain ``def``
functions that FastAPI runs in its thread pool.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, HTTPException, Query, Request, Response, Security
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment, FileSystemLoader
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from contracts import NoticeStatus, Shortlist, ShortlistEntry, SupplierProfile, TenderNotice
from contracts.api import (
    ImportRejection,
    ImportReport,
    NoticePage,
    PreferencesPatch,
    ProfileSaved,
    ShortlistPage,
    SupplierSearchResults,
)
from services.infra.http import PROBLEM_JSON, install_problem_handlers, ops_router, problem
from services.matcher.bootstrap import Container
from services.matcher.entrypoints.pages import (
    CODE_FILTER_HINT,
    UI_MAX_OFFSET,
    UI_NOTICE_TYPES,
    UI_PAGE_SIZE,
    read_filter_code,
    ui_code,
    ui_list_query,
    ui_money,
    ui_utc,
    ui_web_link,
)
from services.matcher.exceptions import AlreadyExists, InvalidInput, NotFound, StoreUnavailable
from services.matcher.imports import parse_file_text, short_error
from services.matcher.keys import (
    KEY_ID_LENGTH,
    LAST_USE_PRECISION,
    ApiKey,
    Principal,
    Refusal,
    Role,
    hash_token,
    normalize_agency,
    same_secret,
)
from services.matcher.ports import NoticeFilter

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
CSV_MEDIA_TYPE = "text/csv"


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
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


api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")
bearer_token = HTTPBearer(auto_error=False, description="an API key as a bearer token")
#: The buyer pages (and only they) also accept the key from this cookie, set by ``POST /ui/login``.
UI_COOKIE = "tb_api_key"
ui_cookie = APIKeyCookie(name=UI_COOKIE, auto_error=False, description="set by POST /ui/login; /ui pages only")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tenderbridge"'}


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


class BadQuery(Exception):
    """Raised if a query parameter has the right type but no meaning (a code that is not one, a deadline window
    that ends before it starts): 422 problem+json naming the parameter, shaped like a schema error."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


def _utc(value: datetime | None) -> datetime | None:
    """A filter instant without an offset is UTC (as Elasticsearch reads it), so that it compares with the others."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


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
        return Principal(key.role, agency=key.agency, supplier_id=key.supplier_id)

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


def get_principal(
    gate: GateDep,
    background: BackgroundTasks,
    x_api_key: Annotated[str | None, Security(api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)],
) -> Principal:
    token = x_api_key or (bearer.credentials if bearer is not None else None)
    if not token:
        raise HTTPException(401, "an API key is required (X-API-Key or Authorization: Bearer)", headers=CHALLENGE)
    principal = gate.check(token, background)
    if isinstance(principal, Refusal):
        raise HTTPException(401, REFUSALS[principal], headers=CHALLENGE)
    return principal


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
    header_token = x_api_key or (bearer.credentials if bearer is not None else None)
    token = header_token or cookie
    if not token:
        return None
    principal = gate.check(token, background)
    if principal is Refusal.UNKNOWN:
        return None
    if isinstance(principal, Refusal):
        headers = dict(CHALLENGE)
        if not header_token:
            headers["Set-Cookie"] = f"{UI_COOKIE}=; Max-Age=0; Path=/ui; HttpOnly; SameSite=strict"
        raise UiKeyRefused(principal, headers)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
UiPrincipalDep = Annotated[Principal | None, Depends(get_ui_principal)]


def _require(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise HTTPException(403, f"a {principal.role.value} key may not do this")


def _require_profile_access(principal: Principal, supplier_id: str, *, buyers: bool = False) -> None:
    if principal.is_admin or principal.owns_profile(supplier_id):
        return
    if buyers and principal.role == Role.BUYER:
        return
    if principal.role == Role.SUPPLIER:
        raise HTTPException(403, "a supplier key may only use its own profile")
    raise HTTPException(403, f"a {principal.role.value} key may not change supplier profiles")


def _safe_next(target: str) -> str:
    """Only redirect within the buyer pages (no open redirect to another site)."""
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/notices"


def _sign_in_url(request: Request) -> str:
    """The sign-in form, sending the browser back to the page it asked for."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/login?next={quote(_safe_next(here))}"


def _visible_notice(container: Container, principal: Principal, notice_id: str) -> TenderNotice:
    _require(principal, Role.ADMIN, Role.BUYER)
    notice = container.matcher.notices.get(notice_id)
    # Another agency's notice answers exactly like a missing one: a buyer cannot probe for it.
    if notice is None or not principal.sees_notice(notice):
        raise HTTPException(404, f"no notice {notice_id!r}")
    return notice


def _shortlist_of(container: Container, notice: TenderNotice) -> Shortlist:
    shortlists = container.matcher.shortlists
    shortlist = shortlists.get(notice.notice_id, notice.version) or shortlists.latest(notice.notice_id)
    if shortlist is None:
        raise HTTPException(404, f"notice {notice.notice_id!r} has no shortlist yet")
    return shortlist


def _filtered_entries(shortlist: Shortlist, min_score: float | None, country: str | None) -> list[ShortlistEntry]:
    return [
        e
        for e in shortlist.entries
        if (min_score is None or e.total_score >= min_score) and (country is None or e.supplier_country == country)
    ]


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to spreadsheet programs (CSV injection, OWASP).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def shortlist_csv(shortlist: Shortlist, entries: Iterable[ShortlistEntry]) -> str:
    entries = list(entries)
    names: dict[str, None] = {}
    for e in entries:
        for c in e.components:
            names.setdefault(c.name, None)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["notice_id", "notice_version", "rank", "supplier_id", "supplier_name", "supplier_country", "total_score"]
        + [f"score_{n}" for n in names]
        + ["reasons"]
    )
    for e in entries:
        contributions = {c.name: c.contribution for c in e.components}
        writer.writerow(
            [
                _csv_cell(v)
                for v in [
                    shortlist.notice_id,
                    shortlist.notice_version,
                    e.rank,
                    e.supplier_id,
                    e.supplier_name,
                    e.supplier_country or "",
                    f"{e.total_score:.4f}",
                    *(f"{contributions.get(n, 0.0):.4f}" for n in names),
                    "; ".join(e.top_reasons()),
                ]
            ]
        )
    return out.getvalue()


#: How the ``/ui`` pages document a refused key (``UiKeyRefused``).
UI_REFUSED: dict[str, Any] = {
    "description": "revoked or expired key: a page that says so, with a link to sign in",
    "content": {"text/html": {}},
}


def as_seen_by(principal: Principal, profile: SupplierProfile) -> SupplierProfile:
    """A profile as a caller may read it. An address waiting for its owner's consent is the registrant's to see:
    a buyer key sees those its own agency registered, not those other agencies typed in (nor who they were); an
    admin and the supplier itself see everything."""
    if principal.role != Role.BUYER:
        return profile
    pending = profile.email_confirmations
    if not pending:
        return profile
    own = {a: c for a, c in pending.items() if c.registered_by == principal.agency}
    hidden = {a for a, c in pending.items() if c.confirmed_at is None and a not in own}
    return profile.model_copy(
        update={"emails": [e for e in profile.emails if e not in hidden], "email_confirmations": own}
    )


def build_router() -> APIRouter:
    router = APIRouter(responses=_problems(401, 403, 404, 409, 422, 503))

    # -- suppliers --------------------------------------------------------------------------------------------------

    def registrar(principal: Principal, profile: SupplierProfile) -> str | None:
        """Who registers the addresses a write adds, named in their confirmation email: None for an admin (its
        roster vouches for consent), else the buyer key's agency or the supplier itself (double opt-in)."""
        return None if principal.is_admin else (principal.agency or profile.display_name)

    @router.post("/suppliers", status_code=201, response_model=ProfileSaved, tags=["suppliers"])
    def create_supplier(profile: SupplierProfile, container: ContainerDep, principal: PrincipalDep) -> ProfileSaved:
        """Register a supplier (admin, buyer, or the supplier's own key). 409 if the id exists."""
        if principal.role == Role.SUPPLIER:
            _require_profile_access(principal, profile.supplier_id)
        try:
            saved, changed = container.matcher.create_profile(profile, registered_by=registrar(principal, profile))
        except AlreadyExists as exc:
            if principal.role == Role.BUYER:  # PUT answers a buyer key 403: do not send it there
                raise HTTPException(
                    409, f"supplier {profile.supplier_id!r} exists; only an admin or the supplier itself may change it"
                ) from exc
            raise
        return ProfileSaved(profile=saved, rematched_notices=changed)

    @router.post(
        "/suppliers/import",
        response_model=ImportReport,
        tags=["suppliers"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def import_suppliers(request: Request, container: ContainerDep, principal: PrincipalDep) -> ImportReport:
        """JSON Lines of SupplierProfile (one per line), or CSV with ``Content-Type: text/csv`` (columns in
        ``services.matcher.imports``). Valid lines are stored and published; invalid ones are reported with their
        line number and reason. Admins create or replace; buyers only create (an existing id is rejected)."""
        _require(principal, Role.ADMIN, Role.BUYER)
        body = (await request.body()).decode("utf-8-sig", errors="replace")
        fmt = "csv" if request.headers.get("content-type", "").startswith("text/csv") else "jsonl"
        profiles: list[SupplierProfile] = []
        rejected: list[ImportRejection] = []
        for line, parsed in parse_file_text(body, fmt):
            if isinstance(parsed, ImportRejection):
                rejected.append(parsed)
            elif principal.is_admin:
                profiles.append(parsed)
            elif await run_in_threadpool(container.matcher.profiles.get, parsed.supplier_id) is not None:
                reason = f"supplier {parsed.supplier_id!r} exists; only an admin or the supplier may replace it"
                rejected.append(ImportRejection(line=line, reason=reason))
            else:
                profiles.append(parsed)
        by = None if principal.is_admin else principal.agency  # a buyer's addresses wait for their owners' consent
        counts = await run_in_threadpool(container.matcher.import_profiles, profiles, registered_by=by)
        return ImportReport(imported=counts.stored, unchanged=counts.unchanged, rejected=rejected)

    @router.get("/suppliers/search", response_model=SupplierSearchResults, tags=["suppliers"])
    def search_suppliers(
        container: ContainerDep,
        principal: PrincipalDep,
        q: Annotated[str | None, Query(description="words in names, keywords, descriptions")] = None,
        code: Annotated[str | None, Query(description="UNSPSC/CPV code at any level: 42130000 or 4213")] = None,
        country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> SupplierSearchResults:
        _require(principal, Role.ADMIN, Role.BUYER)
        found = container.matcher.profiles.search(q, code, country, limit)
        return SupplierSearchResults(items=[as_seen_by(principal, p) for p in found])

    @router.get("/suppliers/{supplier_id}", response_model=SupplierProfile, tags=["suppliers"])
    def get_supplier(supplier_id: str, container: ContainerDep, principal: PrincipalDep) -> SupplierProfile:
        _require_profile_access(principal, supplier_id, buyers=True)
        profile = container.matcher.profiles.get(supplier_id)
        if profile is None:
            raise HTTPException(404, f"no supplier {supplier_id!r}")
        return as_seen_by(principal, profile)

    @router.put("/suppliers/{supplier_id}", response_model=ProfileSaved, tags=["suppliers"])
    def put_supplier(
        supplier_id: str, profile: SupplierProfile, container: ContainerDep, principal: PrincipalDep
    ) -> ProfileSaved:
        """Create or replace a profile (admin or the supplier's own key)."""
        _require_profile_access(principal, supplier_id)
        if profile.supplier_id != supplier_id:
            raise HTTPException(422, f"body supplier_id {profile.supplier_id!r} differs from the path {supplier_id!r}")
        saved, changed = container.matcher.save_profile(profile, registered_by=registrar(principal, profile))
        return ProfileSaved(profile=saved, rematched_notices=changed)

    @router.patch("/suppliers/{supplier_id}/preferences", response_model=SupplierProfile, tags=["suppliers"])
    def patch_preferences(
        supplier_id: str, patch: PreferencesPatch, container: ContainerDep, principal: PrincipalDep
    ) -> SupplierProfile:
        """Change some alert preferences (``{"unsubscribed": true}``); admin or the supplier's own key."""
        _require_profile_access(principal, supplier_id)
        changes = patch.model_dump(exclude_unset=True, exclude={"schema_version"}, mode="json")
        return container.matcher.update_preferences(supplier_id, changes)

    @router.delete("/suppliers/{supplier_id}", status_code=204, tags=["suppliers"])
    def delete_supplier(supplier_id: str, container: ContainerDep, principal: PrincipalDep) -> Response:
        _require_profile_access(principal, supplier_id)
        container.matcher.delete_profile(supplier_id)
        return Response(status_code=204)

    # -- notices ----------------------------------------------------------------------------------------------------

    @router.get("/notices", response_model=NoticePage, tags=["notices"])
    def list_notices(
        container: ContainerDep,
        principal: PrincipalDep,
        agency: Annotated[str | None, Query(description="buyer id or name")] = None,
        code: Annotated[
            str | None,
            Query(
                description="UNSPSC or CPV code at any level: 42132203, 421322, 4213, 42130000 (the family 4213), "
                "a CPV code with its check digit (33141000-1) or level (331)"
            ),
        ] = None,
        country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description="delivery/beneficiary")] = None,
        status: NoticeStatus | None = None,
        deadline_from: datetime | None = None,
        deadline_to: datetime | None = None,
        # Elasticsearch pages at most 10,000 hits deep (index.max_result_window).
        offset: Annotated[int, Query(ge=0, le=9_800)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> NoticePage:
        """Notices visible to the caller (a buyer sees its own agency's only), soonest deadline first. A deadline
        without an offset is UTC. 422 for a code that is not one, or a ``deadline_from`` after ``deadline_to``."""
        _require(principal, Role.ADMIN, Role.BUYER)
        code_prefix = None
        if code is not None:
            code_prefix = read_filter_code(code)
            if code_prefix is None:
                raise BadQuery("code", f"{code!r} {CODE_FILTER_HINT}")
        deadline_from, deadline_to = _utc(deadline_from), _utc(deadline_to)
        if deadline_from is not None and deadline_to is not None and deadline_from > deadline_to:
            raise BadQuery(
                "deadline_from",
                f"{deadline_from.isoformat()} is after deadline_to {deadline_to.isoformat()}: no notice can match",
            )
        if principal.role == Role.BUYER:
            assert principal.agency is not None
            if agency is not None and normalize_agency(agency) != normalize_agency(principal.agency):
                return NoticePage(items=[], total=0, offset=offset, limit=limit)
            agency = principal.agency
        flt = NoticeFilter(agency, code_prefix, country, status, deadline_from, deadline_to)
        items, total = container.matcher.notices.find(flt, offset, limit)
        return NoticePage(items=items, total=total, offset=offset, limit=limit)

    @router.get(
        "/notices/{notice_id:path}/shortlist",
        response_model=ShortlistPage,
        tags=["notices"],
        responses={200: {"content": {CSV_MEDIA_TYPE: {}}, "description": "JSON, or CSV with format=csv"}},
    )
    def get_shortlist(
        notice_id: str,
        request: Request,
        container: ContainerDep,
        principal: PrincipalDep,
        min_score: Annotated[float | None, Query(ge=0, le=1, description="total score from 0 to 1")] = None,
        country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description="supplier country")] = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        format: Annotated[str | None, Query(pattern="^(json|csv)$")] = None,
    ) -> Any:
        """The ranked, explained shortlist of the notice's latest version. ``format=csv`` (or ``Accept: text/csv``)
        exports every matching entry as CSV (pagination does not apply)."""
        notice = _visible_notice(container, principal, notice_id)
        shortlist = _shortlist_of(container, notice)
        entries = _filtered_entries(shortlist, min_score, country)
        wants_csv = format == "csv" or (format is None and CSV_MEDIA_TYPE in request.headers.get("accept", ""))
        if wants_csv:
            filename = f"shortlist-{shortlist.shortlist_id}.csv".replace(":", "_").replace("@", "_v")
            return Response(
                shortlist_csv(shortlist, entries),
                media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return ShortlistPage(
            shortlist_id=shortlist.shortlist_id,
            notice_id=shortlist.notice_id,
            notice_version=shortlist.notice_version,
            notice_status=shortlist.notice_status,
            notice_title=shortlist.notice.title,
            algorithm=shortlist.algorithm,
            generated_at=shortlist.generated_at,
            total=len(entries),
            offset=offset,
            limit=limit,
            entries=entries[offset : offset + limit],
            exclusions=shortlist.exclusions,
            previously_shortlisted=shortlist.previously_shortlisted,
        )

    @router.post("/notices/{notice_id:path}/rematch", response_model=Shortlist, tags=["notices"])
    def rematch(notice_id: str, container: ContainerDep, principal: PrincipalDep) -> Shortlist:
        """Rank the current version again (new profiles or weights) and republish its shortlist."""
        _visible_notice(container, principal, notice_id)
        return container.matcher.rematch(notice_id)

    # Notice ids may contain "/" (UNGM references such as ``ungm:UNFPA/RFQ-2026-1``), hence the ``path``
    # converters; the routes with a suffix come first so that the plain one does not swallow them.
    @router.get("/notices/{notice_id:path}", response_model=TenderNotice, tags=["notices"])
    def get_notice(notice_id: str, container: ContainerDep, principal: PrincipalDep) -> TenderNotice:
        return _visible_notice(container, principal, notice_id)

    # -- the buyer's page -------------------------------------------------------------------------------------------

    @router.get("/ui/login", response_class=HTMLResponse, tags=["ui"])
    def login_form(request: Request, next: str = "/ui/notices") -> HTMLResponse:
        template = request.app.state.templates.get_template("login.html.j2")
        return HTMLResponse(template.render(next=_safe_next(next), error=None))

    @router.post(
        "/ui/login",
        response_class=HTMLResponse,
        tags=["ui"],
        responses={
            303: {"description": "signed in: on to the page asked for"},
            401: {"description": "unknown key: the form again", "content": {"text/html": {}}},
        },
    )
    async def login(request: Request, gate: GateDep, background: BackgroundTasks) -> Response:
        """Form post (``api_key``, ``next``): sets an HttpOnly, SameSite=Strict cookie for the ``/ui`` pages."""
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        token = (form.get("api_key") or [""])[0].strip()
        target = _safe_next((form.get("next") or ["/ui/notices"])[0])
        principal = await run_in_threadpool(gate.check, token, background) if token else Refusal.UNKNOWN
        if isinstance(principal, Refusal):
            template = request.app.state.templates.get_template("login.html.j2")
            return HTMLResponse(template.render(next=target, error=REFUSALS[principal]), status_code=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            UI_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/ui",
            max_age=8 * 3600,
        )
        return response

    def sign_in(request: Request) -> Response:
        return RedirectResponse(_sign_in_url(request), status_code=303)

    @router.get(
        "/ui/notices",
        response_class=HTMLResponse,
        tags=["ui"],
        responses={
            303: {"description": "sign in"},
            401: UI_REFUSED,
            422: {"description": "the form again, with what is wrong"},
        },
    )
    def notices_page(request: Request, container: ContainerDep, principal: UiPrincipalDep) -> Response:
        """The notices a buyer may see, filtered by a GET form (``show=open|all``, ``status``, ``code``, ``country``,
        ``deadline_from``/``deadline_to`` as dates, ``agency`` for admins, ``offset``); open ones by default."""
        if principal is None:
            return sign_in(request)
        _require(principal, Role.ADMIN, Role.BUYER)
        query = ui_list_query(request.query_params, principal, container.matcher.clock())
        items: list[TenderNotice] = []
        total = 0
        if not query.errors:
            items, total = container.matcher.notices.find(query.flt, query.offset, UI_PAGE_SIZE)
        previous_link = query.link(max(query.offset - UI_PAGE_SIZE, 0)) if query.offset > 0 else None
        following = query.offset + len(items)
        next_link = query.link(following) if items and following < total and following <= UI_MAX_OFFSET else None
        template = request.app.state.templates.get_template("notices.html.j2")
        page = template.render(
            notices=items,
            total=total,
            offset=query.offset,
            query=query,
            statuses=[s.value for s in NoticeStatus],
            is_admin=principal.is_admin,
            previous_link=previous_link,
            next_link=next_link,
            quote=quote,
            utc=ui_utc,
        )
        return HTMLResponse(page, status_code=422 if query.errors else 200)

    # Before the notice page's route: its ``path`` converter would take ``.../shortlist.csv`` as a notice id.
    @router.get(
        "/ui/notices/{notice_id:path}/shortlist.csv",
        tags=["ui"],
        response_class=Response,
        responses={200: {"content": {CSV_MEDIA_TYPE: {}}}, 303: {"description": "sign in"}, 401: UI_REFUSED},
    )
    def shortlist_csv_download(
        notice_id: str, request: Request, container: ContainerDep, principal: UiPrincipalDep
    ) -> Response:
        """The page's CSV link: the same file as ``GET /notices/{id}/shortlist?format=csv``, with the page's cookie
        (the API routes take keys from headers only)."""
        if principal is None:
            return sign_in(request)
        response = get_shortlist(
            notice_id, request, container, principal, min_score=None, country=None, offset=0, limit=1, format="csv"
        )
        assert isinstance(response, Response)
        return response

    @router.get(
        "/ui/notices/{notice_id:path}",
        response_class=HTMLResponse,
        tags=["ui"],
        responses={303: {"description": "sign in"}, 401: UI_REFUSED},
    )
    def notice_page(notice_id: str, request: Request, container: ContainerDep, principal: UiPrincipalDep) -> Response:
        if principal is None:
            return sign_in(request)
        notice = _visible_notice(container, principal, notice_id)
        shortlists = container.matcher.shortlists
        # The current version's shortlist, or (while the matcher has not ranked it yet) the latest earlier one.
        shortlist = shortlists.get(notice.notice_id, notice.version) or shortlists.latest(notice.notice_id)
        template = request.app.state.templates.get_template("notice.html.j2")
        page = template.render(
            notice=notice,
            shortlist=shortlist,
            source_link=ui_web_link(notice.source_url),
            documents=[(d, ui_web_link(d.url)) for d in notice.documents],
            csv_link=f"/ui/notices/{quote(notice.notice_id, safe='')}/shortlist.csv",
            notice_types=UI_NOTICE_TYPES,
            utc=ui_utc,
            money=ui_money,
            code=ui_code,
        )
        return HTMLResponse(page)

    return router


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="tenderbridge matcher",
        version="1",
        description="Supplier profiles, notices and their explained shortlists. Authenticate with `X-API-Key` or "
        "`Authorization: Bearer`.",
    )
    app.state.container = container
    app.state.key_gate = KeyGate(container)
    # autoescape=True for every template: notice titles and supplier names come from outside.
    app.state.templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    install_problem_handlers(app)

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem(404, "Not Found", str(exc))

    async def conflict(request: Request, exc: Exception) -> Response:
        return problem(409, "Conflict", str(exc))

    async def invalid(request: Request, exc: Exception) -> Response:
        return problem(422, "Unprocessable Content", str(exc))

    async def unavailable(request: Request, exc: Exception) -> Response:
        log.warning("store unavailable: %s", exc)
        response = problem(503, "Service Unavailable", "the profile store does not answer; retry later")
        response.headers["Retry-After"] = "5"
        return response

    async def invalid_model(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError)
        return problem(422, "Unprocessable Content", short_error(exc))

    async def bad_query(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadQuery)
        error = {"loc": ["query", exc.parameter], "msg": exc.message, "type": "value_error"}
        return problem(422, "Unprocessable Content", str(exc), errors=[error])

    async def ui_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UiKeyRefused)
        template = request.app.state.templates.get_template("refused.html.j2")
        page = template.render(revoked=exc.refusal == Refusal.REVOKED, login=_sign_in_url(request))
        return HTMLResponse(page, status_code=401, headers=exc.headers)

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(AlreadyExists, conflict)
    app.add_exception_handler(InvalidInput, invalid)
    app.add_exception_handler(StoreUnavailable, unavailable)
    app.add_exception_handler(ValidationError, invalid_model)
    app.add_exception_handler(BadQuery, bad_query)
    app.add_exception_handler(UiKeyRefused, ui_refused)
    app.include_router(ops_router(container.registry, container.ready))
    app.include_router(build_router())
    return app

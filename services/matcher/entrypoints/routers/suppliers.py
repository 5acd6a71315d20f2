"""``/suppliers``: profiles registered, imported, searched, read, replaced, deleted, and their alert preferences.
Who may do what is the keys' rule (``Principal.require_profile_access``), what a buyer may read of a profile too
(``Principal.view_of``), and the limits are the service's: the routes map their errors to status codes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from contracts import SupplierProfile
from contracts.api import ImportRejection, ImportReport, PreferencesPatch, ProfileSaved, SupplierSearchResults
from services.matcher.entrypoints.routers.deps import ContainerDep, PrincipalDep, problems
from services.matcher.exceptions import AlreadyExists
from services.matcher.imports import CSV_HEADER_PATTERN, has_csv_header, parse_file_text
from services.matcher.keys import Role

router = APIRouter(
    prefix="/suppliers", tags=["suppliers"], responses=problems(400, 401, 403, 404, 409, 413, 422, 429, 503)
)

#: What ``POST /suppliers/import`` reads, by content type; a body without one is JSON Lines.
IMPORT_FORMATS = {"application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "text/csv": "csv"}
SupplierIdPath = Annotated[str, Path(min_length=1, description="the supplier's id")]


@router.post("", status_code=201, response_model=ProfileSaved)
def create_supplier(profile: SupplierProfile, container: ContainerDep, principal: PrincipalDep) -> ProfileSaved:
    """Register a supplier (admin, buyer, or the supplier's own key). 409 if the id exists. 422 when it lists more
    addresses than ``TB_MATCHER_MAX_EMAILS_PER_PROFILE``, 413 when it is bigger than
    ``TB_MATCHER_MAX_PROFILE_BYTES``, 429 when the key registered as many new addresses as it may per hour or day;
    nothing is stored then."""
    if principal.role == Role.SUPPLIER:
        principal.require_profile_access(profile.supplier_id)
    try:
        saved, changed = container.matcher.create_profile(
            profile, registered_by=principal.registrar(profile), registrant=principal.key_id
        )
    except AlreadyExists as exc:
        if principal.role == Role.BUYER:  # PUT answers a buyer key 403: do not send it there
            raise HTTPException(
                409, f"supplier {profile.supplier_id!r} exists; only an admin or the supplier itself may change it"
            ) from exc
        raise
    return ProfileSaved(profile=saved, rematched_notices=changed)


@router.post(
    "/import",
    response_model=ImportReport,
    responses=problems(415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string", "minLength": 1}},
                "application/jsonl": {"schema": {"type": "string", "minLength": 1}},
                "text/csv": {"schema": {"type": "string", "pattern": CSV_HEADER_PATTERN}},
            },
        }
    },
)
async def import_suppliers(request: Request, container: ContainerDep, principal: PrincipalDep) -> ImportReport:
    """JSON Lines of SupplierProfile (one per line; also without a ``Content-Type``), or CSV with ``Content-Type:
    text/csv`` (columns in ``services.matcher.imports``). Valid lines are stored and published; invalid ones, and
    profiles over the limits, are reported with their line number and reason. Admins create or replace; buyers only
    create (an existing id is rejected). 415 for another content type, 422 for an empty body, 429 (nothing stored)
    when the new addresses exceed the key's hourly or daily quota. A CSV text starts with its header row, naming
    ``supplier_id,name,country`` first (422 otherwise)."""
    principal.require(Role.ADMIN, Role.BUYER)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    fmt = IMPORT_FORMATS.get(media_type or "application/x-ndjson")
    if fmt is None:
        raise HTTPException(415, f"send JSON Lines ({', '.join(list(IMPORT_FORMATS)[:2])}) or CSV (text/csv)")
    body = (await request.body()).decode("utf-8-sig", errors="replace")
    if not body.strip():
        raise HTTPException(422, "the body is empty: send one profile per line (JSON Lines) or CSV rows")
    if fmt == "csv" and not has_csv_header(body):
        raise HTTPException(422, "a CSV import starts with its header row: supplier_id,name,country and other columns")
    profiles: list[SupplierProfile] = []
    lines: dict[str, int] = {}
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
        if not isinstance(parsed, ImportRejection):
            lines[parsed.supplier_id] = line
    by = None if principal.is_admin else principal.agency  # a buyer's addresses wait for their owners' consent
    counts = await run_in_threadpool(
        container.matcher.import_profiles, profiles, registered_by=by, registrant=principal.key_id
    )
    rejected += [ImportRejection(line=lines[sid], reason=reason) for sid, reason in counts.refused]
    rejected.sort(key=lambda r: r.line)
    return ImportReport(imported=counts.stored, unchanged=counts.unchanged, rejected=rejected)


@router.get("/search", response_model=SupplierSearchResults)
def search_suppliers(
    container: ContainerDep,
    principal: PrincipalDep,
    q: Annotated[str | None, Query(description="words in names, keywords, descriptions")] = None,
    code: Annotated[str | None, Query(description="UNSPSC/CPV code at any level: 42130000 or 4213")] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SupplierSearchResults:
    principal.require(Role.ADMIN, Role.BUYER)
    found = container.matcher.profiles.search(q, code, country, limit)
    return SupplierSearchResults(items=[principal.view_of(p) for p in found])


@router.get("/{supplier_id}", response_model=SupplierProfile)
def get_supplier(supplier_id: SupplierIdPath, container: ContainerDep, principal: PrincipalDep) -> SupplierProfile:
    principal.require_profile_access(supplier_id, buyers=True)
    profile = container.matcher.profiles.get(supplier_id)
    if profile is None:
        raise HTTPException(404, f"no supplier {supplier_id!r}")
    return principal.view_of(profile)


@router.put("/{supplier_id}", response_model=ProfileSaved)
def put_supplier(
    supplier_id: SupplierIdPath, profile: SupplierProfile, container: ContainerDep, principal: PrincipalDep
) -> ProfileSaved:
    """Create or replace a profile (admin or the supplier's own key). The body's ``supplier_id`` must be the
    path's (422 otherwise: OpenAPI cannot state that two values are equal)."""
    principal.require_profile_access(supplier_id)
    if profile.supplier_id != supplier_id:
        raise HTTPException(422, f"body supplier_id {profile.supplier_id!r} differs from the path {supplier_id!r}")
    saved, changed = container.matcher.save_profile(
        profile, registered_by=principal.registrar(profile), registrant=principal.key_id
    )
    return ProfileSaved(profile=saved, rematched_notices=changed)


@router.patch("/{supplier_id}/preferences", response_model=SupplierProfile)
def patch_preferences(
    supplier_id: SupplierIdPath, patch: PreferencesPatch, container: ContainerDep, principal: PrincipalDep
) -> SupplierProfile:
    """Change some alert preferences (``{"unsubscribed": true}``); admin or the supplier's own key."""
    principal.require_profile_access(supplier_id)
    changes = patch.model_dump(exclude_unset=True, exclude={"schema_version"}, mode="json")
    return container.matcher.update_preferences(supplier_id, changes)


@router.delete("/{supplier_id}", status_code=204)
def delete_supplier(supplier_id: SupplierIdPath, container: ContainerDep, principal: PrincipalDep) -> Response:
    principal.require_profile_access(supplier_id)
    container.matcher.delete_profile(supplier_id)
    return Response(status_code=204)

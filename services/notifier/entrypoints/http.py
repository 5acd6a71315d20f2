"""The notifier's HTTP app: RFC 8058 one-click unsubscribe, the confirmation page, the preferences form (shown
and saved), the matching profile page (shown and saved through the matcher), the confirmation of a registered
address (double opt-in: shown, then confirmed by a POST), and the operations endpoints (``/healthz``, ``/readyz``,
``/metrics``)."""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, quote

from elasticsearch import ApiError, TransportError
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from contracts import AlertPreferences, SupplierProfile
from contracts.api import PreferencesPatch
from services.infra.exceptions import BodyError, BodyTooLarge, PermanentPublishError, TransientPublishError
from services.infra.http import install_problem_handlers, ops_router, problem
from services.infra.limits import loads_json, read_body
from services.notifier.domain import confirmation, not_relevant, profile_form, tokens
from services.notifier.domain.pages import PAGE_LABELS, render_page
from services.notifier.domain.profile_form import PROFILE_LABELS, FieldError
from services.notifier.domain.profiles import EDITABLE, NotEditable
from services.notifier.domain.rendering import language_of
from services.notifier.exceptions import ExpiredToken, InvalidToken, MatcherUnavailable, StoreUnavailable
from services.notifier.service import Confirmed, Notifier, PreferencesSaved

if TYPE_CHECKING:
    from services.notifier.bootstrap import Container
    from services.notifier.entrypoints.worker import ShortlistWorker

log = logging.getLogger(__name__)

#: The largest form or JSON body read (``POST /preferences``, ``POST /profile``): a profile change is a few codes,
#: keywords and two descriptions, far below it; a larger body answers 413 before it is read whole.
MAX_BODY_BYTES = 262_144

#: Every HTML answer: the pages load nothing (no script, no image, no frame), style themselves inline and post their
#: forms to this app only; no other site may frame them (clickjacking of the unsubscribe and confirm buttons).
HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
#: The pages and answers of a signed link (its token is in the URL, its content personal): never kept by a cache,
#: never sent on as a referrer.
TOKEN_PATHS = ("/unsubscribe", "/preferences", "/profile", "/confirm", "/not-relevant")

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
    403: {"description": "forged, malformed, respelled or wrong-purpose token", "content": _PROBLEM},
    410: {"description": "the link has expired (a genuine token past its lifetime)", "content": _PROBLEM},
    422: {"description": "missing or oversized token", "content": _PROBLEM},
}
_TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"description": f"a body over {MAX_BODY_BYTES:,} bytes: not read", "content": _PROBLEM}
}
_STORE_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"description": "the unsubscribe store does not answer; retry", "content": _PROBLEM}
}


def _json_or_page(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A 200 answer: a JSON object with these properties, or an HTML page for browsers that accept text/html."""
    return {
        "description": f"{description} (JSON; an HTML page for browsers that accept text/html)",
        "content": {
            "application/json": {"schema": {"type": "object", "properties": properties}},
            "text/html": {"schema": {"type": "string"}},
        },
    }


_UNSUBSCRIBED: dict[int | str, dict[str, Any]] = {
    200: _json_or_page(
        "unsubscribed",
        {
            "supplier_id": {"type": "string"},
            "unsubscribed": {"type": "boolean"},
            "matcher_updated": {"type": "boolean"},
        },
    ),
    **_ERRORS,
    **_STORE_DOWN,
}


_HTML_PROBLEM = {**_PROBLEM, "text/html": {"schema": {"type": "string"}}}


@cache
def _zones() -> tuple[tuple[str, ...], frozenset[str]]:
    """The IANA time zones the system knows, sorted (read once: it scans the time zone database)."""
    zones = zoneinfo.available_timezones()
    return tuple(sorted(zones)), frozenset(zones)


def _preferences_fields() -> dict[str, Any]:
    """The editable preferences as the schema states them: the time zones by name (the system's IANA database, as
    the contract checks them)."""
    return {
        "unsubscribed": {"type": "boolean"},
        "frequency": {"type": "string", "enum": ["immediate", "daily_digest"]},
        "language": {"type": "string", "enum": ["en", "zh-Hans"]},
        "timezone": {"type": "string", "enum": list(_zones()[0]), "description": "an IANA time zone"},
        "digest_hour": {"type": "integer", "minimum": 0, "maximum": 23},
    }


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null (a JSON patch's "not changed")."""
    return {"anyOf": [schema, {"type": "null"}]}


def _form_or_json_body(form: dict[str, Any], json_: dict[str, Any]) -> dict[str, Any]:
    """An ``openapi_extra`` request body a browser's form or a JSON client may send: both object schemas."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": {"type": "object", **form}},
                "application/json": {"schema": {"type": "object", **json_}},
            },
        }
    }


def _preferences_body() -> dict[str, Any]:
    fields = _preferences_fields()
    return _form_or_json_body(
        {
            "properties": {
                "alerts": {"type": "string", "enum": ["on", "off"]},
                **{k: v for k, v in fields.items() if k != "unsubscribed"},
            }
        },
        {
            "description": "a PreferencesPatch with only the fields to change (these five are editable; null: not "
            "changed)",
            "properties": {
                "schema_version": {"type": "integer", "enum": [1]},
                **{name: _nullable(field) for name, field in fields.items()},
            },
            "additionalProperties": False,
        },
    )


_PREFERENCES_SAVED: dict[int | str, dict[str, Any]] = {
    200: _json_or_page(
        "saved",
        {
            "supplier_id": {"type": "string"},
            "changed": {"type": "array", "items": {"type": "string"}},
            "preferences": {"type": "object", "properties": _preferences_fields()},
        },
    ),
    403: _ERRORS[403],
    410: _ERRORS[410],
    404: {"description": "neither the notifier nor the matcher knows the supplier", "content": _HTML_PROBLEM},
    422: {"description": "invalid preferences (a browser gets the form again)", "content": _HTML_PROBLEM},
    503: {"description": "the matcher or the store did not answer: nothing changed", "content": _HTML_PROBLEM},
    **_TOO_LARGE,
}
#: The form's language choices, each named in its own language.
LANGUAGES = (("en", "English"), ("zh-Hans", "简体中文"))
#: Form field -> ``PreferencesPatch`` field (the form says "alerts on/off", the contract "unsubscribed").
_FORM_FIELDS = {"alerts": "unsubscribed", **{name: name for name in EDITABLE if name != "unsubscribed"}}
_PATCH_TO_FORM = {patch: form for form, patch in _FORM_FIELDS.items()}


def _form_values(prefs: AlertPreferences) -> dict[str, str]:
    return {
        "alerts": "off" if prefs.unsubscribed else "on",
        "frequency": prefs.frequency.value,
        "language": prefs.language,
        "timezone": prefs.timezone,
        "digest_hour": str(prefs.digest_hour),
    }


def _read_form(body: bytes) -> tuple[dict[str, str], dict[str, Any], set[str]]:
    """The form's values as typed, the patch they ask for, and the fields that cannot even be read as one. A field
    not sent is not changed."""
    form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    typed = {name: values[-1] for name, values in form.items() if name in _FORM_FIELDS}
    data: dict[str, Any] = {}
    bad: set[str] = set()
    for name, value in typed.items():
        if name == "alerts":
            if value in ("on", "off"):
                data["unsubscribed"] = value == "off"
            else:
                bad.add(name)
        else:
            data[name] = value.strip()
    return typed, data, bad


def _preferences_patch(body: bytes) -> PreferencesPatch:
    """A JSON ``PreferencesPatch``; a field sent as null is not changed, as one not sent. Raises ``BodyError`` for
    what is not JSON or nests too deep, pydantic's ``ValidationError`` for what is not a patch."""
    data = loads_json(body)
    if isinstance(data, dict):
        data = {name: value for name, value in data.items() if value is not None}
    return PreferencesPatch.model_validate(data)


def _invalid_fields(exc: ValidationError) -> dict[str, str]:
    """Form field -> the contract's message, from a validation error of a ``PreferencesPatch`` or of the merged
    ``AlertPreferences``."""
    out: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc") or ("body",)
        name = str(loc[0])
        out.setdefault(_PATCH_TO_FORM.get(name, name), str(error.get("msg", "invalid")))
    return out


def _invalid_preferences(current: SupplierProfile | None, data: Mapping[str, Any]) -> dict[str, str]:
    """The fields that make the preferences invalid once ``data`` is laid over the current ones (the contract's
    rules: frequency, language, time zone, hour)."""
    base = current.preferences.model_dump() if current is not None else {}
    try:
        AlertPreferences.model_validate({**base, **data})
    except ValidationError as exc:
        return _invalid_fields(exc)
    return {}


def _with_token(path: str, token: str) -> str:
    """A page of the supplier's own (``/unsubscribe``, ``/preferences``), signed with its token."""
    return f"{path}?token={quote(token, safe='')}"


def page_language(request: Request) -> str:
    """The language of a page that has no supplier to take it from: the reader's choice (``?lang=``, the page's
    switch), else the browser's first of ours in ``Accept-Language``, else English."""
    chosen = request.query_params.get("lang", "")
    if chosen in PAGE_LABELS:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-Hans"
        if tag.startswith("en"):
            return "en"
    return "en"


def page_here(request: Request) -> str:
    """The page's own path with its signed token, without ``lang``: what the language switch links to."""
    token = request.query_params.get("token", "")
    return _with_token(request.url.path, token) if token else request.url.path


def _pages(n: Notifier, supplier_id: str) -> tuple[str, str]:
    """The supplier's preferences and profile pages, signed for it (the header's links)."""
    token = n.signer.token(tokens.PREFERENCES, supplier_id)
    return _with_token("/preferences", token), _with_token("/profile", token)


# -- the matching profile page ---------------------------------------------------------------------------------

#: What ``contracts.common.normalize_text`` removes (and ``header_safe`` would): a keyword of only these is empty.
_UNSEEN = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u200b-\\u200d\\u2060\\ufeff\\u202a-\\u202e\\u2066-\\u2069"
#: The separators of a form's list (``profile_form._SPLIT``), white space around them allowed.
_SEP = "\\s*[\\n\\r,;，；、][\\s,;，；、]*"
#: A UNSPSC code as the page reads it (``contracts.codes.read_code``): 8 digits, or 2, 4 or 6 padded; segment 00 is not
#: one. A CPV code: 8 digits, an optional check digit after a dash.
_UNSPSC = "(?!00)[0-9]{2}(?:[0-9]{2}){0,3}"
_CPV = "[0-9]{8}(?:-[0-9])?"


def _codes_text(code: str) -> dict[str, Any]:
    """A form's code field: codes one per line or comma separated."""
    return {
        "type": "string",
        "pattern": f"^[\\s,;，；、]*(?:{code}(?:{_SEP}{code})*)?[\\s,;，；、]*$",
        "maxLength": 2000,
    }


def _codes_list(code: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "array", "items": {"type": "string", "pattern": f"^\\s*{code}\\s*$"}, "maxItems": 200},
            _codes_text(code),
        ]
    }


#: A keyword: up to ``MAX_KEYWORD_LENGTH`` characters, something visible among them, nothing the contract removes.
_KEYWORD = {
    "type": "string",
    "pattern": f"^\\s*[^\\s{_UNSEEN}][^{_UNSEEN}]*$",
    "maxLength": profile_form.MAX_KEYWORD_LENGTH,
}
#: Keywords as one text: one per line or comma separated, each of at most ``MAX_KEYWORD_LENGTH`` characters.
_KEYWORDS_TEXT = {
    "type": "string",
    "pattern": f"^(?:[^{_UNSEEN}\\n\\r,;，；、]{{0,{profile_form.MAX_KEYWORD_LENGTH}}}(?:[\\n\\r,;，；、]|$))*$",
    "maxLength": 2000,
}
_DESCRIPTION = {
    "type": "string",
    "pattern": f"^[^{_UNSEEN}]*$",
    "maxLength": profile_form.MAX_DESCRIPTION_LENGTH,
}
_PROFILE_FIELDS: dict[str, Any] = {
    "unspsc": {**_codes_list(_UNSPSC), "description": "8 digits, or 2/4/6 padded to 8"},
    "cpv": {**_codes_list(_CPV), "description": "8 digits, optional check digit (-d)"},
    "keywords": {
        "anyOf": [{"type": "array", "items": _KEYWORD, "maxItems": profile_form.MAX_KEYWORDS}, _KEYWORDS_TEXT]
    },
    "description": {
        "type": "object",
        "properties": dict.fromkeys(profile_form.DESCRIPTION_LANGUAGES, _DESCRIPTION),
        "additionalProperties": False,
    },
    "version": {"type": "string", "description": "the profile's updated_at as shown; a newer profile answers 409"},
}
_PROFILE_BODY = _form_or_json_body(
    {
        "description": "codes and keywords one per line or comma separated; a field not sent is kept",
        "properties": {
            "unspsc": _codes_text(_UNSPSC),
            "cpv": _codes_text(_CPV),
            "keywords": _KEYWORDS_TEXT,
            **{f"description_{lang}": _DESCRIPTION for lang in profile_form.DESCRIPTION_LANGUAGES},
            "version": _PROFILE_FIELDS["version"],
        },
    },
    {
        "description": "only the fields to change (a list may also be given as one text)",
        "properties": _PROFILE_FIELDS,
        "additionalProperties": False,
    },
)
_PROFILE_VIEW: dict[str, Any] = {
    "supplier_id": {"type": "string"},
    "names": {"type": "object", "additionalProperties": {"type": "string"}},
    "country": {"type": "string"},
    "countries": {"type": "array", "items": {"type": "string"}},
    "codes": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"scheme": {"type": "string"}, "code": {"type": "string"}, "title": {"type": "string"}},
        },
    },
    "keywords": {"type": "array", "items": {"type": "string"}},
    "description": {"type": "object", "additionalProperties": {"type": "string"}},
    "version": {"type": "string"},
}
_PROFILE_SHOWN: dict[int | str, dict[str, Any]] = {
    200: _json_or_page("the matching profile (JSON with Accept: application/json)", _PROFILE_VIEW),
    403: _ERRORS[403],
    410: _ERRORS[410],
    404: {"description": "the matcher does not know the supplier", "content": _HTML_PROBLEM},
    503: {"description": "the matcher did not answer", "content": _HTML_PROBLEM},
}
_PROFILE_SAVED: dict[int | str, dict[str, Any]] = {
    200: _json_or_page(
        "saved (or nothing to change)",
        {
            "supplier_id": {"type": "string"},
            "changed": {"type": "array", "items": {"type": "string"}},
            "rematched_notices": {"type": "integer"},
            "profile": {"type": "object", "properties": _PROFILE_VIEW},
        },
    ),
    403: _ERRORS[403],
    410: _ERRORS[410],
    404: _PROFILE_SHOWN[404],
    409: {
        "description": "the profile changed since the form was shown: nothing saved, reload",
        "content": _HTML_PROBLEM,
    },
    422: {"description": "invalid fields (a browser gets the form again): nothing saved", "content": _HTML_PROBLEM},
    503: {"description": "the matcher did not answer or did not store it: nothing saved", "content": _HTML_PROBLEM},
    **_TOO_LARGE,
}


def _profile_view(profile: SupplierProfile, titles: profile_form.CodeTitles) -> dict[str, Any]:
    return {
        "supplier_id": profile.supplier_id,
        "names": dict(profile.names),
        "country": profile.country,
        "countries": list(profile.preferences.countries),
        "codes": [vars(c) for c in profile_form.code_views(profile, titles)],
        "keywords": list(profile.keywords),
        "description": dict(profile.description),
        "version": profile_form.version_of(profile),
    }


def _read_profile_body(body: bytes, is_json: bool) -> tuple[dict[str, object], str | None, dict[str, str]]:
    """The form's fields (form field name -> text, or a JSON value), the version the form was shown at (None if not
    sent: then there is nothing to compare) and the fields that cannot even be read, with the reason."""
    if not is_json:
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        fields: dict[str, object] = {name: values[-1] for name, values in form.items() if name in profile_form.FIELDS}
        version = form["version"][-1] if "version" in form else None
        return fields, version, {}
    try:
        data = loads_json(body)
    except BodyError as exc:  # not JSON, or nested deeper than any profile change (a 100,000-deep array)
        return {}, None, {"body": f"not a JSON object: {exc}"}
    if not isinstance(data, dict):
        return {}, None, {"body": "not a JSON object"}
    bad: dict[str, str] = {}
    fields = {name: data[name] for name in ("unspsc", "cpv", "keywords") if name in data}
    description = data.get("description", {})
    if isinstance(description, dict) and set(description) <= set(profile_form.DESCRIPTION_LANGUAGES):
        fields.update({f"description_{lang}": text for lang, text in description.items()})
    else:
        bad["description"] = f"an object of texts by language ({', '.join(profile_form.DESCRIPTION_LANGUAGES)})"
    for name in sorted(set(data) - set(_PROFILE_FIELDS)):
        bad[name] = "not editable here"
    version = data.get("version")
    if version is not None and not isinstance(version, str):
        bad["version"] = "a text: the profile's version as it was read"
        version = None
    return fields, version, bad


def get_notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


NotifierDep = Annotated[Notifier, Depends(get_notifier)]
Token = Annotated[str, Query(min_length=1, max_length=512, description="signed token from the email")]
#: A confirmation link's token also names the address (longer than the others).
ConfirmToken = Annotated[
    str, Query(min_length=1, max_length=tokens.MAX_TOKEN, description="signed token from the confirmation email")
]
_CONFIRMED: dict[int | str, dict[str, Any]] = {
    200: _json_or_page(
        "confirmed (now or before)",
        {"supplier_id": {"type": "string"}, "address": {"type": "string"}, "confirmed": {"type": "boolean"}},
    ),
    **_ERRORS,
    404: {"description": "the matcher does not know the supplier", "content": _HTML_PROBLEM},
    410: {
        "description": "the address is no longer registered, or was registered again since this link was sent, or "
        "the link has expired",
        "content": _HTML_PROBLEM,
    },
    503: {"description": "the matcher did not answer or did not store it: nothing changed", "content": _HTML_PROBLEM},
}


_NOT_RELEVANT: dict[int | str, dict[str, Any]] = {
    200: _json_or_page(
        "recorded and published",
        {
            "supplier_id": {"type": "string"},
            "notice_id": {"type": "string"},
            "feedback_id": {"type": "string"},
            "reason": {"type": ["string", "null"]},
        },
    ),
    **_ERRORS,
    422: {"description": "a reason not on the list (a browser gets the form again)", "content": _HTML_PROBLEM},
    503: {"description": "Kafka did not take the mark: nothing recorded, retry", "content": _HTML_PROBLEM},
    **_TOO_LARGE,
}


def app_for(container: Container, worker: ShortlistWorker | None = None) -> FastAPI:
    """The HTTP app over what ``bootstrap()`` wired; its readiness adds the worker's (profiles loaded, not crashed)
    to the adapters' when a worker runs beside it."""

    def ready() -> dict[str, bool]:
        checks = container.ready()
        if worker is not None:
            checks |= {"profiles_loaded": worker.started, "worker": worker.error is None}
        return checks

    return create_app(container.notifier, ready)


async def _read(request: Request) -> bytes:
    """The body, at most ``MAX_BODY_BYTES`` (413 beyond, named), read after the token was verified."""
    try:
        return await read_body(request, MAX_BODY_BYTES)
    except BodyTooLarge as exc:
        raise HTTPException(413, str(exc)) from exc


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


def create_app(notifier: Notifier, ready: Callable[[], dict[str, bool]]) -> FastAPI:
    app = FastAPI(title="tenderbridge notifier", version="1")
    app.state.notifier = notifier
    install_problem_handlers(app)
    app.include_router(ops_router(notifier.metrics.registry, ready))

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.headers.get("content-type", "").startswith("text/html"):
            for name, value in HTML_HEADERS.items():
                response.headers.setdefault(name, value)
        if request.url.path in TOKEN_PATHS:
            response.headers["Cache-Control"] = "no-store"
            response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    def supplier_of(n: Notifier, purpose: str, token: str) -> str:
        try:
            return n.signer.verify(purpose, token)
        except ExpiredToken as exc:
            raise HTTPException(410, f"this {purpose} link has expired; the one in a more recent email works") from exc
        except InvalidToken as exc:
            raise HTTPException(403, f"invalid {purpose} token") from exc

    def gone_page(request: Request, profile: SupplierProfile | None) -> HTMLResponse:
        """404: no supplier for the link; in the reader's language (with a switch) when not even the notifier's copy
        of the profile is left."""
        page = render_page("preferences_gone", profile, language=page_language(request), here=page_here(request))
        return HTMLResponse(page, status_code=404)

    def wants_html(request: Request) -> bool:
        return "text/html" in request.headers.get("accept", "")

    @app.post("/unsubscribe", responses=_UNSUBSCRIBED)
    def unsubscribe(request: Request, token: Token, n: NotifierDep) -> Response:
        """One-click unsubscribe (RFC 8058): mail clients POST ``List-Unsubscribe=One-Click`` here."""
        supplier_id = supplier_of(n, tokens.UNSUBSCRIBE, token)
        try:
            forwarded = n.subscriptions.unsubscribe(supplier_id)
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
        action = _with_token("/unsubscribe", token)
        return HTMLResponse(render_page("unsubscribe", n.profiles.get(supplier_id), action=action))

    def preferences_form(
        n: Notifier,
        supplier_id: str,
        token: str,
        profile: SupplierProfile | None,
        *,
        typed: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
        message: str = "",
        status: int = 200,
        language: str | None = None,
        here: str = "",
    ) -> HTMLResponse:
        """The form, pre-filled with the supplier's preferences, or with what it typed when it comes back (without a
        profile yet, in ``language`` with a switch to ``here`` in the other)."""
        values = {**(_form_values(profile.preferences) if profile is not None else {}), **(typed or {})}
        zones, known = _zones()
        typed_zone = values.get("timezone", "")
        # A zone that is not in the list is still shown (selected, next to its error) so the supplier sees it.
        timezones = zones if not typed_zone or typed_zone in known else (typed_zone, *zones)
        unsubscribe_token = n.signer.token(tokens.UNSUBSCRIBE, supplier_id)
        page = render_page(
            "preferences",
            profile,
            action=_with_token("/unsubscribe", unsubscribe_token),
            save_action=_with_token("/preferences", token),
            values=values,
            errors=dict(errors or {}),
            message=message,
            timezones=timezones,
            languages=LANGUAGES,
            p=PROFILE_LABELS[language_of(profile) if profile is not None else (language or "en")],
            profile_url=_with_token("/profile", token),
            pages=(_with_token("/preferences", token), _with_token("/profile", token)),
            language=language,
            here=here,
        )
        return HTMLResponse(page, status_code=status)

    @app.get("/preferences", response_class=HTMLResponse, responses=_ERRORS)
    def preferences_page(request: Request, token: Token, n: NotifierDep) -> HTMLResponse:
        """The supplier's alert preferences as the notifier applies them, as a form that saves (``POST``), with an
        unsubscribe button."""
        supplier_id = supplier_of(n, tokens.PREFERENCES, token)
        language, here = page_language(request), page_here(request)
        return preferences_form(n, supplier_id, token, n.profiles.get(supplier_id), language=language, here=here)

    @app.post("/preferences", responses=_PREFERENCES_SAVED, openapi_extra=_preferences_body())
    async def save_preferences(request: Request, token: Token, n: NotifierDep) -> Response:
        """Save the preferences form (``application/x-www-form-urlencoded``: alerts on/off, frequency, language,
        timezone, digest_hour) or a JSON ``PreferencesPatch`` of those fields. Only what changes is forwarded to the
        matcher; the answer is the saved page for browsers (``Accept: text/html``), JSON otherwise."""
        supplier_id = supplier_of(n, tokens.PREFERENCES, token)
        html = wants_html(request)
        current = n.profiles.get(supplier_id)
        labels = PAGE_LABELS[language_of(current) if current is not None else "en"]
        body = await _read(request)
        typed: dict[str, str] = {}
        invalid: dict[str, str] = {}
        patch: PreferencesPatch | None = None
        try:
            if _is_json(request):
                patch = _preferences_patch(body)
            else:
                typed, data, unreadable = _read_form(body)
                # Every field checked at once (the patch stops short of the time zone), so the form comes back with
                # a message at each wrong field, not one per attempt.
                invalid = {**_invalid_preferences(current, data), **dict.fromkeys(unreadable, "should be on or off")}
                if not invalid:
                    patch = PreferencesPatch.model_validate(data)
        except ValidationError as exc:
            invalid = {**_invalid_fields(exc), **invalid}
        except BodyError as exc:
            invalid = {"body": str(exc)}
        saved: PreferencesSaved | None = None
        if patch is not None and not invalid:
            try:
                saved = await run_in_threadpool(n.subscriptions.update_preferences, supplier_id, patch)
            except ValidationError as exc:
                invalid = _invalid_fields(exc)
            except NotEditable as exc:
                invalid = {"body": str(exc)}
            except (MatcherUnavailable, StoreUnavailable, ApiError, TransportError) as exc:
                # Nothing changed here (and the matcher said no or did not answer): the supplier tries again.
                log.warning("preferences of %s not saved: %s: %s", supplier_id, exc.__class__.__name__, exc)
                if not html:
                    raise HTTPException(503, "the preferences could not be saved; try again shortly") from exc
                message = labels["not_saved"]
                return preferences_form(n, supplier_id, token, current, typed=typed, message=message, status=503)
            else:
                if saved is None:
                    if not html:
                        raise HTTPException(404, "no supplier profile for this link")
                    return gone_page(request, current)
        if invalid or saved is None:
            if not html:
                errors = [{"loc": [name], "msg": msg} for name, msg in invalid.items()]
                return problem(422, "Unprocessable Content", "the preferences are not valid", errors=errors)
            shown = {name: labels.get(f"error_{name}", msg) for name, msg in invalid.items()}
            return preferences_form(
                n, supplier_id, token, current, typed=typed, errors=shown, message=labels["invalid"], status=422
            )
        prefs = saved.profile.preferences
        if not html:
            return JSONResponse(
                {
                    "supplier_id": supplier_id,
                    "changed": saved.changed,
                    "preferences": prefs.model_dump(mode="json", include=set(EDITABLE)),
                }
            )
        page = render_page(
            "preferences_saved",
            saved.profile,
            changed=saved.changed,
            language_name=dict(LANGUAGES)[prefs.language],
            back=_with_token("/preferences", token),
            pages=(_with_token("/preferences", token), _with_token("/profile", token)),
        )
        return HTMLResponse(page)

    def profile_page(
        n: Notifier,
        token: str,
        shown: SupplierProfile | None,
        *,
        editable: bool = True,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, FieldError] | None = None,
        message: str = "",
        saved: bool = False,
        lost: Mapping[str, str] | None = None,
        version: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        """The profile page: ``shown`` (the matcher's profile; the notifier's copy when the matcher is away) in a
        table, and the form pre-filled with it, or with what the supplier typed when it comes back."""
        language = language_of(shown) if shown is not None else "en"
        form = {**(profile_form.form_values(shown) if shown is not None else {}), **(values or {})}
        others = (
            {k: v for k, v in shown.description.items() if k not in profile_form.DESCRIPTION_LANGUAGES}
            if shown is not None
            else {}
        )
        page = render_page(
            "profile",
            shown,
            p=PROFILE_LABELS[language],
            editable=editable and shown is not None,
            codes=profile_form.code_views(shown, n.code_titles) if shown is not None else [],
            other_descriptions=others,
            description_languages=profile_form.DESCRIPTION_LANGUAGES,
            values=form,
            errors={name: e.message(language) for name, e in (errors or {}).items()},
            message=message,
            saved=saved,
            lost=dict(lost or {}),
            version=version if version is not None else (profile_form.version_of(shown) if shown else ""),
            save_action=_with_token("/profile", token),
            reload=_with_token("/profile", token),
            preferences_url=_with_token("/preferences", token),
            pages=(_with_token("/preferences", token), _with_token("/profile", token)),
        )
        return HTMLResponse(page, status_code=status)

    def wants_json(request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return "application/json" in accept and "text/html" not in accept

    @app.get("/profile", response_class=HTMLResponse, responses=_PROFILE_SHOWN)
    async def profile_shown(request: Request, token: Token, n: NotifierDep) -> Response:
        """What the supplier is matched on (names, codes with their titles, keywords, descriptions, countries), as
        the matcher holds it now, with a form that changes the codes, keywords and descriptions (``POST``). Same
        signed link as the preferences page. JSON with ``Accept: application/json``."""
        supplier_id = supplier_of(n, tokens.PREFERENCES, token)
        as_json = wants_json(request)
        try:
            current = await run_in_threadpool(n.matcher.profile, supplier_id)
        except MatcherUnavailable as exc:
            log.warning("profile of %s not read: %s", supplier_id, exc)
            if as_json:
                raise HTTPException(503, "the profile cannot be read just now; try again shortly") from exc
            local = n.profiles.get(supplier_id)
            message = PROFILE_LABELS[language_of(local) if local else "en"]["unavailable"]
            return profile_page(n, token, local, editable=False, message=message, status=503)
        if current is None:
            if as_json:
                raise HTTPException(404, "no supplier profile for this link")
            return gone_page(request, n.profiles.get(supplier_id))
        if as_json:
            return JSONResponse(_profile_view(current, n.code_titles))
        return profile_page(n, token, current)

    @app.post("/profile", responses=_PROFILE_SAVED, openapi_extra=_PROFILE_BODY)
    async def profile_saved(request: Request, token: Token, n: NotifierDep) -> Response:
        """Save the profile form (``application/x-www-form-urlencoded``: ``unspsc``, ``cpv``, ``keywords`` one per
        line or comma separated, ``description_en``, ``description_zh-Hans``, ``version``) or the same as JSON
        (lists, ``description`` by language). Only the fields sent change; the matcher stores the whole profile
        (``PUT /suppliers/{id}``) and re-matches open notices before it answers. The answer is the page for browsers
        (``Accept: text/html``), JSON or problem+json otherwise."""
        supplier_id = supplier_of(n, tokens.PREFERENCES, token)
        html = wants_html(request)
        fields, version, unreadable = _read_profile_body(await _read(request), _is_json(request))
        if unreadable:
            errors = [{"loc": [name], "msg": msg} for name, msg in unreadable.items()]
            return problem(422, "Unprocessable Content", "the profile change cannot be read", errors=errors)
        typed = {name: value for name, value in fields.items() if isinstance(value, str)}
        out = await run_in_threadpool(n.subscriptions.change_profile, supplier_id, fields, version)
        shown = out.profile or n.profiles.get(supplier_id)
        labels = PROFILE_LABELS[language_of(shown) if shown is not None else "en"]
        if out.status == 404:
            if not html:
                raise HTTPException(404, "no supplier profile for this link")
            return gone_page(request, n.profiles.get(supplier_id))
        if out.status == 503:
            if not html:
                raise HTTPException(503, "the profile could not be saved; try again shortly")
            # What was typed comes back in the form (the version it was shown at too), so nothing typed is lost.
            return profile_page(n, token, shown, values=typed, message=labels["not_saved"], version=version, status=503)
        if out.status == 409:
            assert out.profile is not None
            if not html:
                detail = "the profile changed since it was read; read it again (GET) and send the change again"
                return problem(409, "Conflict", detail, version=profile_form.version_of(out.profile))
            current_values = profile_form.form_values(out.profile)
            lost = {name: text for name, text in typed.items() if text.strip() != current_values.get(name, "")}
            return profile_page(n, token, out.profile, message=labels["conflict"], lost=lost, status=409)
        if out.status == 422:
            if not html:
                errors = [{"loc": [name], "msg": e.message("en")} for name, e in out.errors.items()]
                return problem(422, "Unprocessable Content", "the profile change is not valid", errors=errors)
            return profile_page(
                n, token, out.profile, values=typed, errors=out.errors, message=labels["invalid"], status=422
            )
        assert out.profile is not None
        rematched = out.saved.rematched_notices if out.saved is not None else 0
        if not html:
            return JSONResponse(
                {
                    "supplier_id": supplier_id,
                    "changed": out.changed,
                    "rematched_notices": rematched,
                    "profile": _profile_view(out.profile, n.code_titles),
                }
            )
        message = labels["saved"] if out.changed else labels["unchanged"]
        if rematched:
            message = f"{message} {labels['rematched'].format(count=rematched)}"
        return profile_page(n, token, out.profile, message=message, saved=True)

    def confirmation_of(n: Notifier, token: str) -> tuple[str, str, str]:
        """The verified confirmation token's subject, supplier id and address; 403 for any other token."""
        subject = supplier_of(n, tokens.CONFIRM, token)
        try:
            supplier_id, address, _ = confirmation.read_subject(subject)
        except InvalidToken as exc:
            raise HTTPException(403, "invalid confirm token") from exc
        return subject, supplier_id, address

    def confirmation_answer(n: Notifier, out: Confirmed, supplier_id: str, html: bool, *, confirmed: bool) -> Response:
        """A confirmation link's answer (GET or POST): a page for browsers, JSON or problem+json otherwise."""
        if not html:
            if out.status == 200:
                return JSONResponse({"supplier_id": supplier_id, "address": out.address, "confirmed": confirmed})
            detail = {
                404: "no supplier profile for this link",
                410: "this address is no longer registered, or was registered again since this link was sent",
                503: "the confirmation could not be recorded; try again shortly",
            }[out.status]
            raise HTTPException(out.status, detail)
        shown = out.profile or n.profiles.get(supplier_id)
        state = {200: "confirmed", 404: "deleted", 410: "gone"}.get(out.status, "unavailable")
        # The address is its owner's now: the page leads on to the supplier's own pages, as every alert does.
        pages = _pages(n, supplier_id) if state == "confirmed" else None
        page = render_page("confirmed", shown, address=out.address, state=state, pages=pages)
        return HTMLResponse(page, status_code=out.status)

    @app.get("/confirm", response_class=HTMLResponse, responses=_CONFIRMED)
    def confirm_page(request: Request, token: ConfirmToken, n: NotifierDep) -> Response:
        """The page the confirmation email links to: who would get alerts at which address, and a button that
        confirms (``POST``), if the link can still confirm (read from the matcher, as the POST checks it); else the
        page (and status) the POST would answer: 404 supplier deleted, 410 address removed or registered again,
        200 confirmed before, 503 matcher away. Following the link changes nothing (mail scanners follow links).
        JSON with ``Accept: application/json`` (``confirmed``: whether the address is confirmed already)."""
        subject, supplier_id, address = confirmation_of(n, token)
        out = n.confirmations.confirmation_state(subject)
        html = not wants_json(request)
        if out.status != 200 or out.already or not html:
            return confirmation_answer(n, out, supplier_id, html, confirmed=out.already)
        page = render_page("confirm", out.profile, address=address, action=_with_token("/confirm", token))
        return HTMLResponse(page)

    def notice_of(n: Notifier, token: str) -> not_relevant.NoticeRef:
        """The verified "not relevant for me" token's supplier, notice and buyer; 403 for any other token."""
        try:
            return not_relevant.read_subject(supplier_of(n, tokens.NOT_RELEVANT, token))
        except InvalidToken as exc:
            raise HTTPException(403, "invalid not_relevant token") from exc

    def not_relevant_page(
        n: Notifier, ref: not_relevant.NoticeRef, token: str, *, reason: str = "", error: str = "", status: int = 200
    ) -> HTMLResponse:
        profile = n.profiles.get(ref.supplier_id)
        page = render_page(
            "not_relevant",
            profile,
            ref=ref,
            reasons=[r.value for r in not_relevant.REASONS],
            chosen=reason,
            error=error,
            action=_with_token("/not-relevant", token),
            pages=_pages(n, ref.supplier_id),
        )
        return HTMLResponse(page, status_code=status)

    @app.get("/not-relevant", response_class=HTMLResponse, responses=_ERRORS)
    def not_relevant_form(token: ConfirmToken, n: NotifierDep) -> HTMLResponse:
        """The page an alert item's "not relevant for me" link opens: the notice it names and a form with an
        optional reason that records it (``POST``). Following the link changes nothing (mail scanners follow
        links)."""
        return not_relevant_page(n, notice_of(n, token), token)

    @app.post("/not-relevant", responses=_NOT_RELEVANT)
    async def not_relevant_mark(request: Request, token: ConfirmToken, n: NotifierDep) -> Response:
        """The supplier says the notice does not fit (form or JSON ``reason``: ``wrong_products``, ``too_small``,
        ``not_eligible``, ``other`` or none): published as its own ``ShortlistFeedback`` (``by_supplier``) on
        ``matches.feedback`` for the matcher's ranking. A page for browsers (``Accept: text/html``), JSON
        otherwise."""
        ref = notice_of(n, token)
        html = wants_html(request)
        body = await _read(request)
        typed: str | None
        if _is_json(request):
            try:
                data = loads_json(body) if body.strip() else {}
            except BodyError as exc:
                return problem(422, "Unprocessable Content", f"not a JSON object: {exc}")
            value = data.get("reason") if isinstance(data, dict) else None
            typed = value if isinstance(value, str) or value is None else str(value)
        else:
            typed = parse_qs(body.decode("utf-8", errors="replace")).get("reason", [None])[-1]
        labels = PAGE_LABELS[language_of(p) if (p := n.profiles.get(ref.supplier_id)) else "en"]
        try:
            reason = not_relevant.read_reason(typed)
        except ValueError as exc:
            if not html:
                return problem(422, "Unprocessable Content", str(exc), errors=[{"loc": ["reason"], "msg": str(exc)}])
            return not_relevant_page(n, ref, token, reason=typed or "", error=labels["error_reason"], status=422)
        try:
            mark = await run_in_threadpool(n.feedback.not_relevant, ref, reason)
        except (TransientPublishError, PermanentPublishError) as exc:
            log.warning("not-relevant mark of %s on %s not published: %s", ref.supplier_id, ref.notice_id, exc)
            if not html:
                raise HTTPException(503, "the answer could not be recorded; try again shortly") from exc
            message = labels["not_relevant_unavailable"]
            return not_relevant_page(n, ref, token, reason=typed or "", error=message, status=503)
        if not html:
            return JSONResponse(
                {
                    "supplier_id": ref.supplier_id,
                    "notice_id": ref.notice_id,
                    "feedback_id": mark.feedback_id,
                    "reason": mark.reason.value if mark.reason else None,
                }
            )
        page = render_page(
            "not_relevant_done", n.profiles.get(ref.supplier_id), ref=ref, pages=_pages(n, ref.supplier_id)
        )
        return HTMLResponse(page)

    @app.post("/confirm", responses=_CONFIRMED)
    def confirm(request: Request, token: ConfirmToken, n: NotifierDep) -> Response:
        """The address's owner confirms it: recorded in the profile at the matcher, after which alerts go to it
        (from the next matching tender on). A page for browsers (``Accept: text/html``), JSON otherwise."""
        subject, supplier_id, _ = confirmation_of(n, token)
        out = n.confirmations.confirm_email(subject)
        return confirmation_answer(n, out, supplier_id, wants_html(request), confirmed=True)

    return app

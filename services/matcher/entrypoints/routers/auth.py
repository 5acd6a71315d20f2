"""``/ui/login``: signing a browser in to the buyer pages (the API itself takes keys from headers only; the key
checks are the dependencies of ``deps``).

Login CSRF: a form on another site could post an attacker's key here and sign the victim's browser in as the
attacker (who would then read what the victim types into filters). Browsers say where a form post comes from
(``Sec-Fetch-Site``, ``Origin``: https://owasp.org/www-community/attacks/csrf, "Verifying origin with standard
headers"), so a post that they mark as cross-site is refused with 403 before the key is even read; a client that
sends neither header (curl, tests) is no browser and cannot be tricked into posting."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from services.infra.http import cross_site_form
from services.matcher.entrypoints.routers.buyer_texts import BUYER_TEXTS, keep_language, page_words, ui_language
from services.matcher.entrypoints.routers.deps import UI_COOKIE, GateDep, TemplatesDep, safe_next
from services.matcher.keys import Refusal

router = APIRouter(prefix="/ui", tags=["ui"])

#: How long a sign-in lasts (the cookie's ``Max-Age``).
SIGN_IN_SECONDS = 8 * 3600


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, templates: TemplatesDep, next: Annotated[str, Query()] = "/ui/notices") -> Response:
    """The sign-in form, in English or Simplified Chinese (``lang``, else the switch's earlier choice, else
    Accept-Language)."""
    language = ui_language(request)
    page = templates.get_template("login.html.j2").render(**page_words(request, language), next=safe_next(next))
    return keep_language(request, HTMLResponse(page), language)


@router.post(
    "/login",
    response_class=HTMLResponse,
    responses={
        303: {"description": "signed in: on to the page asked for"},
        401: {"description": "unknown key: the form again", "content": {"text/html": {}}},
        403: {
            "description": "a cross-site post (login CSRF): the form, signed in to nothing",
            "content": {"text/html": {}},
        },
    },
)
async def login(request: Request, gate: GateDep, templates: TemplatesDep, background: BackgroundTasks) -> Response:
    """Form post (``api_key``, ``next``): sets an HttpOnly, SameSite=Strict cookie for the ``/ui`` pages. A post
    that the browser marks as coming from another site (``Sec-Fetch-Site``, ``Origin``) answers 403."""
    template = templates.get_template("login.html.j2")
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    language = ui_language(request, (form.get("lang") or [""])[0])
    words = page_words(request, language)
    if cross_site_form(request):
        page = template.render(**words, next="/ui/notices", error=BUYER_TEXTS[language]["cross_site"])
        return HTMLResponse(page, status_code=403)
    token = (form.get("api_key") or [""])[0].strip()
    target = safe_next((form.get("next") or ["/ui/notices"])[0])
    principal = await run_in_threadpool(gate.check, token, background) if token else Refusal.UNKNOWN
    if isinstance(principal, Refusal):
        error = BUYER_TEXTS[language][f"refusal_{principal.value}"]
        return HTMLResponse(template.render(**words, next=target, error=error), status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        UI_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
        max_age=SIGN_IN_SECONDS,
    )
    return response

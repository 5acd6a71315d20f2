"""``/ui/notices``: the buyer's web pages (the list with its GET form, a notice with its explained shortlist, the
shortlist as CSV with the sign-in cookie). The form's reading and the page's wording are ``entrypoints.pages``;
which notices a key sees is the service's (``Matcher.notice_for``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from contracts import NoticeStatus, TenderNotice
from services.matcher.entrypoints.pages import (
    UI_MAX_OFFSET,
    UI_PAGE_SIZE,
    ui_code,
    ui_list_query,
    ui_money,
    ui_utc,
    ui_web_link,
)
from services.matcher.entrypoints.routers.buyer_texts import keep_language, page_words, ui_language
from services.matcher.entrypoints.routers.deps import (
    CSV_MEDIA_TYPE,
    ContainerDep,
    SignerDep,
    TemplatesDep,
    UiPrincipalDep,
    problems,
    sign_in_url,
    ui_session,
)
from services.matcher.entrypoints.routers.feedback import FEEDBACK_FORM
from services.matcher.entrypoints.routers.notices import shortlist_csv_of
from services.matcher.keys import Role

#: How the ``/ui`` pages document a refused key (``UiKeyRefused``).
UI_REFUSED: dict[str, Any] = {
    "description": "revoked or expired key: a page that says so, with a link to sign in",
    "content": {"text/html": {}},
}

router = APIRouter(
    prefix="/ui/notices",
    tags=["ui"],
    responses={**problems(403, 404, 503), 303: {"description": "sign in"}, 401: UI_REFUSED},
)


def sign_in(request: Request) -> Response:
    return RedirectResponse(sign_in_url(request), status_code=303)


@router.get(
    "",
    response_class=HTMLResponse,
    responses={422: {"description": "the form again, with what is wrong", "content": {"text/html": {}}}},
)
def notices_page(
    request: Request, container: ContainerDep, principal: UiPrincipalDep, templates: TemplatesDep
) -> Response:
    """The notices a buyer may see, filtered by a GET form (``show=open|all``, ``status``, ``code``, ``country``,
    ``deadline_from``/``deadline_to`` as dates, ``agency`` for admins, ``offset``); open ones by default. In
    English or Simplified Chinese (``lang``, else the switch's earlier choice, else Accept-Language)."""
    if principal is None:
        return sign_in(request)
    principal.require(Role.ADMIN, Role.BUYER)
    query = ui_list_query(request.query_params, principal, container.matcher.clock())
    items: list[TenderNotice] = []
    total = 0
    if not query.errors:
        items, total = container.matcher.notices.find(query.flt, query.offset, UI_PAGE_SIZE)
    previous_link = query.link(max(query.offset - UI_PAGE_SIZE, 0)) if query.offset > 0 else None
    following = query.offset + len(items)
    next_link = query.link(following) if items and following < total and following <= UI_MAX_OFFSET else None
    language = ui_language(request)
    page = templates.get_template("notices.html.j2").render(
        **page_words(request, language),
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
    return keep_language(request, HTMLResponse(page, status_code=422 if query.errors else 200), language)


# Before the notice page's route: its ``path`` converter would take ``.../shortlist.csv`` as a notice id.
@router.get(
    "/{notice_id:path}/shortlist.csv",
    response_class=Response,
    responses={200: {"content": {CSV_MEDIA_TYPE: {}}}},
)
def shortlist_csv_download(
    notice_id: str, request: Request, container: ContainerDep, principal: UiPrincipalDep
) -> Response:
    """The page's CSV link: the same file as ``GET /notices/{id}/shortlist?format=csv``, with the page's cookie
    (the API routes take keys from headers only)."""
    if principal is None:
        return sign_in(request)
    return shortlist_csv_of(container.matcher, container.matcher.notice_for(principal, notice_id))


@router.get("/{notice_id:path}", response_class=HTMLResponse)
def notice_page(
    notice_id: str,
    request: Request,
    container: ContainerDep,
    principal: UiPrincipalDep,
    templates: TemplatesDep,
    signer: SignerDep,
) -> Response:
    """A notice's facts and its explained shortlist, each entry with the agency's mark on it and three small forms
    to mark it (invite, relevant, not relevant with a reason), which work without script; in the language of the
    list page."""
    if principal is None:
        return sign_in(request)
    notice = container.matcher.notice_for(principal, notice_id)
    language = ui_language(request)
    here = f"/ui/notices/{quote(notice.notice_id, safe='')}"
    page = templates.get_template("notice.html.j2").render(
        **page_words(request, language, here),
        marks=container.matcher.marks_on(principal, notice),
        csrf=signer.issue(FEEDBACK_FORM, ui_session(principal), container.matcher.clock()),
        feedback_action=f"{here}/feedback",
        notice=notice,
        shortlist=container.matcher.shortlist_of(notice),
        source_link=ui_web_link(notice.source_url),
        documents=[(d, ui_web_link(d.url)) for d in notice.documents],
        csv_link=f"{here}/shortlist.csv",
        utc=ui_utc,
        money=ui_money,
        code=ui_code,
    )
    return keep_language(request, HTMLResponse(page), language)

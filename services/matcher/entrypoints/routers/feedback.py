"""Buyers' marks on a shortlist's entries: *invite*, *relevant*, *not relevant* (with an optional reason), from the
API (``POST /notices/{id}/feedback``, a key in a header) and from the notice page's small forms (``POST
/ui/notices/{id}/feedback``, the sign-in cookie, a signed form token and a same-site check: a form on another site
cannot mark anything). Which notices a key may mark, and whose marks it reads, is the service's
(``Matcher.mark_entry``, ``Matcher.marks_on``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from contracts.feedback import FeedbackMark, FeedbackReason, FeedbackRequest, ShortlistFeedback
from services.infra.http import cross_site_form
from services.matcher.entrypoints.routers.buyer_texts import BUYER_TEXTS, page_words, ui_language
from services.matcher.entrypoints.routers.deps import (
    ContainerDep,
    PrincipalDep,
    SignerDep,
    TemplatesDep,
    UiPrincipalDep,
    problems,
    sign_in_url,
    ui_session,
)
from services.matcher.exceptions import NotFound
from services.matcher.keys import Role

#: The form token's purpose (``FormSigner``): a token of another form does not mark anything.
FEEDBACK_FORM = "ui-feedback"

router = APIRouter(tags=["feedback"])


@router.post(
    "/notices/{notice_id:path}/feedback",
    status_code=201,
    response_model=ShortlistFeedback,
    responses=problems(400, 401, 403, 404, 413, 422, 503),
)
def post_feedback(
    notice_id: str, body: Annotated[FeedbackRequest, Body()], container: ContainerDep, principal: PrincipalDep
) -> ShortlistFeedback:
    """Mark one supplier of the notice's shortlist (an entry or one ruled out): ``invite``, ``relevant`` or
    ``not_relevant`` with an optional ``reason`` (wrong_products, too_small, not_eligible, other). The mark is the
    key's agency's (an admin's: the notice's buyer), replaces its earlier one on that supplier, and is published
    on ``matches.feedback``. 404 for a notice the key does not see or a supplier the shortlist does not list."""
    principal.require(Role.ADMIN, Role.BUYER)
    return container.matcher.mark_entry(principal, notice_id, body.supplier_id, body.mark, body.reason)


@router.post(
    "/ui/notices/{notice_id:path}/feedback",
    tags=["ui"],
    response_class=HTMLResponse,
    responses={
        303: {"description": "marked: back to the notice page, at the entry"},
        400: {"description": "the form is not one this page sent", "content": {"text/html": {}}},
        403: {"description": "a post from another site, or an expired form", "content": {"text/html": {}}},
        # A page when the notice or entry is missing; problem+json when no route takes the path at all (an id
        # with a line break: the path converter stops there), as for every unrouted path.
        404: {
            "description": "no such notice or entry",
            "content": {"text/html": {}, **problems(404)[404]["content"]},
        },
    },
)
async def post_feedback_form(
    notice_id: str,
    request: Request,
    container: ContainerDep,
    principal: UiPrincipalDep,
    signer: SignerDep,
    templates: TemplatesDep,
) -> Response:
    """The notice page's forms (``supplier_id``, ``mark``, ``reason``, ``csrf``): marks, then 303 back to the page."""
    if principal is None:
        return RedirectResponse(sign_in_url(request), status_code=303)
    page = f"/ui/notices/{quote(notice_id, safe='')}"
    language = ui_language(request)

    def refused(status: int, why: str) -> HTMLResponse:
        """The refusal page in the page's language, ``why`` the key of its words (``BUYER_TEXTS``)."""
        words = page_words(request, language, page)
        body = templates.get_template("form_refused.html.j2").render(
            **words, message=BUYER_TEXTS[language][why], back=page
        )
        return HTMLResponse(body, status_code=status)

    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", errors="replace")).items()}
    now = container.matcher.clock()
    if cross_site_form(request) or not signer.valid(form.get("csrf", ""), FEEDBACK_FORM, ui_session(principal), now):
        return refused(403, "form_expired")
    try:
        mark = FeedbackMark(form.get("mark", ""))
        reason = FeedbackReason(form["reason"]) if form.get("reason") and mark == FeedbackMark.NOT_RELEVANT else None
    except ValueError:
        return refused(400, "form_unknown")
    supplier_id = form.get("supplier_id", "")
    try:
        await run_in_threadpool(container.matcher.mark_entry, principal, notice_id, supplier_id, mark, reason)
    except NotFound:
        # A page answers a browser with a page, as documented, not with the API's problem+json.
        return refused(404, "form_not_found")
    return RedirectResponse(f"{page}#entry-{quote(supplier_id, safe='')}", status_code=303)

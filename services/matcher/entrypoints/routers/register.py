"""``/register``: a supplier registers itself (public, no key, no password), in English or Simplified Chinese.

The page asks for the company's name, country, email address, optionally an official registration number (ABN,
SIREN, unified social credit code, Companies House number: ``domain.registration.read_identifier`` checks its
length and check digit), what it makes in its own words (any language), the UNSPSC or CPV codes it sells under
(typed: ``contracts.codes.read_code`` reads them), and how it wants its alerts (language, frequency, time zone).
The number claims the prospect that public award records know under it, and only once the address is confirmed
(``Matcher._confirmed_claims``); a name typed here claims nothing. The answer is the same whether anything waits
to be claimed or not. The profile is created through the matcher with the double opt-in: its address
waits for its owner's confirmation (the notifier emails the link; no alert goes out before it is used).

A public form is a door for strangers, so (settings in ``services/matcher/settings.py``, README "Self-registration"):

- a signed form token bound to a cookie of this browser (``FormSigner``; OWASP "signed double-submit cookie") and
  a same-site check (``cross_site_form``): a form on another site posts nothing (403);
- a honeypot field people do not see (``website``): filled in, the answer is the usual one and nothing is done;
- per client address (IP) ``TB_MATCHER_REGISTER_PER_CLIENT_HOUR`` / ``_DAY`` valid posts (then 429), per mailbox
  ``TB_MATCHER_REGISTER_PER_ADDRESS_DAY`` (then the usual answer, nothing done), and the form's budget of new
  addresses, the quota of one registrant key (``TB_MATCHER_NEW_ADDRESSES_PER_KEY_HOUR`` / ``_DAY``; then 429);
- the same answer whether the mailbox is new or registered already (no account enumeration): one supplier per
  mailbox (``domain.registration.self_supplier_id``), a known one is left as it is and sent nothing;
- every wrong field said beside it, in the page's language; the body limit of the whole API (``BodyLimit``) and the
  pages' security headers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool

from contracts import Classification, CodeScheme
from services.infra.http import cross_site_form
from services.matcher.domain.registration import (
    IDENTIFIER_SCHEMES,
    LANGUAGES,
    MAX_DESCRIPTION_CHARS,
    code_token,
    mailbox_key,
    read_code_token,
    read_registration,
)
from services.matcher.entrypoints.forms import FormSigner
from services.matcher.entrypoints.routers.codes import code_suggester
from services.matcher.entrypoints.routers.deps import SignerDep, TemplatesDep
from services.matcher.exceptions import RegistrationRefused
from services.matcher.service import SelfRegistration

REGISTER_PATH = "/register"
#: Code suggestion for the form: a description in any language -> (code, title, score 0..1), best first. The app
#: holds one in ``app.state.code_suggest`` (``code_suggest_of``; ``None``: the supplier types its codes).
CodeSuggest = Callable[[str], list[tuple[Classification, str, float]]]
#: Suggested codes shown at most, and how many of each scheme: UNSPSC (UNGM's) first, then CPV (TED's).
MAX_SUGGESTED = 8
SUGGESTED_PER_SCHEME = ((CodeScheme.UNSPSC, 5), (CodeScheme.CPV, 3))
#: No suggestion starts ticked: the suggester's best guess can be wrong ("我们生产丁腈检查手套", nitrile examination
#: gloves, comes back as UNSPSC "Personal care products" first), and a wrong code brings wrong alerts. The supplier
#: ticks the ones that fit.
#: The browser's form cookie, which the form token is bound to (double submit).
FORM_COOKIE = "tb_form"
#: The form token's purpose (``FormSigner``).
REGISTER_FORM = "register"

router = APIRouter(prefix=REGISTER_PATH, tags=["registration"])

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Register your company",
        "intro": "Get procurement notices from UN agencies and public buyers that fit what you make, by email, in "
        "English or Chinese. Free, no password: the links in our emails are your sign-in.",
        "switch": "简体中文",
        "company": "Company name",
        "country": "Country (two-letter code, e.g. CN)",
        "email": "Email address for alerts",
        "identifier": "Official registration number (optional)",
        "id_scheme": "Register",
        "id_none": "none",
        "id_value": "Number",
        "id_help": "If public award records list your company under this number, the contracts it won are added to "
        "your profile once you confirm your email address, and only then. A company name alone adds none of them: "
        "anyone can type a name, so ask us and an operator checks.",
        "AU-ABN": "Australian Business Number (ABN)",
        "FR-SIREN": "SIREN or SIRET (France)",
        "CN-USCC": "Unified social credit code (China)",
        "GB-COH": "Companies House number (UK)",
        "description": "What your company makes or sells, in your own words (any language)",
        "codes": "UNSPSC or CPV codes (optional; one per line or separated by commas, e.g. 42132203, CPV 33141000-1)",
        "alerts": "Alerts",
        "language": "Language of the emails",
        "frequency": "How often",
        "immediate": "at once, one email per notice",
        "daily_digest": "one daily digest",
        "timezone": "Time zone (IANA name, e.g. Asia/Shanghai)",
        "website": "Leave this field empty",
        "suggest": "Suggest codes from my description",
        "suggested": "Codes that fit your description: keep the ones that are right",
        "submit": "Register",
        "errors": "Please correct the fields marked below.",
        "required": "Please fill in this field.",
        "too_long": "This is too long: at most {limit} characters.",
        "country_error": "“{value}” is not a two-letter country code such as CN or VN.",
        "email_error": "“{value}” is not an email address we can write to.",
        "codes_error": "These are not UNSPSC or CPV codes: {value}. Write 2 to 8 digits (4213, 42132203) or CPV with "
        "its check digit (33141000-1).",
        "too_many_codes": "At most {limit} codes, please.",
        "choice": "Please choose one of the options.",
        "timezone_error": "“{value}” is not a time zone name such as Asia/Shanghai or Europe/Paris.",
        "identifier_error": "“{value}” is not a number of the register chosen: check its length and its digits (the "
        "last one is a check digit for ABN, SIREN and the unified social credit code).",
        "sent_title": "Check your inbox",
        "sent": "If this address can be registered, we have sent it an email with a confirmation link. Nothing is "
        "sent to it before you click that link. If you registered this address before, use the links in the "
        "emails you received.",
        "again": "Register another company",
        "csrf": "This form expired or was not sent from this page. Please submit it again.",
        "limit_title": "Too many registrations",
        "limit": "Too many registrations came from here or through this form in the last {window}. Please try "
        "again in {minutes} minutes.",
        "hour": "hour",
        "day": "day",
        "en_name": "English",
        "zh_name": "Simplified Chinese",
    },
    "zh-Hans": {
        "title": "注册您的公司",
        "intro": "通过电子邮件（中文或英文）接收与您产品相符的联合国机构和公共采购方的招标公告。"
        "免费，无需密码：我们邮件中的链接就是您的登录方式。",
        "switch": "English",
        "company": "公司名称",
        "country": "国家（两个字母的代码，例如 CN）",
        "email": "接收提醒的电子邮箱",
        "identifier": "官方注册号码（可选）",
        "id_scheme": "登记机构",
        "id_none": "无",
        "id_value": "号码",
        "id_help": "如果公开的授标记录以此号码列出贵公司，贵公司中标的合同将在您确认电子邮箱之后（且仅在此之后）"
        "加入您的资料。仅凭公司名称不会加入任何合同：任何人都可以填写名称，请与我们联系，由管理员核实。",
        "AU-ABN": "澳大利亚商业号码（ABN）",
        "FR-SIREN": "SIREN 或 SIRET（法国）",
        "CN-USCC": "统一社会信用代码（中国）",
        "GB-COH": "英国公司注册处编号（Companies House）",
        "description": "用您自己的话描述公司生产或销售的产品（任何语言均可）",
        "codes": "UNSPSC 或 CPV 代码（可选；每行一个或用逗号分隔，例如 42132203、CPV 33141000-1）",
        "alerts": "提醒",
        "language": "邮件语言",
        "frequency": "频率",
        "immediate": "立即，每条公告一封邮件",
        "daily_digest": "每日摘要一封",
        "timezone": "时区（IANA 名称，例如 Asia/Shanghai）",
        "website": "请勿填写此栏",
        "suggest": "根据我的描述推荐代码",
        "suggested": "与您的描述相符的代码：请保留正确的代码",
        "submit": "注册",
        "errors": "请更正下面标出的栏目。",
        "required": "请填写此栏。",
        "too_long": "内容过长：最多 {limit} 个字符。",
        "country_error": "“{value}”不是两个字母的国家代码（例如 CN 或 VN）。",
        "email_error": "“{value}”不是可以发送邮件的电子邮箱地址。",
        "codes_error": "以下不是 UNSPSC 或 CPV 代码：{value}。"
        "请填写 2 至 8 位数字（4213、42132203），或带校验位的 CPV 代码（33141000-1）。",
        "too_many_codes": "最多 {limit} 个代码。",
        "choice": "请从选项中选择一项。",
        "timezone_error": "“{value}”不是时区名称（例如 Asia/Shanghai 或 Europe/Paris）。",
        "identifier_error": "“{value}”不是所选登记机构的号码：请检查位数和数字"
        "（ABN、SIREN 和统一社会信用代码的最后一位是校验位）。",
        "sent_title": "请查收邮件",
        "sent": "如果此邮箱可以注册，我们已向其发送一封含确认链接的邮件。"
        "在您点击该链接之前，我们不会向其发送任何其他邮件。如果您以前注册过此邮箱，请使用您收到的邮件中的链接。",
        "again": "注册另一家公司",
        "csrf": "此表单已过期，或并非从本页提交。请重新提交。",
        "limit_title": "注册次数过多",
        "limit": "过去一{window}内来自此处或通过此表单的注册过多。请在 {minutes} 分钟后再试。",
        "hour": "小时",
        "day": "天",
        "en_name": "英语",
        "zh_name": "简体中文",
    },
}
#: Message code of ``read_registration`` -> the key of its words in ``TEXTS``.
ERROR_TEXTS = {
    "required": "required",
    "too_long": "too_long",
    "country": "country_error",
    "email": "email_error",
    "codes": "codes_error",
    "too_many_codes": "too_many_codes",
    "choice": "choice",
    "timezone": "timezone_error",
    "identifier": "identifier_error",
}
#: The time zone the form starts with, by page language.
DEFAULT_ZONES = {"en": "UTC", "zh-Hans": "Asia/Shanghai"}


def page_language(asked: str | None, accept_language: str) -> str:
    """The page's language: ``?lang=`` when it is one of ours, else the first of Accept-Language's languages we
    have (by weight; any ``zh`` is Simplified Chinese, any ``en`` English), else English."""
    if asked in LANGUAGES:
        return asked
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag.strip().lower()))
    for weight, _, tag in sorted(ranked):
        if weight < 0 and tag.startswith("zh"):
            return "zh-Hans"
        if weight < 0 and tag.startswith("en"):
            return "en"
    return "en"


def _render(templates: Environment, name: str, language: str, status: int = 200, **context: Any) -> HTMLResponse:
    body = templates.get_template(name).render(
        lang=language, t=TEXTS[language], other="en" if language == "zh-Hans" else "zh-Hans", **context
    )
    return HTMLResponse(body, status_code=status)


def _form_page(
    templates: Environment,
    signer: FormSigner,
    request: Request,
    language: str,
    now: Any,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
    suggestions: list[tuple[str, str, bool]] | None = None,
) -> HTMLResponse:
    """The form, with a fresh token bound to the browser's form cookie (set here when it has none), and the
    suggested codes (``code_token``, title, kept) when there are any."""
    nonce = request.cookies.get(FORM_COOKIE) or FormSigner.new_nonce()
    response = _render(
        templates,
        "register.html.j2",
        language,
        status,
        values=values or {"language": language, "timezone": DEFAULT_ZONES[language], "frequency": "immediate"},
        errors=errors or {},
        notice=notice,
        csrf=signer.issue(REGISTER_FORM, nonce, now),
        can_suggest=request.app.state.code_suggest is not None,
        schemes=list(IDENTIFIER_SCHEMES),
        suggestions=suggestions or [],
    )
    if request.cookies.get(FORM_COOKIE) != nonce:
        response.set_cookie(
            FORM_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=REGISTER_PATH,
        )
    return response


@router.get("", response_class=HTMLResponse)
def register_form(
    request: Request,
    templates: TemplatesDep,
    signer: SignerDep,
    lang: Annotated[str | None, Query(description="en or zh-Hans; else from Accept-Language")] = None,
) -> HTMLResponse:
    """The registration form, in the language asked for or the browser's."""
    language = page_language(lang, request.headers.get("accept-language", ""))
    return _form_page(templates, signer, request, language, request.app.state.container.matcher.clock())


@router.get("/sent", response_class=HTMLResponse)
def register_sent(
    request: Request,
    templates: TemplatesDep,
    lang: Annotated[str | None, Query(description="en or zh-Hans")] = None,
) -> HTMLResponse:
    """What every accepted post leads to, whatever became of it (no account enumeration)."""
    language = page_language(lang, request.headers.get("accept-language", ""))
    return _render(templates, "register_sent.html.j2", language)


@router.post(
    "",
    response_class=HTMLResponse,
    responses={
        303: {"description": "on to /register/sent (the same whether the address was new or known)"},
        403: {"description": "an expired form, or a post from another site", "content": {"text/html": {}}},
        413: {"description": "a body over TB_MATCHER_MAX_BODY_BYTES"},
        422: {"description": "the form again, each wrong field said", "content": {"text/html": {}}},
        429: {"description": "this client or the form registered too often", "content": {"text/html": {}}},
    },
)
async def register(request: Request, templates: TemplatesDep, signer: SignerDep) -> Response:
    """The form's post (``application/x-www-form-urlencoded``)."""
    registration: SelfRegistration = request.app.state.container.registration
    matcher = registration.matcher
    raw = parse_qs((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    form = {k: v[0] for k, v in raw.items()}
    accepted = raw.get("accept", [])
    language = page_language(form.get("lang"), request.headers.get("accept-language", ""))
    now = matcher.clock()
    sent = RedirectResponse(f"{REGISTER_PATH}/sent?lang={language}", status_code=303)
    nonce = request.cookies.get(FORM_COOKIE, "")
    if cross_site_form(request) or not nonce or not signer.valid(form.get("csrf", ""), REGISTER_FORM, nonce, now):
        registration.note("csrf")
        return _form_page(
            templates, signer, request, language, now, values=form, notice=TEXTS[language]["csrf"], status=403
        )
    if form.get("website"):
        registration.note("honeypot")
        return sent
    client = request.client.host if request.client is not None else "unknown"
    shown = _suggestions_posted(raw.get("suggested", []), accepted)
    suggest: CodeSuggest | None = request.app.state.code_suggest
    try:
        if form.get("step") == "suggest" and suggest is not None:
            description = form.get("description", "").strip()[:MAX_DESCRIPTION_CHARS]
            found: list[tuple[Classification, str, float]] = []
            if description:
                registration.admit_client(client, suggestion=True)
                found = await run_in_threadpool(suggest, description)
            fresh = [(code_token(c), title, False) for c, title, _ in found[:MAX_SUGGESTED]]
            return _form_page(templates, signer, request, language, now, values=form, suggestions=fresh or shown)
        read = read_registration(form, signer.secret, language, accepted)
        if read.profile is not None:
            registration.admit_client(client)
            await run_in_threadpool(registration.register, read.profile, mailbox_key(read.profile.emails[0]))
            return sent
    except RegistrationRefused as exc:
        return _refused(templates, language, exc)
    registration.note("invalid")
    words = TEXTS[language]
    errors = {name: words[ERROR_TEXTS[code]].format(**args) for name, (code, args) in read.errors.items()}
    return _form_page(
        templates, signer, request, language, now, values=read.values, errors=errors, status=422, suggestions=shown
    )


def _refused(templates: Environment, language: str, exc: RegistrationRefused) -> HTMLResponse:
    """429 in the page's language, saying when to come back (``Retry-After`` too)."""
    words = TEXTS[language]
    message = words["limit"].format(window=words[exc.window], minutes=max(exc.retry_after // 60, 1))
    response = _render(templates, "register_limit.html.j2", language, 429, message=message)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _suggestions_posted(suggested: list[str], accepted: list[str]) -> list[tuple[str, str, bool]]:
    """The suggestions the form carried back (``token|title`` hidden fields), with whether each is still kept."""
    out: list[tuple[str, str, bool]] = []
    for value in suggested[:MAX_SUGGESTED]:
        token, _, title = value.partition("|")
        if read_code_token(token) is not None:
            out.append((token, title[:200], token in accepted))
    return out


def code_suggest_of(app: FastAPI) -> CodeSuggest:
    """The form's code suggestion over the matcher's suggester (the ``/codes`` routes' dependency, so a test's
    ``app.dependency_overrides`` of it applies here too): UNSPSC and CPV codes with their titles and scores."""

    def suggest(text: str) -> list[tuple[Classification, str, float]]:
        suggester = app.dependency_overrides.get(code_suggester, code_suggester)()
        out: list[tuple[Classification, str, float]] = []
        for scheme, top in SUGGESTED_PER_SCHEME:
            [found] = suggester.suggest([text], scheme, top)
            out += [(Classification(scheme=s.scheme, code=s.code), s.title, s.score) for s in found]
        return out

    return suggest

"""Email building: Jinja2 templates (HTML autoescaped, plain text), English and Simplified Chinese, and the
``EmailMessage`` with RFC 8058 one-click unsubscribe headers. Pure: no I/O besides reading the packaged templates
(the "why it matched" lines are ``reasons.py``'s, the pages' labels ``pages.py``'s; code lists are read by
``adapters/code_lists.py``).

Header injection: every value that reaches a header goes through ``header_safe`` (control characters, CR and LF
become spaces) and headers are set through ``email.message.EmailMessage`` with the default policy, which refuses
CR/LF in header values anyway and encodes non-ASCII text (RFC 2047).
"""

from __future__ import annotations

import email.policy
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from contracts import (
    Classification,
    CodeScheme,
    NotificationKind,
    ShortlistEntry,
    SupplierProfile,
    TenderNotice,
)
from contracts.changes import NONE as CHANGE_NONE
from contracts.changes import read_change
from services.notifier.domain.reasons import CodeTitles, reason_lines
from services.notifier.domain.rules import DigestItem, DigestSections
from services.notifier.domain.text import header_safe, shown_name

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "subject_new_match": "New tender match: {title}",
        "subject_amendment": "Tender changed: {title}",
        "subject_cancellation": "Tender cancelled: {title}",
        "subject_digest": "Your tender digest for {day}: {count} match(es)",
        "greeting": "Hello {name},",
        "intro_new_match": "A new tender matches your profile.",
        "intro_amendment": "A tender you were alerted about has changed.",
        "intro_cancellation": "A tender you were alerted about has been cancelled. No bid is needed any more.",
        "intro_digest": "Here are the tenders that matched your profile since your last digest.",
        "buyer": "Buyer",
        "deadline": "Deadline",
        "value": "Estimated value",
        "codes": "Codes",
        "reasons": "Why it matched",
        "changes": "What changed",
        "changes_unknown": "The buyer published a new version of the notice.",
        "link": "View the notice",
        "not_given": "not given",
        "closing_soon": "Closing soon (within {days} days)",
        "others": "New matches",
        "unsubscribe": "Unsubscribe from these alerts",
        "preferences": "Change your alert preferences",
        "not_relevant": "Not relevant for me",
        "footer": "You receive this email because your company is registered on tenderbridge.",
        "subject_confirmation": "Please confirm your tender alerts from tenderbridge",
        "intro_confirmation": "{registered_by} has registered this address ({address}) on tenderbridge to receive "
        "tender alerts for {name}.",
        "intro_confirmation_self": "{name} has registered this address ({address}) on tenderbridge to receive its "
        "tender alerts.",
        "ask_confirmation": "If you want these alerts, confirm this address:",
        "confirm_button": "Confirm my address",
        "ignore_confirmation": "If you do not confirm, nothing happens: this address will never receive a tender "
        "alert for {name}, and we will not ask again.",
        "only_confirmation": "Confirming covers the alerts for {name} only. If this address is registered for "
        "another company too, you are asked about that one in an email of its own, never more than one such email "
        "every {days} days.",
        "footer_confirmation": "You receive this one email because {registered_by} entered this address on "
        "tenderbridge.",
    },
    "zh-Hans": {
        "subject_new_match": "新的招标匹配：{title}",
        "subject_amendment": "招标已变更：{title}",
        "subject_cancellation": "招标已取消：{title}",
        "subject_digest": "{day} 招标摘要：{count} 条匹配",
        "greeting": "{name}，您好：",
        "intro_new_match": "有一条新的招标与您的企业资料相匹配。",
        "intro_amendment": "您此前收到提醒的一条招标已发生变更。",
        "intro_cancellation": "您此前收到提醒的一条招标已被取消，无需再投标。",
        "intro_digest": "以下是自上次摘要以来与您的企业资料相匹配的招标。",
        "buyer": "采购方",
        "deadline": "截止时间",
        "value": "预估金额",
        "codes": "分类代码",
        "reasons": "匹配原因",
        "changes": "变更内容",
        "changes_unknown": "采购方发布了公告的新版本。",
        "link": "查看公告",
        "not_given": "未提供",
        "closing_soon": "即将截止（{days} 天内）",
        "others": "新的匹配",
        "unsubscribe": "退订此类提醒",
        "preferences": "修改提醒设置",
        "not_relevant": "与我无关",
        "footer": "您收到此邮件，是因为贵公司已在 tenderbridge 注册。",
        "subject_confirmation": "请确认接收 tenderbridge 招标提醒",
        "intro_confirmation": "{registered_by} 在 tenderbridge 上登记了此邮箱（{address}），"
        "用于接收 {name} 的招标提醒。",
        "intro_confirmation_self": "{name} 在 tenderbridge 上登记了此邮箱（{address}），用于接收本公司的招标提醒。",
        "ask_confirmation": "如果您希望接收这些提醒，请确认此邮箱：",
        "confirm_button": "确认我的邮箱",
        "ignore_confirmation": "如果您不确认，什么也不会发生：此邮箱将不会收到 {name} 的任何招标提醒，"
        "我们也不会再次询问。",
        "only_confirmation": "确认仅适用于 {name} 的提醒。如果此邮箱也被登记用于其他公司，我们会另发邮件单独询问，"
        "且每 {days} 天最多发送一封此类邮件。",
        "footer_confirmation": "您只会收到这一封邮件，因为 {registered_by} 在 tenderbridge 上填写了此邮箱。",
    },
}


def language_of(profile: SupplierProfile) -> str:
    return profile.preferences.language if profile.preferences.language in LABELS else "en"


def format_deadline(deadline: datetime | None, timezone: str, language: str) -> str | None:
    """The deadline in the supplier's zone, with the zone and its offset so nobody has to guess."""
    if deadline is None:
        return None
    local = deadline.astimezone(ZoneInfo(timezone))
    raw = local.strftime("%z")
    offset = f"UTC{raw[:3]}:{raw[3:]}"
    if language == "zh-Hans":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（{timezone}，{offset}）"
    return f"{local:%a %d %b %Y, %H:%M} ({timezone}, {offset})"


#: How a change (``contracts.changes``) is said, by language: templates by kind, then field labels.
CHANGE_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "field": "{label}: {before} → {after}",
        "named": "{label} changed",
        "codes_added": "Codes added: {codes}",
        "codes_removed": "Codes removed: {codes}",
        "cancelled": "The notice was cancelled",
        "reopened": "The notice was published again after its cancellation",
        "content": "The content changed",
        "items": "The items changed",
        "none": "none",
        "join": ", ",
    },
    "zh-Hans": {
        "field": "{label}：{before} → {after}",
        "named": "{label}已变更",
        "codes_added": "新增类别：{codes}",
        "codes_removed": "删除类别：{codes}",
        "cancelled": "公告已取消",
        "reopened": "公告在取消后重新发布",
        "content": "公告内容已变更",
        "items": "采购物品已变更",
        "none": "无",
        "join": "、",
    },
}
CHANGE_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Title",
        "deadline_at": "Deadline",
        "published_at": "Published",
        "estimated_value": "Estimated value",
        "procurement_method": "Procurement method",
        "notice_type": "Notice type",
        "language": "Language",
        "description": "The description",
        "buyer": "The buyer",
        "documents": "The documents",
        "delivery_countries": "The delivery countries",
        "beneficiary_countries": "The beneficiary countries",
        "eligible_supplier_countries": "The eligible supplier countries",
        "required_registration_level": "The required registration level",
        "source_url": "The notice's web address",
    },
    "zh-Hans": {
        "title": "标题",
        "deadline_at": "截止时间",
        "published_at": "发布时间",
        "estimated_value": "预估金额",
        "procurement_method": "采购方式",
        "notice_type": "公告类型",
        "language": "语言",
        "description": "公告描述",
        "buyer": "采购方",
        "documents": "招标文件",
        "delivery_countries": "交货国家",
        "beneficiary_countries": "受益国家",
        "eligible_supplier_countries": "合格供应商国家",
        "required_registration_level": "所需注册级别",
        "source_url": "公告网址",
    },
}


def _change_value(field: str, value: str, timezone: str, language: str) -> str:
    """A value of a change as the rest of the email shows it: an instant in the supplier's zone, a value as money."""
    if value == CHANGE_NONE:
        return CHANGE_TEMPLATES[language]["none"]
    if field in ("deadline_at", "published_at"):
        try:
            return format_deadline(datetime.fromisoformat(value), timezone, language) or value
        except ValueError:
            return value
    if field == "estimated_value":
        parts = dict(p.split("=", 1) for p in value.split(", ") if "=" in p)
        try:
            return f"{float(parts['amount']):,.2f} {parts['currency']}"
        except (KeyError, ValueError):
            return value
    return value


def change_lines(notice: TenderNotice, language: str, timezone: str) -> list[str]:
    """The notice's changes said in ``language`` with instants in ``timezone``; a line of another grammar than
    ``contracts.changes`` is shown as ingest wrote it."""
    templates, labels = CHANGE_TEMPLATES[language], CHANGE_LABELS[language]
    out = []
    for line in notice.changes:
        change = read_change(line)
        if change is None:
            out.append(line)
        elif change.kind == "field":
            before = _change_value(change.field, change.before, timezone, language)
            after = _change_value(change.field, change.after, timezone, language)
            out.append(templates["field"].format(label=labels[change.field], before=before, after=after))
        elif change.kind == "named":
            out.append(templates["named"].format(label=labels[change.field]))
        elif change.kind in ("codes_added", "codes_removed"):
            out.append(templates[change.kind].format(codes=templates["join"].join(change.codes)))
        else:
            out.append(templates[change.kind])
    return out


def format_value(notice: TenderNotice) -> str | None:
    value = notice.estimated_value
    return None if value is None else f"{value.amount:,.2f} {value.currency}"


def code_lines(notice: TenderNotice, titles: CodeTitles, limit: int = 8) -> list[str]:
    """``42132203 Medical gloves`` for each distinct code: the notice's own description, else the code list's."""
    seen: dict[tuple[CodeScheme, str], str] = {}
    for c in notice.all_classifications():
        key = (c.scheme, c.code)
        if key not in seen:
            seen[key] = _title(c, titles)
    lines = [
        f"{scheme.value if scheme != CodeScheme.OTHER else ''} {code} {title}".strip()
        for (scheme, code), title in seen.items()
    ]
    return lines[:limit]


def _title(c: Classification, titles: CodeTitles) -> str:
    if c.description:
        return c.description
    return titles.get((c.scheme, c.code.split("-")[0]), "")


@dataclass(frozen=True)
class Links:
    """Where the email points: the notice, the unsubscribe and preferences pages.

    ``notice_url_template`` is the operator's supplier-facing notice page (``{notice_id}`` replaced, URL-quoted);
    empty when there is none. The matcher's buyer page is no such page: it wants a buyer's sign-in.
    """

    notice_url_template: str
    unsubscribe_url: str
    preferences_url: str
    #: The signed "not relevant for me" page of a notice for this supplier ("" when there is none).
    not_relevant_url: Callable[[TenderNotice], str] = field(default=lambda _notice: "", compare=False)

    def notice_url(self, notice: TenderNotice) -> str:
        """The notice's own page on its portal (``source_url``, where a supplier reads the documents and bids) when
        it is an http(s) URL; else the operator's template; else "" (the email then has no notice link)."""
        own = (notice.source_url or "").strip()
        if _WEB_URL.match(own) and not any(c.isspace() or unicodedata.category(c)[0] == "C" for c in own):
            return own
        if self.notice_url_template.strip():
            return self.notice_url_template.format(notice_id=quote(notice.notice_id, safe=":"))
        return ""


#: An absolute http(s) URL with a host: ``javascript:``, ``mailto:``, relative paths and bare hosts are no link.
_WEB_URL = re.compile(r"https?://[^/?#\s]+", re.IGNORECASE)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    language: str


@cache
def template_env() -> Environment:
    return Environment(
        loader=PackageLoader("services.notifier", "templates"),
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _notice_view(
    notice: TenderNotice,
    entry: ShortlistEntry | None,
    profile: SupplierProfile,
    links: Links,
    titles: CodeTitles,
    *,
    markable: bool = True,
) -> dict[str, object]:
    language = language_of(profile)
    return {
        "title": notice.title,
        "buyer": notice.buyer.name,
        "deadline": format_deadline(notice.deadline_at, profile.preferences.timezone, language),
        "value": format_value(notice),
        "codes": code_lines(notice, titles),
        "reasons": reason_lines(entry, language, notice, titles),
        "changes": change_lines(notice, language, profile.preferences.timezone),
        "url": links.notice_url(notice),
        # A cancelled notice asks for no decision: its email has no "not relevant for me" link.
        "not_relevant_url": links.not_relevant_url(notice) if markable else "",
    }


def _render(name: str, context: dict[str, object]) -> tuple[str, str]:
    env = template_env()
    return env.get_template(f"{name}.txt.j2").render(context), env.get_template(f"{name}.html.j2").render(context)


def supplier_name(profile: SupplierProfile) -> str:
    """The supplier's name in its language, as an email shows a name someone typed (``text.shown_name``)."""
    return shown_name(profile.names.get(language_of(profile)) or profile.display_name)


def render_notice_email(
    kind: NotificationKind,
    profile: SupplierProfile,
    notice: TenderNotice,
    entry: ShortlistEntry | None,
    links: Links,
    titles: CodeTitles,
) -> Rendered:
    """A new match, an amendment or a cancellation, in the supplier's language."""
    language = language_of(profile)
    t = LABELS[language]
    context: dict[str, object] = {
        "t": t,
        "lang": language,
        "kind": kind.value,
        "name": supplier_name(profile),
        "intro": t[f"intro_{kind.value}"],
        # A cancellation tells what ended, not why the tender fitted.
        "notice": _notice_view(
            notice,
            None if kind == NotificationKind.CANCELLATION else entry,
            profile,
            links,
            titles,
            markable=kind != NotificationKind.CANCELLATION,
        ),
        "links": links,
    }
    text, html = _render("notice", context)
    subject = t[f"subject_{kind.value}"].format(title=header_safe(notice.title, 140))
    return Rendered(header_safe(subject, 200), text, html, language)


def render_digest(
    profile: SupplierProfile,
    sections: DigestSections,
    day: date,
    links: Links,
    titles: CodeTitles,
    closing_soon_days: int = 7,
) -> Rendered:
    language = language_of(profile)
    t = LABELS[language]

    def views(items: Iterable[DigestItem]) -> list[dict[str, object]]:
        return [_notice_view(i.notice, i.entry, profile, links, titles) for i in items]

    context: dict[str, object] = {
        "t": t,
        "lang": language,
        "name": supplier_name(profile),
        "intro": t["intro_digest"],
        "closing_soon_title": t["closing_soon"].format(days=closing_soon_days),
        "closing_soon": views(sections.closing_soon),
        "others": views(sections.others),
        "links": links,
    }
    text, html = _render("digest", context)
    count = len(sections.closing_soon) + len(sections.others)
    return Rendered(
        header_safe(t["subject_digest"].format(day=day.isoformat(), count=count), 200), text, html, language
    )


def render_confirmation(
    profile: SupplierProfile, address: str, registered_by: str, confirm_url: str, interval_days: float = 30
) -> Rendered:
    """The one email an address registered by a buyer's or the supplier's own key gets (double opt-in), in the
    supplier's language: who registered it, the link that confirms it (for this supplier only: other registrations
    of the address are asked separately, one email per ``interval_days`` at most), and that ignoring it means no
    alert ever. The subject is fixed text: the registrant and the supplier name, which whoever registers chooses,
    appear in the (escaped) body only."""
    language = language_of(profile)
    t = LABELS[language]
    # Whoever registers chooses both names: each is shown as data, in quotes, cut, its URLs inert (``shown_name``).
    name = f"“{supplier_name(profile)}”"
    # The supplier's own key names the supplier (in some language): one company, named once, the reader's way.
    by_itself = registered_by in profile.names.values() or registered_by == profile.display_name
    values = {
        "name": name,
        "address": address,
        "registered_by": name if by_itself else f"“{shown_name(registered_by)}”",
        "days": f"{interval_days:g}",
    }
    context: dict[str, object] = {
        "t": t,
        "lang": language,
        "intro": t["intro_confirmation_self" if by_itself else "intro_confirmation"].format(**values),
        "confirm_url": confirm_url,
        "ignore": t["ignore_confirmation"].format(**values),
        "only": t["only_confirmation"].format(**values) if interval_days else "",
        "footer": t["footer_confirmation"].format(**values),
    }
    text, html = _render("confirmation", context)
    return Rendered(t["subject_confirmation"], text, html, language)


@dataclass(frozen=True)
class Envelope:
    """Who the message is from and to, and its identity."""

    from_address: str
    from_name: str
    to_addresses: list[str]
    to_name: str
    message_id: str
    idempotency_key: str


#: The default policy, allowed to use RFC 5322's 998-character line limit: folded at 78, a long header without
#: spaces (the List-Unsubscribe URL) would be RFC 2047-encoded, and mail clients would no longer see its <URI>.
MESSAGE_POLICY = email.policy.default.clone(max_line_length=998)


def build_message(rendered: Rendered, envelope: Envelope, unsubscribe_url: str | None, now: datetime) -> EmailMessage:
    """multipart/alternative (plain text first, then HTML) with RFC 8058 one-click unsubscribe headers (none for a
    confirmation email, ``unsubscribe_url`` None: its address is on no list until it confirms, and a stranger's
    click must not unsubscribe the supplier's other addresses)."""
    msg = EmailMessage(policy=MESSAGE_POLICY)
    msg["Subject"] = header_safe(rendered.subject, 200)
    msg["From"] = Address(display_name=header_safe(envelope.from_name, 80), addr_spec=envelope.from_address)
    name = header_safe(envelope.to_name, 80)  # "": the bare address
    msg["To"] = [Address(display_name=name, addr_spec=a) for a in envelope.to_addresses]
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = header_safe(envelope.message_id, 250)
    msg["Auto-Submitted"] = "auto-generated"
    # RFC 8058: an HTTPS URI receiving a POST with body "List-Unsubscribe=One-Click" unsubscribes without a page.
    if unsubscribe_url is not None:
        msg["List-Unsubscribe"] = f"<{header_safe(unsubscribe_url, 900)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-Tenderbridge-Key"] = header_safe(envelope.idempotency_key, 250)
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    # After the body: set_content drops every Content-* header set before it (so it never reached an email).
    msg["Content-Language"] = rendered.language
    return msg

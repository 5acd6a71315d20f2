"""Email rendering: Jinja2 templates (HTML autoescaped, plain text), English and Simplified Chinese, and the
``EmailMessage`` with RFC 8058 one-click unsubscribe headers. Pure: no I/O besides reading the packaged templates.

Header injection: every value that reaches a header goes through ``header_safe`` (control characters, CR and LF
become spaces) and headers are set through ``email.message.EmailMessage`` with the default policy, which refuses
CR/LF in header values anyway and encodes non-ASCII text (RFC 2047).
"""

from __future__ import annotations

import csv
import email.policy
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from contracts import (
    REASON_CODES,
    Classification,
    CodeScheme,
    NotificationKind,
    ScoreComponent,
    ShortlistEntry,
    SupplierProfile,
    TenderNotice,
)
from contracts.changes import NONE as CHANGE_NONE
from contracts.changes import read_change
from services.notifier.domain.rules import DigestItem, DigestSections

CodeTitles = Mapping[tuple[CodeScheme, str], str]

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

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def header_safe(text: str, limit: int = 180) -> str:
    """One header-safe line: CR, LF and every other control character become a space, runs of spaces collapse,
    the result is cut to ``limit`` characters."""
    cleaned = "".join(" " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch for ch in text)
    cleaned = _SPACES.sub(" ", _CONTROL.sub(" ", cleaned)).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


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


def load_code_titles(paths: Iterable[Path]) -> dict[tuple[CodeScheme, str], str]:
    """Read code lists with ``code`` and ``title`` columns. Codes with a check digit (``03000000-1``) are CPV;
    the others UNSPSC."""
    out: dict[tuple[CodeScheme, str], str] = {}
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                code, title = (row.get("code") or "").strip(), (row.get("title") or "").strip()
                if not code or not title:
                    continue
                scheme = CodeScheme.CPV if "-" in code else CodeScheme.UNSPSC
                out[(scheme, code.split("-")[0])] = title
    return out


#: "Why it matched", one template per ``REASON_CODES`` code and language, in the supplier's voice. Placeholders are
#: the code's args, prepared by ``_reason_values``: codes and scheme names as given, ``level`` translated,
#: ``code_title`` and ``supplier_code_title`` the code's title in brackets or nothing (see ``_REASON_PARTS``),
#: counts as digits with ``<name>_s`` an English plural "s", ``last_clause`` ", the last on <ISO date>" or nothing
#: (``last`` is "" when unknown), ``words`` rejoined the language's way, ``contains`` and ``match_clause`` from
#: ``percent`` (rapidfuzz's token-set ratio: 100 when every word of the phrase is in the title, however long the
#: title; so a phrase is said to be contained, never the title "alike").
REASON_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "code_exact": "{scheme} {code}{code_title} is one of your codes",
        "code_near": "{scheme} {code}{code_title} is one level from your {level} {supplier_code}{supplier_code_title}",
        "code_shared_level": "{scheme} {code}{code_title} is in your {level} {supplier_code}{supplier_code_title}",
        "code_none": "you have no code in common with {scheme} {code}{code_title}",
        "words_shared": "your profile mentions {words}",
        "words_none": "your profile shares no words with the notice",
        "wording_close": "the title {contains} your wording “{phrase}”{match_clause}",
        "history": "you have won {awards} contract{awards_s} in {scheme} {code}{code_title} and {family_awards} in "
        "its family{last_clause}",
        "buyer_awards": "you have won {awards} contract{awards_s} from this buyer ({family_awards} in this family)",
        "buyer_code_awards": "you have won {awards} contract{awards_s} from this buyer for this very code",
        "repeat": "you have won this same contract {times} time{times_s} before ({from_buyer} from this buyer)",
        "activity": "you have won {awards} contract{awards_s}{last_clause}",
        "value_close": "the estimated value is close to the contracts you usually win",
        "value_unlike": "the estimated value is unlike the contracts you usually win",
        "value_unknown": "there is no value to compare with the contracts you usually win",
    },
    "zh-Hans": {
        "code_exact": "{scheme} {code}{code_title}是您登记的类别之一",
        "code_near": "{scheme} {code}{code_title}与您登记的{level} {supplier_code}{supplier_code_title}仅差一级",
        "code_shared_level": "{scheme} {code}{code_title}属于您登记的{level} {supplier_code}{supplier_code_title}",
        "code_none": "您登记的类别与 {scheme} {code}{code_title}均无关联",
        "words_shared": "您的企业资料提到了 {words}",
        "words_none": "您的企业资料与公告没有相同的关键词",
        "wording_close": "招标标题{contains}您的表述“{phrase}”{match_clause}",
        "history": "您在 {scheme} {code}{code_title}下中标过 {awards} 次，"
        "所属上级类别共 {family_awards} 次{last_clause}",
        "buyer_awards": "您曾 {awards} 次中标该采购方的合同（其中同类别 {family_awards} 次）",
        "buyer_code_awards": "您曾 {awards} 次中标该采购方同一代码的合同",
        "repeat": "同样的合同您此前已中标 {times} 次（其中来自该采购方 {from_buyer} 次）",
        "activity": "您累计中标 {awards} 次{last_clause}",
        "value_close": "预估金额与您通常中标的合同金额相近",
        "value_unlike": "预估金额与您通常中标的合同金额差异较大",
        "value_unknown": "暂无可与您以往合同比较的金额",
    },
}

#: Level names by language and scheme (UNSPSC: 2 digits per level; CPV: division 2 digits, then one per level).
REASON_LEVELS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "UNSPSC": {"segment": "segment", "family": "family", "class": "class", "commodity": "commodity"},
        "CPV": {
            "division": "division",
            "group": "group",
            "class": "class",
            "category": "category",
            "subdivision": "subdivision",
        },
    },
    "zh-Hans": {
        "UNSPSC": {"segment": "大类", "family": "中类", "class": "小类", "commodity": "商品"},
        "CPV": {"division": "大类", "group": "组别", "class": "类别", "category": "子类", "subdivision": "细类"},
    },
}

_REASON_PARTS: dict[str, dict[str, str]] = {
    "en": {
        "title": " ({title})",
        "no_title": "",
        "last": ", the last on {last}",
        "words": ", ",
        "contains": "contains",
        "nearly_contains": "nearly contains",
        "match": " ({percent}% similar)",
    },
    # Chinese text takes a space between a code and the next Chinese word, none after a full-width bracket.
    "zh-Hans": {
        "title": "（{title}）",
        "no_title": " ",
        "last": "，最近一次中标于 {last}",
        "words": "、",
        "contains": "包含",
        "nearly_contains": "接近包含",
        "match": "（相似度 {percent}%）",
    },
}

_REASON_SCHEMES = {"UNSPSC": CodeScheme.UNSPSC, "CPV": CodeScheme.CPV, "other": CodeScheme.OTHER}
#: How a reason names a scheme (UNSPSC and CPV as they are; a code of another scheme is "a code").
_REASON_SCHEME_NAMES = {"en": {"other": "code"}, "zh-Hans": {"other": "代码"}}
_REASON_CODE = re.compile(r"\d{2,8}(-\d)?")
#: A code of another scheme as published: short, printable, no markup characters.
_REASON_OTHER_CODE = re.compile(r"[^\x00-\x1f\x7f<>&\"]{1,40}")
_REASON_COUNTS = frozenset({"awards", "family_awards", "times", "from_buyer"})
_TITLE_LIMIT = 60


class _BadArgs(Exception):
    """Raised if a reason's args do not fit its code (missing, wrong type, unknown value): show ``reason``."""


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadArgs
    if isinstance(value, float) and not value.is_integer():
        raise _BadArgs
    if value < 0:
        raise _BadArgs
    return int(value)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _BadArgs
    return value.strip()


def _reason_values(
    code: str, args: Mapping[str, object], language: str, titles: Callable[[CodeScheme, str], str]
) -> dict[str, object]:
    """The placeholders of ``code``'s template from ``args``; raises ``_BadArgs`` when they do not fit."""
    parts = _REASON_PARTS[language]
    values: dict[str, object] = {}
    names = REASON_CODES[code]
    for name in names:
        if name not in args:
            raise _BadArgs
    scheme = _text(args["scheme"]) if "scheme" in names else ""
    if scheme and scheme not in _REASON_SCHEMES:
        raise _BadArgs
    for name in names:
        value = args[name]
        if name in _REASON_COUNTS:
            n = _count(value)
            values[name], values[f"{name}_s"] = n, "" if n == 1 else "s"
        elif name == "scheme":
            values[name] = _REASON_SCHEME_NAMES[language].get(scheme, scheme)
        elif name in {"code", "supplier_code"}:
            digits = _text(value)
            if not (_REASON_OTHER_CODE if scheme == "other" else _REASON_CODE).fullmatch(digits):
                raise _BadArgs
            title = titles(_REASON_SCHEMES[scheme], digits)
            if len(title) > _TITLE_LIMIT:
                title = title[: _TITLE_LIMIT - 1].rstrip() + "…"
            # A level's prefix (``421322``) is written as the 8-digit code suppliers know (``42132200``).
            values[name] = digits if scheme == "other" or "-" in digits else digits.ljust(8, "0")
            values[f"{name}_title"] = parts["title"].format(title=title) if title else parts["no_title"]
        elif name == "level":
            level = REASON_LEVELS[language][scheme].get(_text(value))
            if level is None:
                raise _BadArgs
            values[name] = level
        elif name == "words":
            words = [w.strip() for w in _text(value).split(",") if w.strip()]
            if not words:
                raise _BadArgs
            values[name] = parts["words"].join(words)
        elif name == "phrase":
            values[name] = _text(value)
        elif name == "percent":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
                raise _BadArgs
            percent = values[name] = round(value)
            whole = percent == 100
            values["contains"] = parts["contains" if whole else "nearly_contains"]
            values["match_clause"] = "" if whole else parts["match"].format(percent=percent)
        elif name == "last":
            if not isinstance(value, str):
                raise _BadArgs
            try:
                last = date.fromisoformat(value).isoformat() if value else ""
            except ValueError:
                raise _BadArgs from None
            values[name] = last
            values["last_clause"] = parts["last"].format(last=last) if last else ""
        else:  # an arg added to the catalog after this code: no rule to show it, so the matcher's line is shown
            raise _BadArgs
    return values


def _title_key(scheme: CodeScheme, code: str) -> str:
    """A code as titles are keyed: UNSPSC and CPV without a check digit; another scheme's code as it is."""
    return code if scheme == CodeScheme.OTHER else code.split("-")[0]


def _title_lookup(notice: TenderNotice | None, titles: CodeTitles) -> Callable[[CodeScheme, str], str]:
    """A code's title for reason lines: the notice's own description of that code, else the code list's. Reason
    codes are prefixes (``4213``: the family), code lists key full codes (``42130000``): padded with zeros."""
    own: dict[tuple[CodeScheme, str], str] = {}
    if notice is not None:
        for c in notice.all_classifications():
            if c.description:
                own.setdefault((c.scheme, _title_key(c.scheme, c.code)), c.description)

    def lookup(scheme: CodeScheme, code: str) -> str:
        key = (scheme, _title_key(scheme, code).ljust(8, "0") if scheme != CodeScheme.OTHER else code)
        return header_safe(own.get(key) or titles.get(key, ""), 200)

    return lookup


def render_reason(
    component: ScoreComponent,
    language: str,
    titles: CodeTitles | Callable[[CodeScheme, str], str] | None = None,
) -> str:
    """One "why it matched" line in ``language`` and the supplier's voice, from ``reason_code`` and ``reason_args``;
    ``component.reason`` (the matcher's English line) when there is no code, an unknown one, or args that do not fit:
    a shortlist from another producer version never fails an email."""
    code = component.reason_code
    templates = REASON_TEMPLATES.get(language, REASON_TEMPLATES["en"])
    if code is None or code not in templates or code not in REASON_CODES:
        return component.reason
    lookup = titles if callable(titles) else _title_lookup(None, titles or {})
    try:
        values = _reason_values(code, component.reason_args, language if language in _REASON_PARTS else "en", lookup)
        return templates[code].format_map(values).strip()
    except (_BadArgs, KeyError, ValueError, IndexError):
        return component.reason


def reason_lines(
    entry: ShortlistEntry | None,
    language: str,
    notice: TenderNotice | None = None,
    titles: CodeTitles | None = None,
    n: int = 3,
) -> list[str]:
    """The entry's top ``n`` reasons (the components ``ShortlistEntry.top_reasons`` picks: highest contribution
    first, contributing ones only), each rendered by ``render_reason``; empty lines are left out."""
    if entry is None:
        return []
    lookup = _title_lookup(notice, titles or {})
    lines = (render_reason(c, language, lookup) for c in entry.top_components(n))
    return [line for line in lines if line.strip()]


@dataclass(frozen=True)
class Links:
    """Where the email points: the notice, the unsubscribe and preferences pages.

    ``notice_url_template`` is the operator's supplier-facing notice page (``{notice_id}`` replaced, URL-quoted);
    empty when there is none. The matcher's buyer page is no such page: it wants a buyer's sign-in.
    """

    notice_url_template: str
    unsubscribe_url: str
    preferences_url: str

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
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("services.notifier", "templates"),
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _notice_view(
    notice: TenderNotice, entry: ShortlistEntry | None, profile: SupplierProfile, links: Links, titles: CodeTitles
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
    }


def _render(name: str, context: dict[str, object]) -> tuple[str, str]:
    env = _env()
    return env.get_template(f"{name}.txt.j2").render(context), env.get_template(f"{name}.html.j2").render(context)


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
        "name": profile.names.get(language) or profile.display_name,
        "intro": t[f"intro_{kind.value}"],
        # A cancellation tells what ended, not why the tender fitted.
        "notice": _notice_view(
            notice, None if kind == NotificationKind.CANCELLATION else entry, profile, links, titles
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
        "name": profile.names.get(language) or profile.display_name,
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
    name = profile.names.get(language) or profile.display_name
    # The supplier's own key names the supplier (in some language): one company, named once, the reader's way.
    by_itself = registered_by in profile.names.values() or registered_by == profile.display_name
    values = {
        "name": name,
        "address": address,
        "registered_by": name if by_itself else registered_by,
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
    name = header_safe(envelope.to_name, 80)
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


PAGE_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "unsubscribe_title": "Unsubscribe from tender alerts",
        "unsubscribe_question": "Stop all tender alert emails for {name}?",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed_title": "You are unsubscribed",
        "unsubscribed_text": "{name} will receive no more tender alerts.",
        "preferences_title": "Alert preferences",
        "frequency": "Frequency",
        "language": "Language",
        "timezone": "Time zone",
        "digest_hour": "Digest hour",
        "status": "Status",
        "subscribed": "subscribed",
        "unsubscribed": "unsubscribed",
        "unknown": "We have no profile for this link yet.",
        "alerts": "Tender alerts",
        "alerts_on": "Send me tender alerts",
        "alerts_off": "Stop all tender alerts",
        "frequency_immediate": "Immediately, one email per tender",
        "frequency_daily_digest": "Once a day, in a digest",
        "digest_hour_hint": "(local time, 0-23)",
        "save_button": "Save preferences",
        "saved_title": "Preferences saved",
        "saved_text": "Your alert preferences are saved; the next emails follow them.",
        "unchanged_text": "Nothing was changed: these are your alert preferences.",
        "back": "Change them again",
        "not_saved": "Your preferences could not be saved just now and nothing was changed. Please try again in a few "
        "minutes.",
        "invalid": "Your preferences were not saved: please correct the fields marked below.",
        "gone_title": "Profile not found",
        "gone_text": "We no longer have a supplier profile for this link, so there are no preferences to change.",
        "error_alerts": "Choose whether you want tender alerts.",
        "error_frequency": "Choose immediate alerts or a daily digest.",
        "error_language": "Choose English or 简体中文.",
        "error_timezone": "Unknown time zone: choose one from the list.",
        "error_digest_hour": "The digest hour must be a whole number from 0 to 23.",
        "confirm_title": "Confirm tender alerts",
        "confirm_question": "Send tender alerts for {name} to {address}?",
        "confirm_button": "Yes, send me tender alerts",
        "confirm_ignore": "If you do not want them, close this page: nothing will be sent to this address.",
        "confirmed_title": "Address confirmed",
        "confirmed_text": "{address} will receive tender alerts for {name}, from the next matching tender on.",
        "confirm_gone_title": "This link no longer applies",
        "confirm_gone_text": "This address is no longer registered for these alerts (or was registered again since "
        "this email): nothing was changed.",
        "confirm_unavailable": "Your confirmation could not be recorded just now. Please try again in a few minutes.",
        "confirm_deleted_text": "This supplier is no longer registered on tenderbridge: there is nothing to confirm, "
        "and no tender alert will be sent to {address}.",
    },
    "zh-Hans": {
        "unsubscribe_title": "退订招标提醒",
        "unsubscribe_question": "停止向 {name} 发送所有招标提醒邮件？",
        "unsubscribe_button": "退订",
        "unsubscribed_title": "您已退订",
        "unsubscribed_text": "{name} 将不再收到招标提醒。",
        "preferences_title": "提醒设置",
        "frequency": "频率",
        "language": "语言",
        "timezone": "时区",
        "digest_hour": "摘要发送时间",
        "status": "状态",
        "subscribed": "已订阅",
        "unsubscribed": "已退订",
        "unknown": "暂无与此链接对应的企业资料。",
        "alerts": "招标提醒",
        "alerts_on": "接收招标提醒",
        "alerts_off": "停止所有招标提醒",
        "frequency_immediate": "即时发送，每个招标一封邮件",
        "frequency_daily_digest": "每日一封摘要邮件",
        "digest_hour_hint": "（当地时间，0-23 点）",
        "save_button": "保存设置",
        "saved_title": "设置已保存",
        "saved_text": "您的提醒设置已保存，之后的邮件将按此发送。",
        "unchanged_text": "没有任何更改，以下是您当前的提醒设置。",
        "back": "再次修改",
        "not_saved": "暂时无法保存您的设置，所有设置均未更改。请几分钟后再试。",
        "invalid": "设置未保存：请更正下方标出的项目。",
        "gone_title": "未找到企业资料",
        "gone_text": "我们已没有与此链接对应的企业资料，因此没有可修改的设置。",
        "error_alerts": "请选择是否接收招标提醒。",
        "error_frequency": "请选择即时提醒或每日摘要。",
        "error_language": "请选择 English 或简体中文。",
        "error_timezone": "未知时区：请从列表中选择。",
        "error_digest_hour": "摘要发送时间必须是 0 到 23 之间的整数。",
        "confirm_title": "确认接收招标提醒",
        "confirm_question": "是否将 {name} 的招标提醒发送至 {address}？",
        "confirm_button": "是的，请向我发送招标提醒",
        "confirm_ignore": "如果您不需要，关闭此页面即可：此邮箱不会收到任何邮件。",
        "confirmed_title": "邮箱已确认",
        "confirmed_text": "{address} 将从下一条匹配的招标起收到 {name} 的招标提醒。",
        "confirm_gone_title": "此链接已失效",
        "confirm_gone_text": "此邮箱已不再登记接收这些提醒（或在此邮件之后被重新登记）：没有任何更改。",
        "confirm_unavailable": "暂时无法记录您的确认，请几分钟后再试。",
        "confirm_deleted_text": "该供应商已不再在 tenderbridge 上登记：无需确认，{address} 不会收到任何招标提醒。",
    },
}


def render_page(name: str, profile: SupplierProfile | None, **context: object) -> str:
    """An HTML page of the unsubscribe/preferences flow, in the supplier's language (English when unknown)."""
    language = language_of(profile) if profile is not None else "en"
    display = (profile.names.get(language) or profile.display_name) if profile is not None else ""
    html: str = (
        _env()
        .get_template(f"page_{name}.html.j2")
        .render(t=PAGE_LABELS[language], lang=language, name=display, profile=profile, **context)
    )
    return html

"""The matching profile page (``/profile?token=``): what a supplier is matched on, shown in its language, and the
few fields it may change there (UNSPSC and CPV codes, keywords, descriptions), read from the form and laid over the
profile the matcher holds. Pure: no I/O.

Codes are read by ``contracts.codes.read_code``, the rule every notice's codes went through in ingest: UNSPSC 8
digits, or 2/4/6 digits padded with zeros to 8 (the matcher reads only 8-digit codes); CPV 8 digits with an optional
check digit. A text that is not a code of that scheme is refused here, with the codes at fault named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts import Classification, CodeScheme, SupplierProfile
from contracts.codes import read_code

CodeTitles = Mapping[tuple[CodeScheme, str], str]

#: Form field -> the scheme of the codes it holds. Codes of other schemes (``OTHER``) are shown, not edited.
CODE_FIELDS = {"unspsc": CodeScheme.UNSPSC, "cpv": CodeScheme.CPV}
#: The descriptions the page edits, one text area per language the emails speak; others are shown, not edited.
DESCRIPTION_LANGUAGES = ("en", "zh-Hans")
#: Every field the form may send; one not sent is not changed.
FIELDS = (*CODE_FIELDS, "keywords", *(f"description_{lang}" for lang in DESCRIPTION_LANGUAGES))
#: Bounds of a page anyone holding the link can post to (the matcher has none): enough for a real profile.
MAX_CODES = 200
MAX_KEYWORDS = 100
MAX_KEYWORD_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 5000

_SPLIT = re.compile(r"[\n\r,;，；、]+")

PROFILE_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your matching profile",
        "intro": "Tenders are matched to you on these codes, words and description. Change them here; the open "
        "tenders are matched again when you save.",
        "names": "Company names",
        "country": "Registered in",
        "countries": "Countries you deliver to",
        "countries_any": "no restriction",
        "codes": "Codes",
        "scheme": "Scheme",
        "code": "Code",
        "code_title": "Title",
        "other_codes": "Other codes (kept as they are)",
        "no_codes": "No codes yet.",
        "unspsc": "UNSPSC codes",
        "unspsc_hint": "One per line or comma separated: 8 digits (42132203), or 2, 4 or 6 digits for a whole segment, "
        "family or class (4213).",
        "cpv": "CPV codes",
        "cpv_hint": "One per line or comma separated: 8 digits, with or without the check digit (33141420-0).",
        "keywords": "Keywords",
        "keywords_hint": "One per line or comma separated.",
        "description_en": "Description (English)",
        "description_zh-Hans": "Description (Simplified Chinese)",
        "other_descriptions": "Descriptions in other languages (kept as they are)",
        "save_button": "Save profile",
        "saved": "Your profile is saved.",
        "rematched": "{count} open tender(s) were matched again.",
        "unchanged": "Nothing was changed.",
        "invalid": "Your profile was not saved: please correct the fields marked below.",
        "not_saved": "Your profile could not be saved just now and nothing was changed. Please try again in a few "
        "minutes.",
        "unavailable": "Your profile cannot be shown just now. Please try again in a few minutes.",
        "conflict": "Your profile was changed meanwhile (by you in another window, or by us), so nothing was saved. "
        "This is the profile as it is now: please make your change again.",
        "lost_text": "What you typed (not saved)",
        "reload": "Reload the profile",
        "preferences_link": "Alert preferences",
        "profile_link": "What you are matched on (codes, keywords, description)",
        "error_unspsc": "Not UNSPSC codes: {codes}. Use 8 digits, or 2, 4 or 6 digits.",
        "error_cpv": "Not CPV codes: {codes}. Use 8 digits, with or without the check digit.",
        "error_too_many_codes": "At most {limit} codes.",
        "error_keywords": "At most {limit} keywords of at most {length} characters each.",
        "error_description": "At most {limit} characters.",
        "error_list": "Give a list of texts or one text.",
        "error_text": "Give a text.",
    },
    "zh-Hans": {
        "title": "您的匹配资料",
        "intro": "系统根据以下代码、关键词和描述为您匹配招标。您可以在此修改；保存后，所有未截止的招标将重新匹配。",
        "names": "公司名称",
        "country": "注册国家",
        "countries": "供货国家",
        "countries_any": "不限",
        "codes": "分类代码",
        "scheme": "体系",
        "code": "代码",
        "code_title": "名称",
        "other_codes": "其他代码（保持不变）",
        "no_codes": "暂无代码。",
        "unspsc": "UNSPSC 代码",
        "unspsc_hint": "每行一个或用逗号分隔：8 位数字（42132203），"
        "或 2、4、6 位数字表示整个大类、中类或小类（4213）。",
        "cpv": "CPV 代码",
        "cpv_hint": "每行一个或用逗号分隔：8 位数字，可带校验位（33141420-0）。",
        "keywords": "关键词",
        "keywords_hint": "每行一个或用逗号分隔。",
        "description_en": "描述（英文）",
        "description_zh-Hans": "描述（简体中文）",
        "other_descriptions": "其他语言的描述（保持不变）",
        "save_button": "保存资料",
        "saved": "您的资料已保存。",
        "rematched": "已重新匹配 {count} 条未截止的招标。",
        "unchanged": "没有任何更改。",
        "invalid": "资料未保存：请更正下方标出的项目。",
        "not_saved": "暂时无法保存您的资料，所有内容均未更改。请几分钟后再试。",
        "unavailable": "暂时无法显示您的资料。请几分钟后再试。",
        "conflict": "您的资料在此期间已被修改（您在其他窗口中或由我们修改），因此未保存。"
        "以下是当前的资料：请重新修改。",
        "lost_text": "您填写的内容（未保存）",
        "reload": "重新加载资料",
        "preferences_link": "提醒设置",
        "profile_link": "匹配依据（代码、关键词、描述）",
        "error_unspsc": "以下不是 UNSPSC 代码：{codes}。请填写 8 位数字，或 2、4、6 位数字。",
        "error_cpv": "以下不是 CPV 代码：{codes}。请填写 8 位数字，可带校验位。",
        "error_too_many_codes": "最多 {limit} 个代码。",
        "error_keywords": "最多 {limit} 个关键词，每个不超过 {length} 个字符。",
        "error_description": "最多 {limit} 个字符。",
        "error_list": "请提供文本列表或一段文本。",
        "error_text": "请提供一段文本。",
    },
}


@dataclass(frozen=True)
class FieldError:
    """Why a field was refused: a ``PROFILE_LABELS`` key (``error_<key>``) and its placeholders."""

    key: str
    args: Mapping[str, object] = field(default_factory=dict)

    def message(self, language: str) -> str:
        labels = PROFILE_LABELS.get(language, PROFILE_LABELS["en"])
        return labels[f"error_{self.key}"].format_map(dict(self.args))


@dataclass(frozen=True)
class ProfileEdit:
    """What the form asks to change: each field None when it was not sent (then it is not changed)."""

    codes: Mapping[CodeScheme, list[Classification]] = field(default_factory=dict)
    keywords: list[str] | None = None
    descriptions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CodeView:
    scheme: str
    code: str
    title: str


def form_values(profile: SupplierProfile) -> dict[str, str]:
    """The form's fields pre-filled from a profile: one code or keyword per line."""
    values = {
        name: "\n".join(_written(c) for c in profile.codes if c.scheme == scheme)
        for name, scheme in CODE_FIELDS.items()
    }
    values["keywords"] = "\n".join(profile.keywords)
    for lang in DESCRIPTION_LANGUAGES:
        values[f"description_{lang}"] = profile.description.get(lang, "")
    return values


def _written(c: Classification) -> str:
    return f"{c.code}-{c.check_digit}" if c.check_digit else c.code


def code_views(profile: SupplierProfile, titles: CodeTitles) -> list[CodeView]:
    """Every code of the profile with its title: the profile's own description of it, else the code list's (the
    emails' rule, ``rendering.code_lines``)."""
    return [
        CodeView(
            (c.scheme_name or c.scheme.value) if c.scheme == CodeScheme.OTHER else c.scheme.value,
            _written(c),
            c.description or titles.get((c.scheme, c.code.split("-")[0]), ""),
        )
        for c in profile.codes
    ]


def _items(value: object) -> list[str] | None:
    """Text (one item per line or comma separated, Chinese commas too) or a JSON list of texts, stripped and
    without blanks or repeats; None if it is neither."""
    if isinstance(value, str):
        parts: Iterable[object] = _SPLIT.split(value)
    elif isinstance(value, list):
        parts = value
    else:
        return None
    out: dict[str, None] = {}
    for part in parts:
        if not isinstance(part, str):
            return None
        if part.strip():
            out.setdefault(part.strip(), None)
    return list(out)


def _codes(scheme: CodeScheme, items: list[str], current: SupplierProfile) -> tuple[list[Classification], list[str]]:
    """The items as codes of ``scheme`` (a code already in the profile keeps its title and check digit), and the
    items that are not codes of that scheme."""
    held = {(c.scheme, c.code): c for c in current.codes}
    codes: dict[str, Classification] = {}
    bad: list[str] = []
    for item in items:
        read = read_code(scheme, item)
        if read is None:
            bad.append(item)
            continue
        parsed = Classification(scheme=scheme, code=read[0], check_digit=read[1])
        kept = held.get((scheme, parsed.code))
        if kept is not None and parsed.check_digit in (None, kept.check_digit):
            parsed = kept
        codes.setdefault(parsed.code, parsed)
    return list(codes.values()), bad


def read_edit(form: Mapping[str, object], current: SupplierProfile) -> tuple[ProfileEdit | None, dict[str, FieldError]]:
    """The change asked by the form's fields (text from a browser's form, lists or text from JSON), or the fields
    that are not valid, every one of them at once."""
    errors: dict[str, FieldError] = {}
    codes: dict[CodeScheme, list[Classification]] = {}
    for name, scheme in CODE_FIELDS.items():
        if name not in form:
            continue
        items = _items(form[name])
        if items is None:
            errors[name] = FieldError("list")
            continue
        parsed, bad = _codes(scheme, items, current)
        if bad:
            errors[name] = FieldError(name, {"codes": ", ".join(bad)})
        elif len(parsed) > MAX_CODES:
            errors[name] = FieldError("too_many_codes", {"limit": MAX_CODES})
        else:
            codes[scheme] = parsed
    keywords: list[str] | None = None
    if "keywords" in form:
        keywords = _items(form["keywords"])
        if keywords is None:
            errors["keywords"] = FieldError("list")
        elif len(keywords) > MAX_KEYWORDS or any(len(k) > MAX_KEYWORD_LENGTH for k in keywords):
            errors["keywords"] = FieldError("keywords", {"limit": MAX_KEYWORDS, "length": MAX_KEYWORD_LENGTH})
    descriptions: dict[str, str] = {}
    for lang in DESCRIPTION_LANGUAGES:
        name = f"description_{lang}"
        if name not in form:
            continue
        text = form[name]
        if not isinstance(text, str):
            errors[name] = FieldError("text")
        elif len(text.strip()) > MAX_DESCRIPTION_LENGTH:
            errors[name] = FieldError("description", {"limit": MAX_DESCRIPTION_LENGTH})
        else:
            # Browsers send a text area's line breaks as CR LF: kept as the supplier wrote them, in one form.
            descriptions[lang] = text.replace("\r\n", "\n").strip()
    if errors:
        return None, errors
    return ProfileEdit(codes, keywords, descriptions), {}


def apply_edit(current: SupplierProfile, edit: ProfileEdit) -> SupplierProfile:
    """``current`` with the edited fields replaced and every other one as it was (names, emails, countries,
    certifications, awards, preferences, codes of schemes the form does not hold, other languages' descriptions).
    An empty description removes that language's."""
    update: dict[str, Any] = {}
    if edit.codes:
        # Each scheme's codes stay where the first of them was, so an unchanged list compares equal.
        codes: list[Classification] = []
        placed: set[CodeScheme] = set()
        for c in current.codes:
            if c.scheme in edit.codes:
                if c.scheme not in placed:
                    codes.extend(edit.codes[c.scheme])
                    placed.add(c.scheme)
            else:
                codes.append(c)
        for scheme, new in edit.codes.items():
            if scheme not in placed:
                codes.extend(new)
        update["codes"] = codes
    if edit.keywords is not None:
        update["keywords"] = edit.keywords
    if edit.descriptions:
        description = dict(current.description)
        for lang, text in edit.descriptions.items():
            if text:
                description[lang] = text
            else:
                description.pop(lang, None)
        update["description"] = description
    # Validated again as a whole: the contract stays the judge of a profile the matcher will be sent.
    return SupplierProfile.model_validate({**current.model_dump(), **update})


def changed_fields(before: SupplierProfile, after: SupplierProfile) -> list[str]:
    """The profile fields that differ (``codes``, ``keywords``, ``description``)."""
    return [name for name in ("codes", "keywords", "description") if getattr(before, name) != getattr(after, name)]


def version_of(profile: SupplierProfile) -> str:
    """The profile's version as the form carries it: the matcher's stamp of its last save (``updated_at``)."""
    return profile.updated_at.isoformat() if profile.updated_at is not None else ""

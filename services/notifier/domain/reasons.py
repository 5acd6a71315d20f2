"""The "why it matched" lines of an email, in the supplier's language and voice, from the reason codes and args the
matcher puts on each score component (``contracts.REASON_CODES``). Pure. Levels arrive named in the args
(``level``: ``family``, ``class``...) and are only translated here: the matcher alone decides a code's level."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date

from contracts import REASON_CODES, CodeScheme, ScoreComponent, ShortlistEntry, TenderNotice
from contracts.codes import LEVEL_NAMES
from contracts.shortlist import ADJUSTMENT_CODES
from services.notifier.domain.text import header_safe

#: A code's title by scheme and code (8 digits for UNSPSC and CPV, without a check digit).
CodeTitles = Mapping[tuple[CodeScheme, str], str]

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
        "code_suggested": "suggested from your description: {scheme} {supplier_code}{supplier_code_title}{for_notice}",
        "code_notice_suggested": "{scheme} {code}{code_title}, suggested from the notice’s text, {near_yours}",
        "code_crosswalk": "{scheme} {code}{code_title} corresponds to your {supplier_scheme} "
        "{supplier_code}{supplier_code_title} ({percent}% alike)",
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
        "meaning_close": "your “{phrase}” is close in meaning to the notice’s “{notice_words}”",
        "supplier_refused": "you said this notice ({notice_id}) is not relevant for you, so it ranks you lower",
        "supplier_refused_similar": "you said a notice like this one ({notice_id}) was not relevant for you, so this "
        "one ranks you lower",
    },
    "zh-Hans": {
        "code_exact": "{scheme} {code}{code_title}是您登记的类别之一",
        "code_near": "{scheme} {code}{code_title}与您登记的{level} {supplier_code}{supplier_code_title}仅差一级",
        "code_shared_level": "{scheme} {code}{code_title}属于您登记的{level} {supplier_code}{supplier_code_title}",
        "code_none": "您登记的类别与 {scheme} {code}{code_title}均无关联",
        "code_suggested": "根据您的描述推荐的类别：{scheme} {supplier_code}{supplier_code_title}{for_notice}",
        "code_notice_suggested": "根据公告内容推荐的类别 {scheme} {code}{code_title}{near_yours}",
        "code_crosswalk": "{scheme} {code}{code_title}对应您登记的 {supplier_scheme} "
        "{supplier_code}{supplier_code_title}（相似度 {percent}%）",
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
        "meaning_close": "您的“{phrase}”与公告中的“{notice_words}”意思相近",
        "supplier_refused": "您曾表示此公告（{notice_id}）与您无关，因此您在此公告中的排名有所降低",
        "supplier_refused_similar": "您曾表示类似公告（{notice_id}）与您无关，因此您在此公告中的排名有所降低",
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
        # a suggested code against the other side's: said once when both are the same code
        "for_notice": ", for the notice’s {code}{code_title}",
        "near_yours": "is close to your {supplier_code}{supplier_code_title}",
        "is_yours": "is one of your codes",
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
        "for_notice": "，对应公告的 {code}{code_title}",
        "near_yours": "与您登记的 {supplier_code}{supplier_code_title}相近",
        "is_yours": "是您登记的类别之一",
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
    # A supplier's code of the other scheme (the CPV <-> UNSPSC crosswalk) names its own scheme.
    supplier_scheme = _text(args["supplier_scheme"]) if "supplier_scheme" in names else scheme
    if "supplier_scheme" in names and supplier_scheme not in {"UNSPSC", "CPV"}:
        raise _BadArgs
    for name in names:
        value = args[name]
        if name in _REASON_COUNTS:
            n = _count(value)
            values[name], values[f"{name}_s"] = n, "" if n == 1 else "s"
        elif name in {"scheme", "supplier_scheme"}:
            shown = scheme if name == "scheme" else supplier_scheme
            values[name] = _REASON_SCHEME_NAMES[language].get(shown, shown)
        elif name in {"code", "supplier_code"}:
            digits = _text(value)
            of = scheme if name == "code" else supplier_scheme
            if not (_REASON_OTHER_CODE if of == "other" else _REASON_CODE).fullmatch(digits):
                raise _BadArgs
            title = titles(_REASON_SCHEMES[of], digits)
            if len(title) > _TITLE_LIMIT:
                title = title[: _TITLE_LIMIT - 1].rstrip() + "…"
            # A level's prefix (``421322``) is written as the 8-digit code suppliers know (``42132200``).
            values[name] = digits if of == "other" or "-" in digits else digits.ljust(8, "0")
            values[f"{name}_title"] = parts["title"].format(title=title) if title else parts["no_title"]
        elif name == "level":
            level = LEVEL_NAMES[language][scheme].get(_text(value))
            if level is None:
                raise _BadArgs
            values[name] = level
        elif name == "words":
            words = [w.strip() for w in _text(value).split(",") if w.strip()]
            if not words:
                raise _BadArgs
            values[name] = parts["words"].join(words)
        elif name in {"phrase", "notice_words", "notice_id"}:
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
    if "code" in values and "supplier_code" in values:
        same = values["code"] == values["supplier_code"]
        values["for_notice"] = "" if same else parts["for_notice"].format_map(values)
        values["near_yours"] = parts["is_yours"] if same else parts["near_yours"].format_map(values)
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
        # A code without a title is followed by a space before the next Chinese word, never before a full-width comma.
        return templates[code].format_map(values).strip().replace(" ，", "，")
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
    lines = [render_reason(c, language, lookup) for c in entry.top_components(n)]
    own = own_word(entry, language)
    return [line for line in (*lines, own or "") if line.strip()]


def own_word(entry: ShortlistEntry, language: str) -> str | None:
    """The supplier's own "not relevant for me" behind the entry's adjustment, said back in its language and voice
    (``adjustment_code``: ``supplier_refused`` or ``supplier_refused_similar``); None without one, or with one this
    version cannot say (the entry's ``adjustment_reason`` is the buyer's line: never shown to a supplier)."""
    code = entry.adjustment_code
    if code not in ADJUSTMENT_CODES:
        return None
    said = ScoreComponent(name="feedback", score=0, weight=0, contribution=0, reason="", reason_code=code,
                          reason_args=entry.adjustment_args)  # fmt: skip
    return render_reason(said, language) or None

"""The buyer pages' words (sign-in, notice list, notice with its shortlist, a refused mark) in English and
Simplified Chinese, and which of the two a page is in: the registration page's mechanism (``register.page_language``:
``?lang=``, else Accept-Language), with the choice made by the page's switch kept in a cookie for the ``/ui`` pages
(a buyer who switched once does not switch on every page). A component's reason is said in the page's language from
its data (``reason_code`` and ``reason_args``: ``BUYER_REASONS``), in the neutral voice of the English line the
matcher stores beside it (``services.matcher.domain.reasons``; a supplier's email says the same in the supplier's
voice). What the matcher writes only in English (a reason whose code has no Chinese wording, the explanation of a
mark, a filter's error) stays in its English, the buyer API's language, and is marked so."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from fastapi import Request, Response

from contracts.codes import LEVEL_NAMES
from contracts.feedback import FeedbackMark, FeedbackReason
from contracts.shortlist import ScoreComponent
from services.matcher.domain.reasons import Args, shown_args
from services.matcher.entrypoints.routers.register import page_language

#: The cookie that keeps a buyer's choice of language on the ``/ui`` pages.
LANGUAGE_COOKIE = "tb_lang"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600

BUYER_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "switch": "简体中文",
        # punctuation between the page's own words
        "colon": ": ",
        "comma": ", ",
        "semicolon": "; ",
        "stop": ".",
        "nav": "tenderbridge",
        "nav_notices": "Notices",
        "nav_api": "API",
        # sign-in
        "sign_in": "Sign in",
        "api_key": "API key",
        "cross_site": "Sign in from this page: a form on another site cannot.",
        "refusal_unknown": "unknown API key",
        "refusal_revoked": "this API key was revoked",
        "refusal_expired": "this API key expired",
        # notice list
        "notices": "Notices",
        "show": "Show",
        "open_only": "open only",
        "all_closed_too": "all, closed too",
        "status": "Status",
        "any": "any",
        "status_active": "active",
        "status_amended": "amended",
        "status_cancelled": "cancelled",
        "code_filter": "Code (any level)",
        "delivery_country": "Delivery country",
        "deadline_from": "Deadline from",
        "deadline_to": "Deadline to",
        "agency": "Agency",
        "filter": "Filter",
        "reset": "Reset",
        "bad_filters": "These filters cannot be used:",
        "count_one": "1 notice",
        "count_many": "{n} notices",
        "none_filtered": "none filtered out",
        "soonest_first": "Soonest deadline first",
        "showing": "showing {first}–{last}",
        "notice": "Notice",
        "buyer": "Buyer",
        "deadline_utc": "Deadline (UTC)",
        "none": "none",
        "past_last": "This page is past the last of the {total} notices.",
        "no_match": "No notice matches these filters.",
        "closed_hidden": "Closed notices are hidden: choose “all” to see them.",
        "previous": "← Previous",
        "next": "Next →",
        # notice page
        "version": "version",
        "deadline": "deadline",
        "reference": "Reference",
        "type": "Type",
        "published": "Published",
        "not_given": "not given",
        "deadline_title": "Deadline",
        "none_given": "none given",
        "published_offset": "published with offset {offset}",
        "estimated_value": "Estimated value",
        "procurement_method": "Procurement method",
        "delivery_countries": "Delivery countries",
        "beneficiary_countries": "Beneficiary countries",
        "suppliers_from": "Suppliers from",
        "nowhere_listed": "nowhere listed",
        "ungm_registration": "UNGM registration",
        "or_above": "{level} or above",
        "codes": "Codes",
        "description": "Description",
        "items_heading": "Items",
        "item": "Item",
        "quantity": "Quantity",
        "documents": "Documents",
        "changes": "Changes in this version",
        "not_marked": "Not marked yet",
        "reason": "Reason",
        "reason_none": "none given",
        "reason_label": "Reason why {name} is not relevant",
        "mark_label": "{mark}: {name}",
        "shortlist": "Shortlist",
        "cancelled_no_shortlist": "This notice is cancelled and had no shortlist: no supplier was matched, so nobody "
        "is told.",
        "no_shortlist_yet": "No shortlist yet: the matcher has not ranked version {version} of this notice. Reload "
        "in a moment.",
        "cancelled_told": "This notice is cancelled. These suppliers were shortlisted before and are told so:",
        "cancelled_none": "This notice is cancelled: no suppliers are matched any more, and none had been "
        "shortlisted before.",
        "older_version": "This shortlist ranks version {ranked}; version {version} has not been ranked yet.",
        "suppliers_count": "{n} suppliers",
        "generated": "generated {at}",
        "download_csv": "Download as CSV",
        "rank": "#",
        "supplier": "Supplier",
        "country": "Country",
        "score": "Score",
        "why": "Why",
        "decision": "Decision",
        "prospect": "Prospect",
        "prospect_note": ", not a registered supplier: ",
        "marks_adjustment": "Marks",
        "none_matched": "No supplier matched this notice ({algorithm}, {at})",
        "ruled_out_below": "; the ones below fitted but were ruled out",
        "ruled_out": "Ruled out",
        # a refused mark
        "not_marked_title": "Not marked",
        "form_expired": "This form expired or was not sent from this page: open the notice again and mark anew.",
        "form_unknown": "This form holds a mark or a reason the page does not offer.",
        "form_not_found": "There is no such notice, or no such supplier on its shortlist: open the notice again.",
        "back_to_notice": "Back to the notice",
        # marks, reasons and score components by their values
        "mark_invite": "invite",
        "mark_relevant": "relevant",
        "mark_not_relevant": "not relevant",
        "reason_wrong_products": "wrong products",
        "reason_too_small": "too small",
        "reason_not_eligible": "not eligible",
        "reason_other": "other",
        "component_category": "category",
        "component_text": "text",
        "component_wording": "wording",
        "component_history": "history",
        "component_buyer": "buyer",
        "component_buyer_code": "buyer code",
        "component_repeat": "repeat",
        "component_value": "value",
        "component_activity": "activity",
        "component_semantic": "semantic",
        # notice types (UNGM's "Type of notice" words)
        "type_rfq": "request for quotation (RFQ)",
        "type_rfp": "request for proposal (RFP)",
        "type_itb": "invitation to bid (ITB)",
        "type_eoi": "request for expression of interest (EOI)",
        "type_rfi": "request for information (RFI)",
        "type_consultant": "call for individual consultants",
        "type_prior_information": "prior information notice",
        "type_contract_notice": "contract notice",
        "type_other": "other",
    },
    "zh-Hans": {
        "switch": "English",
        "colon": "：",
        "comma": "，",
        "semicolon": "；",
        "stop": "。",
        "nav": "tenderbridge",
        "nav_notices": "招标公告",
        "nav_api": "API",
        "sign_in": "登录",
        "api_key": "API 密钥",
        "cross_site": "请从本页登录：其他网站上的表单无法登录。",
        "refusal_unknown": "API 密钥无效",
        "refusal_revoked": "此 API 密钥已被撤销",
        "refusal_expired": "此 API 密钥已过期",
        "notices": "招标公告",
        "show": "显示",
        "open_only": "仅显示未截止的",
        "all_closed_too": "全部（含已截止）",
        "status": "状态",
        "any": "任意",
        "status_active": "有效",
        "status_amended": "已修改",
        "status_cancelled": "已取消",
        "code_filter": "代码（任意层级）",
        "delivery_country": "交付国家",
        "deadline_from": "截止日期起",
        "deadline_to": "截止日期止",
        "agency": "机构",
        "filter": "筛选",
        "reset": "重置",
        "bad_filters": "以下筛选条件无法使用：",
        "count_one": "共 1 条公告",
        "count_many": "共 {n} 条公告",
        "none_filtered": "未筛除任何公告",
        "soonest_first": "按截止时间由近及远排列",
        "showing": "显示第 {first}–{last} 条",
        "notice": "公告",
        "buyer": "采购方",
        "deadline_utc": "截止时间（UTC）",
        "none": "无",
        "past_last": "本页已超出全部 {total} 条公告。",
        "no_match": "没有符合这些筛选条件的公告。",
        "closed_hidden": "已截止的公告未显示：选择“全部”即可查看。",
        "previous": "← 上一页",
        "next": "下一页 →",
        "version": "版本",
        "deadline": "截止",
        "reference": "编号",
        "type": "类型",
        "published": "发布时间",
        "not_given": "未提供",
        "deadline_title": "截止时间",
        "none_given": "未提供",
        "published_offset": "发布时的时区偏移为 {offset}",
        "estimated_value": "预估金额",
        "procurement_method": "采购方式",
        "delivery_countries": "交付国家",
        "beneficiary_countries": "受益国家",
        "suppliers_from": "供应商所在国家",
        "nowhere_listed": "未列出任何国家",
        "ungm_registration": "UNGM 注册级别",
        "or_above": "{level} 或以上",
        "codes": "代码",
        "description": "说明",
        "items_heading": "采购物品",
        "item": "物品",
        "quantity": "数量",
        "documents": "文件",
        "changes": "本版本的变更",
        "not_marked": "尚未标记",
        "reason": "原因",
        "reason_none": "未说明",
        "reason_label": "{name} 不相关的原因",
        "mark_label": "{mark}：{name}",
        "shortlist": "入围名单",
        "cancelled_no_shortlist": "此公告已取消，且没有入围名单：没有匹配到任何供应商，因此不会通知任何人。",
        "no_shortlist_yet": "尚无入围名单：匹配服务尚未对此公告的第 {version} 版进行排序。请稍后刷新。",
        "cancelled_told": "此公告已取消。以下供应商此前曾入围，并将收到取消通知：",
        "cancelled_none": "此公告已取消：不再匹配任何供应商，此前也没有供应商入围。",
        "older_version": "此入围名单针对第 {ranked} 版；第 {version} 版尚未排序。",
        "suppliers_count": "{n} 家供应商",
        "generated": "生成于 {at}",
        "download_csv": "下载 CSV",
        "rank": "#",
        "supplier": "供应商",
        "country": "国家",
        "score": "得分",
        "why": "理由",
        "decision": "决定",
        "prospect": "潜在供应商",
        "prospect_note": "，尚未注册：",
        "marks_adjustment": "标记",
        "none_matched": "没有供应商与此公告匹配（{algorithm}，{at}）",
        "ruled_out_below": "；下列供应商符合条件但已被排除",
        "ruled_out": "已排除",
        "not_marked_title": "未标记",
        "form_expired": "此表单已过期，或并非从本页提交：请重新打开公告后再标记。",
        "form_unknown": "此表单包含本页未提供的标记或原因。",
        "form_not_found": "没有此公告，或其候选名单中没有此供应商：请重新打开公告。",
        "back_to_notice": "返回公告",
        "mark_invite": "邀请",
        "mark_relevant": "相关",
        "mark_not_relevant": "不相关",
        "reason_wrong_products": "产品不符",
        "reason_too_small": "规模太小",
        "reason_not_eligible": "不符合资格",
        "reason_other": "其他",
        "component_category": "类别",
        "component_text": "文本",
        "component_wording": "措辞",
        "component_history": "中标记录",
        "component_buyer": "采购方",
        "component_buyer_code": "采购方代码",
        "component_repeat": "重复中标",
        "component_value": "金额",
        "component_activity": "活跃度",
        "component_semantic": "语义",
        "type_rfq": "询价（RFQ）",
        "type_rfp": "征求建议书（RFP）",
        "type_itb": "招标邀请（ITB）",
        "type_eoi": "征集意向书（EOI）",
        "type_rfi": "信息征询（RFI）",
        "type_consultant": "个人顾问招聘",
        "type_prior_information": "预先信息公告",
        "type_contract_notice": "合同公告",
        "type_other": "其他",
    },
}


#: How a Chinese line names a scheme: UNSPSC and CPV as they are, a code of another scheme ("code" in English) 代码.
_ZH_SCHEMES = {"code": "代码"}


def _zh_level(a: Mapping[str, object]) -> str:
    """The level the args name in English (``contracts.shortlist.REASON_CODES``), in Chinese."""
    return LEVEL_NAMES["zh-Hans"][str(a["scheme"])][str(a["level"])]


def _zh_last(a: Mapping[str, object]) -> str:
    return f"，最近一次于 {a['last']}" if a["last"] else ""


#: The buyer's line in Chinese for each reason code, from its args as ``shown_args`` writes them (8-digit codes):
#: the same facts as the English line of ``services.matcher.domain.reasons``, in the same neutral voice. A code
#: missing here, or args that do not fit, shows the stored English line instead.
BUYER_REASONS: dict[str, dict[str, Callable[[Args], str]]] = {
    "zh-Hans": {
        "code_exact": lambda a: f"{a['scheme']} {a['code']} 是该供应商登记的代码之一",
        "code_near": lambda a: (
            f"{a['scheme']} {a['code']} 与该供应商登记的{_zh_level(a)} {a['supplier_code']} 仅差一级"
        ),
        "code_shared_level": lambda a: (
            f"{a['scheme']} {a['code']} 属于该供应商登记的{_zh_level(a)} {a['supplier_code']}"
        ),
        "code_none": lambda a: f"与 {a['scheme']} {a['code']} 没有共同的代码",
        "code_suggested": lambda a: (
            f"根据供应商的描述推荐（其未登记代码）：{a['scheme']} {a['supplier_code']}"
            + ("" if a["supplier_code"] == a["code"] else f"，接近 {a['scheme']} {a['code']}")
        ),
        "code_notice_suggested": lambda a: (
            f"{a['scheme']} {a['code']}（根据公告内容推荐，公告未列代码）"
            + (
                "是该供应商登记的代码之一"
                if a["supplier_code"] == a["code"]
                else f"与该供应商登记的 {a['scheme']} {a['supplier_code']} 相近"
            )
        ),
        "code_crosswalk": lambda a: (
            f"{a['scheme']} {a['code']} ≈ 该供应商登记的 {a['supplier_scheme']} {a['supplier_code']}"
            f"（CPV-UNSPSC 对照表，相似度 {a['percent']}%）"
        ),
        "words_shared": lambda a: (
            "企业资料提到了 " + "、".join(w.strip() for w in str(a["words"]).split(",") if w.strip())
        ),
        "words_none": lambda a: "与企业资料没有相同的词",
        "wording_close": lambda a: (
            f"标题{'包含' if a['percent'] == 100 else '接近包含'}该供应商的表述“{a['phrase']}”"
            f"（相似度 {a['percent']}%）"
        ),
        "history": lambda a: (
            f"在 {a['scheme']} {a['code']} 下中标 {a['awards']} 次，所属上级类别共 {a['family_awards']} 次{_zh_last(a)}"
        ),
        "buyer_awards": lambda a: f"曾 {a['awards']} 次中标该采购方的合同（其中同类别 {a['family_awards']} 次）",
        "buyer_code_awards": lambda a: f"曾 {a['awards']} 次中标该采购方同一代码的合同",
        "repeat": lambda a: f"此前已 {a['times']} 次中标同样的合同（其中来自该采购方 {a['from_buyer']} 次）",
        "activity": lambda a: f"累计中标 {a['awards']} 次{_zh_last(a)}",
        "value_close": lambda a: "预估金额与该供应商通常中标的合同金额相近",
        "value_unlike": lambda a: "预估金额与该供应商通常中标的合同金额差异较大",
        "value_unknown": lambda a: "没有可比较的合同金额",
        "meaning_close": lambda a: f"该供应商的“{a['phrase']}”与“{a['notice_words']}”意思相近",
    },
}


def reason_line(component: ScoreComponent, language: str) -> tuple[str, str]:
    """A component's reason on a buyer page in ``language``, and the language it is actually in: the Chinese line
    from its code and args, or the stored English line (``component.reason``) for a code without a Chinese wording,
    none, or args that do not fit (a shortlist from another producer version never breaks the page)."""
    render = BUYER_REASONS.get(language, {}).get(component.reason_code or "")
    if render is None:
        return component.reason, "en"
    args = shown_args(component.reason_args)
    if "scheme" in args:
        args = {**args, "scheme": _ZH_SCHEMES.get(str(args["scheme"]), args["scheme"])}
    try:
        return render(args), language
    except (KeyError, TypeError, ValueError):
        return component.reason, "en"


def ui_language(request: Request, asked: str | None = None) -> str:
    """A buyer page's language: ``asked`` (a form's ``lang``) or ``?lang=``, else the one the switch chose before
    (``LANGUAGE_COOKIE``), else Accept-Language (``register.page_language``)."""
    chosen = asked or request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return page_language(chosen, request.headers.get("accept-language", ""))


def keep_language(request: Request, response: Response, language: str) -> Response:
    """Remember a language asked for with ``?lang=`` (the switch) for the next ``/ui`` pages."""
    if request.query_params.get("lang") == language and request.cookies.get(LANGUAGE_COOKIE) != language:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=LANGUAGE_COOKIE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/ui",
        )
    return response


def page_words(request: Request, language: str, path: str | None = None) -> dict[str, object]:
    """What every buyer template gets for its language: ``lang``, the words ``t``, ``other`` language, the
    ``switch_link`` (this page, ``path`` as the browser asked for it, in the other language, its query kept), the
    words of the marks and their reasons, and ``why``: a component's reason line and its language (``reason_line``)."""
    other = "en" if language == "zh-Hans" else "zh-Hans"
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", other)]
    return {
        "lang": language,
        "t": BUYER_TEXTS[language],
        "other": other,
        "switch_link": f"{path or request.url.path}?{urlencode(query)}",
        "mark_words": {m: BUYER_TEXTS[language][f"mark_{m.value}"] for m in FeedbackMark},
        "reason_words": {r: BUYER_TEXTS[language][f"reason_{r.value}"] for r in FeedbackReason},
        "why": lambda component: reason_line(component, language),
    }

"""The pages of the unsubscribe, preferences and confirmation flows: their labels (en / zh-Hans) and rendering, over
the same packaged templates as the emails. Pure."""

from __future__ import annotations

from contracts import SupplierProfile
from services.notifier.domain.rendering import language_of, supplier_name, template_env

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
        "nav_preferences": "Alert preferences",
        "nav_profile": "Matching profile",
        "confirmed_next": "Check what you are matched on, or change how often alerts come:",
        "not_relevant_title": "Not relevant for me",
        "not_relevant_question": "Tell us that tender {notice_id} from {buyer} does not fit {name}?",
        "not_relevant_why": "This helps tenderbridge send you fewer tenders like it. Nothing else changes: you keep "
        "receiving alerts.",
        "not_relevant_reason": "Why not? (optional)",
        "reason_none": "I would rather not say",
        "reason_wrong_products": "We do not make or supply these products",
        "reason_too_small": "We are too small for this tender",
        "reason_not_eligible": "We are not eligible (country, registration, certificates)",
        "reason_other": "Another reason",
        "not_relevant_button": "Yes, this tender is not for us",
        "not_relevant_done_title": "Thank you",
        "not_relevant_done_text": "We noted that tender {notice_id} from {buyer} does not fit {name}.",
        "not_relevant_unavailable": "Your answer could not be recorded just now. Please try again in a few minutes.",
        "error_reason": "Choose one of the reasons, or none.",
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
        "nav_preferences": "提醒设置",
        "nav_profile": "匹配资料",
        "confirmed_next": "查看您的匹配资料，或修改提醒频率：",
        "not_relevant_title": "与我无关",
        "not_relevant_question": "告知我们 {buyer} 的招标 {notice_id} 不适合 {name}？",
        "not_relevant_why": "这有助于 tenderbridge 减少向您发送类似的招标。其他不变：您仍会收到提醒。",
        "not_relevant_reason": "原因（可选）",
        "reason_none": "不便说明",
        "reason_wrong_products": "我们不生产或供应这些产品",
        "reason_too_small": "对我们来说此招标规模过大",
        "reason_not_eligible": "我们不符合资格（国家、注册、证书）",
        "reason_other": "其他原因",
        "not_relevant_button": "是的，此招标不适合我们",
        "not_relevant_done_title": "谢谢",
        "not_relevant_done_text": "我们已记录：{buyer} 的招标 {notice_id} 不适合 {name}。",
        "not_relevant_unavailable": "暂时无法记录您的回答，请几分钟后再试。",
        "error_reason": "请选择一个原因，或不选。",
    },
}


#: The page languages, each named in its own language (the switch of a page that has no supplier yet).
PAGE_LANGUAGES = (("en", "English"), ("zh-Hans", "简体中文"))


def render_page(
    name: str,
    profile: SupplierProfile | None,
    *,
    language: str | None = None,
    here: str = "",
    pages: tuple[str, str] | None = None,
    **context: object,
) -> str:
    """An HTML page of the supplier's flows, in the supplier's language; without a supplier, in ``language`` (the
    reader's choice, else English) with a switch to the other language when ``here`` (the page's own signed path
    and query) is given. ``pages``: the signed links of the supplier's preferences and profile pages, for the header."""
    lang = language_of(profile) if profile is not None else (language if language in PAGE_LABELS else "en")
    # The name someone typed, shown as the emails show it (one bounded line, URLs inert): the confirmation page is
    # where a stranger's address lands.
    display = supplier_name(profile) if profile is not None else ""
    joiner = "&" if "?" in here else "?"
    switch = [(code, label, f"{here}{joiner}lang={code}") for code, label in PAGE_LANGUAGES] if here else []
    t = PAGE_LABELS[lang]
    html: str = (
        template_env()
        .get_template(f"page_{name}.html.j2")
        .render(
            t=t,
            lang=lang,
            name=display,
            profile=profile,
            switch=switch if profile is None else [],
            nav=[(t["nav_preferences"], pages[0]), (t["nav_profile"], pages[1])] if pages else [],
            **context,
        )
    )
    return html

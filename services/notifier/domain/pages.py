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
    # The name someone typed, shown as the emails show it (one bounded line, URLs inert): the confirmation page is
    # where a stranger's address lands.
    display = supplier_name(profile) if profile is not None else ""
    html: str = (
        template_env()
        .get_template(f"page_{name}.html.j2")
        .render(t=PAGE_LABELS[language], lang=language, name=display, profile=profile, **context)
    )
    return html

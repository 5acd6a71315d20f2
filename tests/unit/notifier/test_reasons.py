"""Why it matched: every catalog reason in English and Simplified Chinese, in the supplier's voice, with code titles;
the matcher's line when a reason cannot be rendered; escaped in HTML; in every kind of email."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime

import pytest

from contracts import (
    REASON_CODES,
    AlertFrequency,
    Classification,
    CodeScheme,
    NotificationKind,
    ScoreComponent,
    ShortlistEntry,
)
from contracts.codes import LEVEL_NAMES
from services.notifier.domain.reasons import REASON_TEMPLATES, reason_lines, render_reason
from services.notifier.domain.rendering import Envelope, Links, build_message, render_digest, render_notice_email
from services.notifier.domain.rules import DigestItem, digest_sections
from tests.unit.notifier.factories import NOW, notice, profile, shortlist
from tests.unit.notifier.rig import Rig, unit_settings

pytestmark = pytest.mark.unit

LINKS = Links(
    "http://127.0.0.1:8000/ui/notices/{notice_id}",
    "http://127.0.0.1:8002/unsubscribe?token=abc.def",
    "http://127.0.0.1:8002/preferences?token=ghi.jkl",
)
LANGUAGES = ("en", "zh-Hans")

#: A value for every arg name of the catalog, each distinct so that each can be found in the line.
SAMPLE_ARGS: dict[str, str | int | float] = {
    "scheme": "UNSPSC",
    "code": "42132203",
    "supplier_code": "421322",
    "supplier_scheme": "CPV",
    "level": "class",
    "words": "nitrile, latex",
    "phrase": "examination gloves powder free",
    "notice_words": "Nitrile examination gloves",
    "percent": 87,
    "awards": 3,
    "family_awards": 11,
    "times": 4,
    "from_buyer": 2,
    "last": "2024-03-05",
    "notice_id": "ungm:9",
}


def component(
    code: str | None, args: dict[str, str | int | float] | None = None, *, reason: str = "MATCHER LINE", c: float = 0.5
) -> ScoreComponent:
    return ScoreComponent(
        name="x", score=0.5, weight=1.0, contribution=c, reason=reason, reason_code=code, reason_args=args or {}
    )


def entry_with(*components: ScoreComponent) -> ShortlistEntry:
    return ShortlistEntry(
        rank=1, supplier_id="sup-1", supplier_name="sup-1", total_score=0.9, components=list(components)
    )


def args_of(code: str, **overrides: str | int | float) -> dict[str, str | int | float]:
    return {name: SAMPLE_ARGS[name] for name in REASON_CODES[code]} | overrides


def test_every_catalog_code_has_a_template_in_both_languages_and_nothing_more() -> None:
    for language in LANGUAGES:
        assert set(REASON_TEMPLATES[language]) == set(REASON_CODES), language


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("code", sorted(REASON_CODES))
def test_every_catalog_code_renders_with_all_its_args(code: str, language: str) -> None:
    missing = [name for name in REASON_CODES[code] if name not in SAMPLE_ARGS]
    assert not missing, f"give the new catalog args {missing} a sample here and a rule in _reason_values"
    args = args_of(code)
    line = render_reason(component(code, args), language)
    assert line != "MATCHER LINE"
    assert "{" not in line
    assert "}" not in line
    assert line == line.strip()
    allowed = []
    for name, value in args.items():
        if name == "level":
            shown = LEVEL_NAMES[language]["UNSPSC"][str(value)]
            assert shown in line
            if language == "zh-Hans":
                assert str(value) not in line  # translated, not the English level name
        elif name == "words":
            words = [w.strip() for w in str(value).split(",")]
            assert all(w in line for w in words)
            allowed += words
        else:
            assert str(value) in line, name
            allowed.append(str(value))
    if language == "zh-Hans":
        rest = line
        for token in sorted(allowed, key=len, reverse=True):
            rest = rest.replace(token, "")
        assert not re.search(r"[A-Za-z]", rest), rest
        assert re.search(r"[\u4e00-\u9fff]", rest)


@pytest.mark.parametrize(
    ("code", "args", "en", "zh"),
    [
        (
            "code_exact",
            {"scheme": "UNSPSC", "code": "42132203"},
            "UNSPSC 42132203 is one of your codes",
            "UNSPSC 42132203 是您登记的类别之一",
        ),
        (
            "code_near",
            {"scheme": "UNSPSC", "code": "42132203", "level": "class", "supplier_code": "421322"},
            "UNSPSC 42132203 is one level from your class 42132200",
            "UNSPSC 42132203 与您登记的小类 42132200 仅差一级",
        ),
        (
            "code_shared_level",
            {"scheme": "CPV", "code": "3314142", "level": "group", "supplier_code": "331"},
            "CPV 33141420 is in your group 33100000",
            "CPV 33141420 属于您登记的组别 33100000",
        ),
        (
            "history",
            {"awards": 1, "scheme": "UNSPSC", "code": "42132203", "family_awards": 5, "last": ""},
            "you have won 1 contract in UNSPSC 42132203 and 5 in its family",
            "您在 UNSPSC 42132203 下中标过 1 次，所属上级类别共 5 次",
        ),
        (
            "activity",
            {"awards": 12, "last": "2024-05-01"},
            "you have won 12 contracts, the last on 2024-05-01",
            "您累计中标 12 次，最近一次中标于 2024-05-01",
        ),
        (
            "wording_close",
            {"phrase": "nitrile gloves", "percent": 86.6},
            "the title nearly contains your wording “nitrile gloves” (87% similar)",
            "招标标题接近包含您的表述“nitrile gloves”（相似度 87%）",
        ),
        (
            "wording_close",
            {"phrase": "gloves", "percent": 100},
            "the title contains your wording “gloves”",
            "招标标题包含您的表述“gloves”",
        ),
        (
            "words_shared",
            {"words": "nitrile,gloves, "},
            "your profile mentions nitrile, gloves",
            "您的企业资料提到了 nitrile、gloves",
        ),
        (
            "code_suggested",
            {"scheme": "UNSPSC", "code": "42132205", "supplier_code": "42132205"},
            "suggested from your description: UNSPSC 42132205",
            "根据您的描述推荐的类别：UNSPSC 42132205",
        ),
        (
            "code_suggested",
            {"scheme": "UNSPSC", "code": "42132203", "supplier_code": "421322"},
            "suggested from your description: UNSPSC 42132200, for the notice’s 42132203",
            "根据您的描述推荐的类别：UNSPSC 42132200，对应公告的 42132203",
        ),
        (
            "code_notice_suggested",
            {"scheme": "UNSPSC", "code": "42132203", "supplier_code": "42132203"},
            "UNSPSC 42132203, suggested from the notice’s text, is one of your codes",
            "根据公告内容推荐的类别 UNSPSC 42132203 是您登记的类别之一",
        ),
        (
            "code_notice_suggested",
            {"scheme": "UNSPSC", "code": "42132203", "supplier_code": "421322"},
            "UNSPSC 42132203, suggested from the notice’s text, is close to your 42132200",
            "根据公告内容推荐的类别 UNSPSC 42132203 与您登记的 42132200 相近",
        ),
        ("value_unknown", {}, "there is no value to compare with the contracts you usually win", None),
        (
            "meaning_close",
            {"phrase": "医用丁腈检查手套", "notice_words": "Nitrile examination gloves, powder-free"},
            "your “医用丁腈检查手套” is close in meaning to the notice’s “Nitrile examination gloves, powder-free”",
            "您的“医用丁腈检查手套”与公告中的“Nitrile examination gloves, powder-free”意思相近",
        ),
    ],
)
def test_lines_in_the_supplier_voice(code: str, args: dict[str, str | int | float], en: str, zh: str | None) -> None:
    c = component(code, args)
    assert render_reason(c, "en") == en
    if zh is not None:
        assert render_reason(c, "zh-Hans") == zh


def test_code_titles_come_from_the_notice_then_the_code_list_at_the_level_of_the_code() -> None:
    titles = {
        (CodeScheme.UNSPSC, "42132200"): "Medical gloves and accessories",
        (CodeScheme.UNSPSC, "42132203"): "Medical exam gloves",
        (CodeScheme.CPV, "33140000"): "Medical consumables",
    }
    near = component("code_near", {"scheme": "UNSPSC", "code": "42132203", "level": "class", "supplier_code": "421322"})
    assert render_reason(near, "en", titles) == (
        "UNSPSC 42132203 (Medical exam gloves) is one level from your class 42132200 (Medical gloves and accessories)"
    )
    assert render_reason(near, "zh-Hans", titles) == (
        "UNSPSC 42132203（Medical exam gloves）与您登记的小类 42132200（Medical gloves and accessories）仅差一级"
    )
    cpv = component("code_exact", {"scheme": "CPV", "code": "3314"})
    assert render_reason(cpv, "en", titles) == "CPV 33140000 (Medical consumables) is one of your codes"
    # The notice's own description of its code (as in the email's code lines) wins over the code list's title.
    (line,) = reason_lines(entry_with(near), "en", notice(), titles)
    assert line.startswith("UNSPSC 42132203 (Medical gloves) is one level from your class 42132200 (Medical gloves and")
    # No title known: no empty brackets.
    assert "()" not in render_reason(near, "en", {})
    assert "（" not in render_reason(near, "zh-Hans", {})


def test_a_code_of_another_scheme_reads_as_a_code_in_both_languages_with_the_notices_title() -> None:
    tarps = Classification(scheme=CodeScheme.OTHER, code="X-17", scheme_name="CUCOP", description="Lonas")
    exact = component("code_exact", {"scheme": "other", "code": "X-17"})
    assert render_reason(exact, "en") == "code X-17 is one of your codes"
    assert render_reason(exact, "zh-Hans") == "代码 X-17 是您登记的类别之一"
    tender = notice().model_copy(update={"classifications": [tarps]})
    (line,) = reason_lines(entry_with(exact), "zh-Hans", tender)
    assert line == "代码 X-17（Lonas）是您登记的类别之一"
    history = component("history", {"awards": 2, "scheme": "other", "code": "X-17", "family_awards": 2, "last": ""})
    assert render_reason(history, "en") == "you have won 2 contracts in code X-17 and 2 in its family"


@pytest.mark.parametrize(
    ("code", "args"),
    [
        (None, {}),
        ("code_teleported", {"scheme": "UNSPSC", "code": "42132203"}),  # a newer producer's code
        ("code_exact", {"scheme": "UNSPSC"}),  # an arg missing
        ("code_exact", {"scheme": "UNSPSC", "code": 42132203}),  # a code as a number
        ("code_exact", {"scheme": "UNSPSC", "code": "gloves"}),
        ("code_exact", {"scheme": "GS1", "code": "42132203"}),
        ("code_near", {"scheme": "UNSPSC", "code": "42132203", "level": "division", "supplier_code": "42"}),
        ("code_near", {"scheme": "UNSPSC", "code": "42132203", "level": "", "supplier_code": "42"}),
        ("activity", {"awards": "3", "last": "2024-05-01"}),
        ("activity", {"awards": 2.5, "last": "2024-05-01"}),
        ("activity", {"awards": -1, "last": "2024-05-01"}),
        ("activity", {"awards": 3, "last": "last spring"}),
        ("activity", {"awards": 3, "last": 20240501}),
        ("wording_close", {"phrase": "gloves", "percent": 140}),
        ("wording_close", {"phrase": "", "percent": 90}),
        ("words_shared", {"words": " , "}),
        ("meaning_close", {"phrase": "丁腈手套", "notice_words": " "}),
        ("meaning_close", {"phrase": "丁腈手套"}),
        ("code_exact", {"scheme": "other", "code": "<b>X-17</b>"}),  # not a code as published
        ("code_exact", {"scheme": "other", "code": "X" * 41}),
        ("code_near", {"scheme": "other", "code": "X-17", "level": "class", "supplier_code": "X"}),  # no levels
    ],
)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_matcher_line_is_shown_when_the_reason_cannot_be_rendered(
    code: str | None, args: dict[str, str | int | float], language: str
) -> None:
    assert render_reason(component(code, args, reason="UNSPSC 42132203 is one of the supplier's codes"), language) == (
        "UNSPSC 42132203 is one of the supplier's codes"
    )


def test_extra_args_are_ignored_and_an_unknown_language_gets_english() -> None:
    c = component("code_exact", {"scheme": "UNSPSC", "code": "42132203", "since": "2020"})
    assert render_reason(c, "en") == "UNSPSC 42132203 is one of your codes"
    assert render_reason(c, "fr") == "UNSPSC 42132203 is one of your codes"


def test_top_three_contributing_reasons_in_order_of_contribution() -> None:
    e = entry_with(
        component("value_close", c=0.1),
        component("code_exact", {"scheme": "UNSPSC", "code": "42132203"}, c=0.6),
        component("words_none", c=0.0),
        component(None, reason="", c=0.5),  # an empty line from a producer is left out, not a blank bullet
        component("activity", {"awards": 2, "last": ""}, c=0.3),
        component("value_unlike", c=0.05),
    )
    assert reason_lines(e, "en") == [
        "UNSPSC 42132203 is one of your codes",
        "you have won 2 contracts",
    ]
    assert reason_lines(None, "en") == []
    # Without codes (an older producer): exactly the contract's own top reasons.
    older = entry_with(*(component(None, reason=f"line {x}", c=x) for x in (0.2, 0.0, 0.7, 0.4, 0.1)))
    assert reason_lines(older, "zh-Hans") == older.top_reasons() == ["line 0.7", "line 0.4", "line 0.2"]


def test_args_from_supplier_and_notice_text_are_escaped_in_html_only() -> None:
    hostile = entry_with(
        component("wording_close", {"phrase": "<script>alert(1)</script>", "percent": 91}, c=0.9),
        component("words_shared", {"words": "<b>gloves</b>, nitrile"}, c=0.8),
        component(None, reason="<img src=x onerror=alert(2)>", c=0.7),
    )
    for language in LANGUAGES:
        rendered = render_notice_email(
            NotificationKind.NEW_MATCH, profile(language=language), notice(), hostile, LINKS, {}
        )
        assert "<script>" not in rendered.html
        assert "<b>gloves" not in rendered.html
        assert "<img" not in rendered.html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
        assert "&lt;b&gt;gloves&lt;/b&gt;" in rendered.html
        assert "&lt;img src=x" in rendered.html
        assert "<script>alert(1)</script>" in rendered.text


def matched_entry() -> ShortlistEntry:
    return entry_with(
        component(
            "code_exact",
            {"scheme": "UNSPSC", "code": "42132203"},
            reason="UNSPSC 42132203 is one of the supplier's codes",
        ),
        component("buyer_awards", {"awards": 4, "family_awards": 2}, c=0.4, reason="4 past awards from this buyer"),
    )


ZH_LINES = ("UNSPSC 42132203（Medical gloves）是您登记的类别之一", "您曾 4 次中标该采购方的合同（其中同类别 2 次）")
EN_LINES = ("UNSPSC 42132203 (Medical gloves) is one of your codes", "you have won 4 contracts from this buyer")


@pytest.mark.parametrize("kind", [NotificationKind.NEW_MATCH, NotificationKind.AMENDMENT])
def test_a_chinese_email_shows_chinese_reasons_in_both_parts(kind: NotificationKind) -> None:
    the_notice = notice(version=2, changes=["deadline moved"]) if kind == NotificationKind.AMENDMENT else notice()
    rendered = render_notice_email(kind, profile(language="zh-Hans"), the_notice, matched_entry(), LINKS, {})
    envelope = Envelope("alerts@tenderbridge.local", "tenderbridge", ["a@example.com"], "宁波", "<m@tb>", "k")
    parsed = email.message_from_bytes(
        build_message(rendered, envelope, LINKS.unsubscribe_url, NOW).as_bytes(), policy=email.policy.default
    )
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None
    assert html is not None
    for part in (plain.get_content(), html.get_content()):
        assert "匹配原因" in part
        for line in ZH_LINES:
            assert line in part
        assert "one of the supplier's codes" not in part
        assert "past awards from this buyer" not in part
    english = render_notice_email(kind, profile(), the_notice, matched_entry(), LINKS, {})
    for part in (english.text, english.html):
        assert EN_LINES[0] in part
        assert EN_LINES[1] in part
        assert "one of the supplier's codes" not in part


def test_a_digest_shows_the_reasons_of_each_tender_in_the_supplier_language() -> None:
    soon = notice("1", title="Closing soon tender", deadline=NOW.replace(day=28))
    later = notice("2", title="Later tender", deadline=NOW.replace(month=12, day=30))
    other = entry_with(component("activity", {"awards": 7, "last": "2025-01-31"}, reason="7 past awards"))
    sections = digest_sections([DigestItem("k2", later, other), DigestItem("k1", soon, matched_entry())], NOW)
    rendered = render_digest(profile(language="zh-Hans"), sections, NOW.date(), LINKS, {})
    for part in (rendered.text, rendered.html):
        assert (
            part.index(ZH_LINES[0])
            < part.index("Later tender")
            < part.index("您累计中标 7 次，最近一次中标于 2025-01-31")
        )
        assert "past awards" not in part


def test_through_the_service_an_alert_and_a_queued_digest_item_keep_their_reasons() -> None:
    """The entry travels through the digest queue (JSON in the store) with its codes and args."""
    rig = Rig(unit_settings())
    rig.add(
        profile("now", language="zh-Hans"),
        profile("later", language="zh-Hans", frequency=AlertFrequency.DAILY_DIGEST, timezone="Asia/Shanghai"),
    )
    sl = shortlist(notice(), ["now", "later"])
    sl = sl.model_copy(
        update={"entries": [e.model_copy(update={"components": matched_entry().components}) for e in sl.entries]}
    )
    n = rig.notifier()
    n.alerts.handle_shortlist(sl)
    rig.now = datetime.fromisoformat("2026-11-26T01:00:00+00:00")  # 09:00 in Shanghai, past the digest hour
    assert n.digests.send_due_digests() == 1
    assert rig.keys_sent() == ["now|ungm:1001|1|new_match", "later|digest|2026-11-26"]
    for message in rig.mail.sent:
        for subtype in ("plain", "html"):
            body = message.get_body((subtype,))
            assert body is not None
            assert ZH_LINES[0] in body.get_content()
            assert ZH_LINES[1] in body.get_content()


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "you said a notice like this one (ungm:9) was not relevant for you, so this one ranks you lower"),
        ("zh-Hans", "您曾表示类似公告（ungm:9）与您无关，因此您在此公告中的排名有所降低"),
    ],
)
def test_the_suppliers_own_word_behind_a_lower_rank_is_said_back_in_its_language(language: str, said: str) -> None:
    entry = entry_with(component("words_shared", args_of("words_shared"))).model_copy(
        update={
            "adjustment": -0.15,
            "adjustment_reason": "BUYER LINE",
            "adjustment_code": "supplier_refused_similar",
            "adjustment_args": {"notice_id": "ungm:9"},
        }
    )
    lines = reason_lines(entry, language)
    assert lines[-1] == said
    assert len(lines) == 2


def test_a_buyers_marks_are_never_told_to_the_supplier() -> None:
    entry = entry_with(component("words_shared", args_of("words_shared"))).model_copy(
        update={"adjustment": -0.15, "adjustment_reason": "marked not relevant by this agency on this notice"}
    )
    assert len(reason_lines(entry, "en")) == 1
    unknown = entry.model_copy(update={"adjustment_code": "from_a_later_version", "adjustment_args": {}})
    assert len(reason_lines(unknown, "en")) == 1

"""Suppliers see and change what they are matched on (codes, keywords, descriptions) from the signed link in their
emails: the page in their language with the codes' titles, codes checked by the ingest rule with a message per
field, only the form's fields changed at the matcher (read, changed, stored whole), a profile changed meanwhile
refused (409), the matcher away (503), everything escaped, forged links refused."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from contracts import Classification, CodeScheme, SupplierProfile
from services.notifier.domain import profile_form, tokens
from services.notifier.service import Notifier
from tests.unit.notifier.factories import profile
from tests.unit.notifier.rig import Rig, http

pytestmark = pytest.mark.unit

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html,application/xhtml+xml"}
GLOVES = Classification(scheme=CodeScheme.UNSPSC, code="42132203", description="Medical gloves (own title)")
MASKS = Classification(scheme=CodeScheme.UNSPSC, code="42131713")
CPV_GLOVES = Classification(scheme=CodeScheme.CPV, code="33141420", check_digit="0")
CUCOP = Classification(scheme=CodeScheme.OTHER, code="25301", scheme_name="CUCOP")
TITLES = {(CodeScheme.UNSPSC, "42131713"): "Surgical masks", (CodeScheme.CPV, "33141420"): "Surgical gloves"}


def exporter(supplier_id: str = "a", language: str = "en", **update: Any) -> SupplierProfile:
    """A profile with every kind of field the page shows or must leave alone."""
    base = profile(supplier_id, language=language, countries=["AF", "KE"], digest_hour=6)
    fields: dict[str, Any] = {
        "codes": [GLOVES, MASKS, CPV_GLOVES, CUCOP],
        "keywords": ["nitrile gloves", "口罩"],
        "description": {"en": "Medical consumables", "zh-Hans": "医用耗材", "fr": "Consommables médicaux"},
        "certifications": ["ISO 13485"],
        **update,
    }
    return base.model_copy(update=fields)


def seed(rig: Rig, *profiles: SupplierProfile) -> tuple[Notifier, Any]:
    for p in profiles:
        rig.matcher.profiles[p.supplier_id] = p
        rig.profiles.put(p)
    n, client = http(rig)
    n.code_titles = TITLES
    return n, client


def url(n: Notifier, supplier_id: str = "a") -> str:
    return f"/profile?token={n.signer.token(tokens.PREFERENCES, supplier_id)}"


def version(p: SupplierProfile) -> str:
    return profile_form.version_of(p)


def post(client: Any, n: Notifier, version_: str | None, **fields: str) -> Any:
    data = {**fields, **({"version": version_} if version_ is not None else {})}
    return client.post(url(n), content=urlencode(data), headers=FORM)


def untouched(before: SupplierProfile, after: SupplierProfile) -> None:
    """Every field the form does not edit is as it was."""
    skip = {"codes", "keywords", "description", "updated_at", "set_by_supplier"}
    assert after.model_dump(exclude=skip) == before.model_dump(exclude=skip)


@pytest.mark.parametrize(
    ("language", "labels"),
    [
        ("en", ["Your matching profile", "Countries you deliver to", "Save profile", "Description (English)"]),
        ("zh-Hans", ["您的匹配资料", "供货国家", "保存资料", "描述（简体中文）"]),
    ],
)
def test_the_page_shows_what_the_supplier_is_matched_on_in_its_language(
    rig: Rig, language: str, labels: list[str]
) -> None:
    p = exporter(language=language)
    n, client = seed(rig, p)
    resp = client.get(url(n))
    assert resp.status_code == 200
    text = resp.text
    assert f'<html lang="{language}">' in text
    for label in labels:
        assert label in text
    # Codes with their titles: the profile's own, else the code list's; other schemes under their own name.
    assert "<td>UNSPSC</td><td>42132203</td><td>Medical gloves (own title)</td>" in text
    assert "<td>UNSPSC</td><td>42131713</td><td>Surgical masks</td>" in text
    assert "<td>CPV</td><td>33141420-0</td><td>Surgical gloves</td>" in text
    assert "<td>CUCOP</td><td>25301</td><td></td>" in text
    assert "AF, KE" in text
    assert "宁波医疗有限公司" in text
    assert "Consommables médicaux" in text  # a description the form does not edit is still shown
    # The form, pre-filled: one code or keyword per line, the version it was shown at.
    assert re.search(r'<textarea id="unspsc" name="unspsc"[^>]*>42132203\n42131713</textarea>', text)
    assert re.search(r'<textarea id="cpv" name="cpv"[^>]*>33141420-0</textarea>', text)
    assert ">nitrile gloves\n口罩</textarea>" in text
    assert ">医用耗材</textarea>" in text
    assert f'<input type="hidden" name="version" value="{version(p)}">' in text
    assert f'action="{url(n)}"' in text
    # Reached from the preferences page, on the same signed link.
    prefs = client.get(f"/preferences?token={n.signer.token(tokens.PREFERENCES, 'a')}").text
    assert f'<a href="{url(n)}">' in prefs
    assert f'href="/preferences?token={n.signer.token(tokens.PREFERENCES, "a")}"' in text


FIELDS = ("codes", "keywords", "description")


def test_a_save_changes_exactly_the_forms_fields_at_the_matcher(rig: Rig) -> None:
    before = exporter()
    n, client = seed(rig, before)
    rig.matcher.rematched = 7
    rig.now += timedelta(minutes=5)
    resp = post(
        client,
        n,
        version(before),
        unspsc="42132203, 4213\r\n421317\r\n42132203",
        cpv="33141420-0\n33600000",
        keywords="nitrile gloves\nexamination gloves，masks",
        description_en="  Gloves and masks\r\nsince 1998 ",
        **{"description_zh-Hans": ""},
    )
    assert resp.status_code == 200, resp.text
    assert "Your profile is saved. 7 open tender(s) were matched again." in resp.text
    assert len(rig.matcher.replaced) == 1
    stored = rig.matcher.profiles["a"]
    assert stored.updated_at == rig.now
    assert stored.codes == [
        GLOVES,  # kept whole: its own title stays
        Classification(scheme=CodeScheme.UNSPSC, code="42130000"),  # a family, padded as the matcher reads it
        Classification(scheme=CodeScheme.UNSPSC, code="42131700"),
        CPV_GLOVES,
        Classification(scheme=CodeScheme.CPV, code="33600000"),
        CUCOP,  # a scheme the form does not hold
    ]
    assert stored.keywords == ["nitrile gloves", "examination gloves", "masks"]
    assert stored.description == {"en": "Gloves and masks\nsince 1998", "fr": "Consommables médicaux"}
    untouched(before, stored)
    # The notifier uses the saved profile at once, and the page shows it with its new version.
    assert n.profiles.get("a") == stored
    assert f'name="version" value="{version(stored)}"' in resp.text
    assert ">42132203\n42130000\n42131700</textarea>" in resp.text
    # Marked as the supplier's own choice, so that a roster re-import leaves them (the matcher's merge_import).
    assert stored.set_by_supplier == dict.fromkeys(FIELDS, rig.now)
    counted = {f: n.metrics.registry.get_sample_value("notifier_profile_changes_total", {"field": f}) for f in FIELDS}
    assert counted == {"codes": 1.0, "keywords": 1.0, "description": 1.0}


def test_a_field_not_sent_is_kept_and_nothing_to_change_stores_nothing(rig: Rig) -> None:
    before = exporter()
    n, client = seed(rig, before)
    resp = post(client, n, version(before), keywords="gloves")
    assert resp.status_code == 200
    stored = rig.matcher.profiles["a"]
    assert stored.keywords == ["gloves"]
    assert (stored.codes, stored.description) == (before.codes, before.description)
    untouched(before, stored)
    same = post(client, n, version(stored), **profile_form.form_values(stored))
    assert same.status_code == 200
    assert "Nothing was changed." in same.text
    assert len(rig.matcher.replaced) == 1  # no second PUT: the matcher re-matches nothing for nothing


@pytest.mark.parametrize(
    ("language", "unspsc_error", "cpv_error"),
    [
        (
            "en",
            "Not UNSPSC codes: 12345, 4213x, 00. Use 8 digits, or 2, 4 or 6 digits.",
            "Not CPV codes: 3314142, 33141420-12. Use 8 digits, with or without the check digit.",
        ),
        (
            "zh-Hans",
            "以下不是 UNSPSC 代码：12345, 4213x, 00。请填写 8 位数字，或 2、4、6 位数字。",
            "以下不是 CPV 代码：3314142, 33141420-12。请填写 8 位数字，可带校验位。",
        ),
    ],
)
def test_invalid_codes_come_back_with_a_message_per_field_and_nothing_is_saved(
    rig: Rig, language: str, unspsc_error: str, cpv_error: str
) -> None:
    before = exporter(language=language)
    n, client = seed(rig, before)
    typed = {"unspsc": "42132203\n12345, 4213x\n00", "cpv": "3314142, 33141420-12", "keywords": "kept as typed"}
    resp = post(client, n, version(before), **typed)
    assert resp.status_code == 422
    assert f'<span id="error-unspsc" class="field-error">{unspsc_error}</span>' in resp.text
    assert f'<span id="error-cpv" class="field-error">{cpv_error}</span>' in resp.text
    tied = r'<textarea id="unspsc"[^>]*aria-describedby="hint-unspsc error-unspsc" aria-invalid="true"'
    assert re.search(tied, resp.text)
    assert 'id="error-keywords"' not in resp.text
    assert ">42132203\n12345, 4213x\n00</textarea>" in resp.text  # what was typed, to correct it
    assert ">kept as typed</textarea>" in resp.text
    assert rig.matcher.replaced == []
    assert rig.matcher.profiles["a"] == before


def test_too_long_values_are_refused(rig: Rig) -> None:
    before = exporter()
    n, client = seed(rig, before)
    resp = post(
        client,
        n,
        version(before),
        keywords="x" * (profile_form.MAX_KEYWORD_LENGTH + 1),
        description_en="y" * (profile_form.MAX_DESCRIPTION_LENGTH + 1),
        unspsc=",".join(f"42{i:06d}" for i in range(1, profile_form.MAX_CODES + 2)),
    )
    assert resp.status_code == 422
    for field in ("keywords", "description_en", "unspsc"):
        assert f'id="error-{field}"' in resp.text
    assert rig.matcher.replaced == []


def test_a_profile_changed_since_the_form_was_shown_is_not_overwritten(rig: Rig) -> None:
    before = exporter()
    n, client = seed(rig, before)
    shown_at = version(before)
    # Meanwhile the supplier changes its preferences in another window: the matcher stamps the profile anew.
    rig.now += timedelta(minutes=1)
    rig.matcher.update("a", {"digest_hour": 9})
    resp = post(client, n, shown_at, keywords="<b>new words</b>", cpv="33141420-0")
    assert resp.status_code == 409
    assert "was changed meanwhile" in resp.text
    assert "&lt;b&gt;new words&lt;/b&gt;" in resp.text  # what was typed is shown, not lost (and escaped)
    assert "<b>new words</b>" not in resp.text
    current = rig.matcher.profiles["a"]
    assert f'name="version" value="{version(current)}"' in resp.text  # the form now holds the current profile
    assert rig.matcher.replaced == []
    assert current.preferences.digest_hour == 9
    as_json = client.post(url(n), json={"keywords": ["x"], "version": shown_at})
    assert as_json.status_code == 409
    assert as_json.headers["content-type"].startswith("application/problem+json")
    assert as_json.json()["version"] == version(current)
    # Sent again from the reloaded form, it is saved.
    again = post(client, n, version(current), keywords="new words")
    assert again.status_code == 200
    assert rig.matcher.profiles["a"].keywords == ["new words"]
    assert rig.matcher.profiles["a"].preferences.digest_hour == 9


def test_matcher_down_gets_503_and_nothing_typed_is_lost(rig: Rig) -> None:
    before = exporter(language="zh-Hans")
    n, client = seed(rig, before)
    rig.matcher.down = True
    page = client.get(url(n))
    assert page.status_code == 503
    assert "暂时无法显示您的资料" in page.text
    resp = post(client, n, version(before), keywords="new words", unspsc="4213")
    assert resp.status_code == 503
    assert "暂时无法保存您的资料" in resp.text
    assert ">new words</textarea>" in resp.text
    assert ">4213</textarea>" in resp.text
    assert f'name="version" value="{version(before)}"' in resp.text
    as_json = client.post(url(n), json={"keywords": ["x"]})
    assert as_json.status_code == 503
    assert as_json.headers["content-type"].startswith("application/problem+json")
    rig.matcher.down = False
    assert rig.matcher.replaced == []
    assert rig.matcher.profiles["a"] == before
    assert n.profiles.get("a") == before


def test_everything_shown_is_escaped(rig: Rig) -> None:
    hostile = exporter(
        names={"en": "<script>alert(1)</script> & Co"},
        keywords=["</textarea><script>k()</script>"],
        description={"en": '"><img src=x onerror=d()>'},
        codes=[Classification(scheme=CodeScheme.UNSPSC, code="42132203", description="<i>gloves</i>")],
    )
    n, client = seed(rig, hostile)
    text = client.get(url(n)).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in text
    assert "&lt;/textarea&gt;&lt;script&gt;k()&lt;/script&gt;" in text
    assert "&#34;&gt;&lt;img src=x onerror=d()&gt;" in text
    assert "&lt;i&gt;gloves&lt;/i&gt;" in text
    assert not re.search(r"<(script|img|i)\b", text)
    typed = post(client, n, version(hostile), unspsc="<script>u()</script>")
    assert typed.status_code == 422
    assert "<script>" not in typed.text
    assert "&lt;script&gt;u()&lt;/script&gt;" in typed.text


def test_forged_or_wrong_tokens_get_403_and_change_nothing(rig: Rig) -> None:
    before = exporter()
    n, client = seed(rig, before)
    good = n.signer.token(tokens.PREFERENCES, "a")
    for token in (
        n.signer.token(tokens.UNSUBSCRIBE, "a"),
        "garbage",
        good[:-2] + ("xx" if not good.endswith("xx") else "yy"),
    ):
        assert client.get(f"/profile?token={token}").status_code == 403
        resp = client.post(f"/profile?token={token}", content="keywords=x", headers=FORM)
        assert resp.status_code == 403
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert client.get("/profile").status_code == 422  # no token at all
    assert rig.matcher.replaced == []


def test_a_supplier_the_matcher_does_not_know_gets_404(rig: Rig) -> None:
    n, client = seed(rig)
    assert client.get(url(n)).status_code == 404
    assert post(client, n, None, keywords="x").status_code == 404
    assert client.get(url(n), headers={"Accept": "application/json"}).status_code == 404


def test_json_clients_read_and_change_the_profile(rig: Rig) -> None:
    before = exporter()
    n, client = seed(rig, before)
    rig.matcher.rematched = 3
    shown = client.get(url(n), headers={"Accept": "application/json"})
    assert shown.status_code == 200
    view = shown.json()
    assert view["codes"][1] == {"scheme": "UNSPSC", "code": "42131713", "title": "Surgical masks"}
    assert (view["countries"], view["version"]) == (["AF", "KE"], version(before))
    resp = client.post(
        url(n),
        json={"cpv": ["33141420-0", "33600000"], "description": {"zh-Hans": "手套"}, "version": view["version"]},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["changed"], body["rematched_notices"]) == (["codes", "description"], 3)
    stored = rig.matcher.profiles["a"]
    assert stored.codes_of(CodeScheme.CPV) == ["33141420", "33600000"]
    assert stored.codes_of(CodeScheme.UNSPSC) == ["42132203", "42131713"]
    assert stored.description["zh-Hans"] == "手套"
    assert stored.keywords == before.keywords
    untouched(before, stored)
    for bad, field in (
        ({"unspsc": ["1234567"]}, "unspsc"),
        ({"keywords": 5}, "keywords"),
        ({"description": {"fr": "x"}}, "description"),
        ({"names": {"en": "Mine now"}}, "names"),
        ({"version": 1}, "version"),
    ):
        refused = client.post(url(n), json=bad)
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["loc"] for e in refused.json()["errors"]] == [[field]], bad
    assert client.post(url(n), content=b"[1]", headers={"Content-Type": "application/json"}).status_code == 422
    assert len(rig.matcher.replaced) == 1


def test_the_openapi_documents_the_profile_page(rig: Rig) -> None:
    _, client = seed(rig)
    paths = client.get("/openapi.json").json()["paths"]["/profile"]
    assert set(paths["post"]["requestBody"]["content"]) == {"application/x-www-form-urlencoded", "application/json"}
    assert {"200", "403", "404", "409", "422", "503"} <= set(paths["post"]["responses"])
    assert {"200", "403", "404", "503"} <= set(paths["get"]["responses"])

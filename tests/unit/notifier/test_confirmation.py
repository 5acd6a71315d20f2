"""Double opt-in against the notifier's fakes: an address a buyer (or the supplier's own key) registered gets one
confirmation email (never twice, retried, parked) in the supplier's language naming who registered it, and no alert
until its owner confirms from the link (a GET shows, a POST confirms, through the matcher); the supplier's confirmed
addresses get their alerts meanwhile; an old link, a forged one, the matcher away change nothing."""

from __future__ import annotations

import pytest

from contracts import NotificationStatus
from contracts.supplier import EmailConfirmation
from services.notifier.domain import tokens
from services.notifier.domain.pages import PAGE_LABELS
from services.notifier.domain.rendering import LABELS
from services.notifier.exceptions import PermanentMailError, TransientMailError
from tests.unit.notifier.factories import NOW, notice, shortlist
from tests.unit.notifier.rig import AGENCY, Rig, confirm_link, http, metric, recipients, registered, seed, text

pytestmark = pytest.mark.unit


def test_a_registered_address_gets_one_confirmation_and_no_alert(rig: Rig) -> None:
    seed(rig, registered("a"))
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice(), ["a"]))
    assert rig.mail.sent == []
    assert rig.statuses() == [("a|ungm:1001|1|new_match", "skipped")]
    assert rig.events()[0].reason == "unconfirmed_email"
    assert metric(n, "notifier_alerts_withheld_total") == 1

    assert n.confirmations.send_confirmations() == 1
    [sent] = rig.mail.sent
    assert recipients(sent) == ["new@example.com"]
    assert str(sent["Subject"]) == LABELS["en"]["subject_confirmation"]  # fixed text: no name anyone typed
    body = text(sent)
    assert f"“{AGENCY}” has registered this address (new@example.com)" in body  # names in quotes: data
    assert LABELS["en"]["ignore_confirmation"].format(name="“Ningbo Medical Co.”") in body
    assert sent["List-Unsubscribe"] is None  # on no list: a stranger's click must not unsubscribe the supplier
    assert confirm_link(sent).startswith("/confirm?token=")
    assert metric(n, "notifier_confirmations_sent_total") == 1
    assert rig.events() == [rig.events()[0]]  # no event: NotificationKind has no kind for it

    # The same profile again (republished, or read from the start after a restart): nothing more, here or anew.
    seed(rig, registered("a"))
    assert n.confirmations.send_confirmations() == 0
    seed(rig, registered("a"))
    # found settled in the store: not asked for again, and counted against no limit
    assert rig.notifier(instance_id="n1").confirmations.send_confirmations() == 0
    assert len(rig.mail.sent) == 1


def test_the_confirmed_addresses_get_their_alerts_while_a_new_one_waits(rig: Rig) -> None:
    seed(rig, registered("a", roster=("roster@example.com",)))
    n = rig.notifier()
    n.alerts.handle_shortlist(shortlist(notice(), ["a"]))
    [alert] = rig.mail.sent
    assert recipients(alert) == ["roster@example.com"]
    assert metric(n, "notifier_alerts_withheld_total") == 1
    n.confirmations.send_confirmations()
    assert [recipients(m) for m in rig.mail.sent] == [["roster@example.com"], ["new@example.com"]]


def test_the_confirmation_is_in_the_suppliers_language(rig: Rig) -> None:
    seed(rig, registered("a", language="zh-Hans"))
    rig.notifier().confirmations.send_confirmations()
    [sent] = rig.mail.sent
    assert str(sent["Subject"]) == "请确认接收 tenderbridge 招标提醒"  # fixed: the names are in the body only
    assert f"“{AGENCY}” 在 tenderbridge 上登记了此邮箱（new@example.com），用于接收 “宁波医疗有限公司”" in text(sent)
    assert sent["Content-Language"] == "zh-Hans"


def test_an_unsubscribed_supplier_gets_no_confirmation(rig: Rig) -> None:
    seed(rig, registered("a", unsubscribed=True))  # type: ignore[arg-type]
    assert rig.notifier().confirmations.send_confirmations() == 0
    assert rig.mail.sent == []


def test_a_failing_server_retries_the_confirmation_then_parks_it(rig: Rig) -> None:
    seed(rig, registered("a", waiting=("one@example.com", "two@example.com")))
    rig.mail.failures = [TransientMailError("smtp_421", "busy"), PermanentMailError("smtp_550", "no such user")]
    n = rig.notifier()
    n.confirmations.send_confirmations()
    # One address retried after the 4xx and sent; the other refused for good: parked with its key, once.
    assert [recipients(m) for m in rig.mail.sent] == [["one@example.com"]]
    [parked] = rig.dead_letters()
    assert parked.reason == "smtp_permanent"
    assert parked.key is not None
    assert "|confirmation|two@example.com|" in parked.key
    seed(rig, registered("a", waiting=("one@example.com", "two@example.com")))
    rig.notifier(instance_id="n2").confirmations.send_confirmations()
    assert len(rig.mail.sent) == 1
    assert len(rig.dead_letters()) == 1


def test_a_get_shows_the_page_and_only_a_post_confirms_then_alerts_follow(rig: Rig) -> None:
    seed(rig, registered("a"))
    n, client = http(rig)
    n.confirmations.send_confirmations()
    link = confirm_link(rig.mail.sent[0])

    page = client.get(link)
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    assert "new@example.com" in page.text
    assert rig.matcher.replaced == []  # a mail scanner following the link confirms nothing

    done = client.post(link, headers={"Accept": "text/html"})
    assert done.status_code == 200, done.text
    assert PAGE_LABELS["en"]["confirmed_title"] in done.text
    [saved] = rig.matcher.replaced
    assert saved.email_confirmations["new@example.com"].confirmed_at == rig.now
    assert saved.email_confirmations["new@example.com"].registered_by == AGENCY  # the proof of consent, kept
    here = rig.profiles.get("a")
    assert here is not None
    assert here.alert_emails() == ["new@example.com"]
    assert metric(n, "notifier_emails_confirmed_total") == 1

    # Twice is harmless; the next tender's alert goes to the address.
    assert client.post(link).json() == {"supplier_id": "a", "address": "new@example.com", "confirmed": True}
    assert len(rig.matcher.replaced) == 1
    n.alerts.handle_shortlist(shortlist(notice("2002"), ["a"]))
    assert recipients(rig.mail.sent[-1]) == ["new@example.com"]
    assert rig.statuses()[-1] == ("a|ungm:2002|1|new_match", NotificationStatus.SENT.value)


def test_an_old_forged_or_foreign_link_and_an_absent_matcher_change_nothing(rig: Rig) -> None:
    seed(rig, registered("a"))
    n, client = http(rig)
    n.confirmations.send_confirmations()
    link = confirm_link(rig.mail.sent[0])
    token = link.split("token=", 1)[1]

    assert client.post(f"/confirm?token={n.signer.token(tokens.PREFERENCES, 'a')}").status_code == 403
    assert client.post(f"/confirm?token={n.signer.token(tokens.CONFIRM, 'a')}").status_code == 403  # no address in it
    assert client.get(f"/confirm?token={token[:-2]}xx").status_code == 403

    rig.matcher.down = True
    assert client.post(link).status_code == 503
    page = client.post(link, headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert PAGE_LABELS["en"]["confirm_unavailable"] in page.text
    rig.matcher.down = False

    # The address was removed and registered again since: this link was for the earlier registration.
    again = registered("a").model_copy(
        update={"email_confirmations": {"new@example.com": EmailConfirmation(registered_by="X", registered_at=NOW)}}
    )
    seed(rig, again)
    assert client.post(link).status_code == 410
    seed(rig, registered("a", waiting=("other@example.com",)))
    assert client.post(link).status_code == 410  # removed
    assert rig.matcher.replaced == []
    assert metric(n, "notifier_emails_confirmed_total") == 0

"""Emails never quote what a registrant typed as if it were ours: a supplier name or registrant written as a phishing
lure (a paragraph, a URL, U+202E reversing what follows) is shown as data: in quotes, one line cut to
``NAME_LIMIT`` characters, control, bidi and zero-width characters removed, URLs and domains inert; never in the
``To:`` display name of an address its owner has not confirmed; and the only links are ours."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from contracts import SupplierProfile
from contracts.supplier import EmailConfirmation
from services.notifier.domain.text import NAME_LIMIT, inert, shown_name
from tests.unit.notifier.factories import notice, profile, shortlist
from tests.unit.notifier.rig import REGISTERED, Rig, confirm_link, http, seed, text

pytestmark = pytest.mark.unit

LURE = "UNICEF Supply Division. ACTION REQUIRED: your UNGM account is suspended, verify at https://evil.example/login"
SHORT_LURE = "Acme\u202e\u200b\x00 Ltd, see https://evil.example/login or www.evil.example"


def lured(name: str, *, confirmed: bool, by: str | None = None) -> SupplierProfile:
    """A profile whose name is ``name`` as typed (set past the contract's own normalizing, as an older record or
    another producer could hold it), its address registered by ``by`` (the supplier itself by default)."""
    base = profile("lure", emails=["owner@example.com"]).model_copy(update={"names": {"en": name}})
    if confirmed:
        return base
    entry = EmailConfirmation(registered_by=by or name, registered_at=REGISTERED)
    return base.model_copy(update={"email_confirmations": {"owner@example.com": entry}})


def html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def everything(message: EmailMessage) -> str:
    return "\n".join([str(message["To"]), str(message["Subject"]), text(message), html(message)])


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("Ningbo Medical Co., Ltd.", "Ningbo Medical Co., Ltd."),
        ("U.S.A. Gloves Inc", "U.S.A. Gloves Inc"),
        ("Acme\u202eLtd\u200b\x00", "AcmeLtd"),
        ("Acme\r\nBcc: x@evil.example", "Acme Bcc: x@evil[.]example"),
        ("see https://evil.example/login", "see https[:]//evil[.]example/login"),
        ("www.evil.example", "www[.]evil[.]example"),
        ("x" * 200, "x" * (NAME_LIMIT - 1) + "…"),
    ],
)
def test_a_typed_name_is_shown_as_one_bounded_inert_line(typed: str, shown: str) -> None:
    assert shown_name(typed) == shown


def test_inert_text_holds_no_url_a_client_would_link() -> None:
    assert not re.search(r"https?://|www\.\w|evil\.example", inert(SHORT_LURE))


@pytest.mark.parametrize("name", [LURE, SHORT_LURE])
def test_a_confirmation_email_quotes_the_lure_as_data_and_names_nobody_in_to(rig: Rig, name: str) -> None:
    seed(rig, lured(name, confirmed=False))
    rig.notifier().confirmations.send_confirmations()
    [sent] = rig.mail.sent
    assert [(a.display_name, a.addr_spec) for a in sent["To"].addresses] == [("", "owner@example.com")]
    body = everything(sent)
    assert "https://evil" not in body
    assert "evil.example" not in body
    assert not re.search("[\u202e\u200b\x00]", body)
    assert f"“{shown_name(name)}”" in text(sent)
    assert len(shown_name(name)) <= NAME_LIMIT
    hrefs = re.findall(r'href="([^"]*)"', html(sent))
    assert hrefs
    assert all(h.startswith("https://alerts.example.org/") for h in hrefs)


def test_a_registrant_named_as_a_lure_is_quoted_as_data_too(rig: Rig) -> None:
    seed(rig, lured("Ningbo Medical Co.", confirmed=False, by=SHORT_LURE))
    rig.notifier().confirmations.send_confirmations()
    [sent] = rig.mail.sent
    assert "https://evil" not in everything(sent)
    assert f"“{shown_name(SHORT_LURE)}” has registered this address" in text(sent)


def test_an_alert_to_a_confirmed_address_names_the_supplier_in_to_as_data(rig: Rig) -> None:
    rig.add(lured(SHORT_LURE, confirmed=True))
    rig.notifier().alerts.handle_shortlist(shortlist(notice(), ["lure"]))
    [sent] = rig.mail.sent
    [to] = sent["To"].addresses
    assert (to.display_name, to.addr_spec) == (shown_name(SHORT_LURE), "owner@example.com")
    assert "https://evil" not in everything(sent)
    assert not re.search("[\u202e\u200b\x00]", everything(sent))


def test_the_confirmation_page_shows_the_lure_inert_too(rig: Rig) -> None:
    seed(rig, lured(SHORT_LURE, confirmed=False, by="UNICEF"))
    n, client = http(rig)
    n.confirmations.send_confirmations()
    page = client.get(confirm_link(rig.mail.sent[0]), headers={"Accept": "text/html"}).text
    assert shown_name(SHORT_LURE) in page
    assert "https://evil" not in page
    assert "evil.example" not in page

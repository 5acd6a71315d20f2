"""Emailed links expire (an alert's after ``TB_NOTIFIER_ALERT_LINK_DAYS``, a confirmation's after
``TB_NOTIFIER_CONFIRMATION_LINK_DAYS``: 410 then), only the canonical spelling of a token opens anything, a token
made before links expired opens the unsubscribe link only, and the public default secret is refused for a
deployment that others reach."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.infra.settings import load_settings
from services.notifier.bootstrap import signer
from services.notifier.domain import tokens
from services.notifier.exceptions import ExpiredToken, InvalidToken
from services.notifier.settings import DEFAULT_SECRET, Settings
from tests.unit.notifier.factories import NOW, profile
from tests.unit.notifier.rig import Rig, confirm_link, http, registered, seed, unit_settings

pytestmark = pytest.mark.unit

SECRET = b"s3cret"


def test_a_token_opens_until_its_expiry_then_says_it_expired() -> None:
    token = tokens.sign(SECRET, tokens.PREFERENCES, "sup-1", NOW + timedelta(days=1))
    assert tokens.verify(SECRET, tokens.PREFERENCES, token, NOW) == "sup-1"
    with pytest.raises(ExpiredToken):
        tokens.verify(SECRET, tokens.PREFERENCES, token, NOW + timedelta(days=1))


def test_the_expiry_is_signed() -> None:
    token = tokens.sign(SECRET, tokens.UNSUBSCRIBE, "sup-1", NOW + timedelta(days=1))
    subject, seconds, mac = token.split(".")
    later = f"{subject}.{int(seconds) + 86_400 * 365}.{mac}"
    with pytest.raises(InvalidToken, match="signature"):
        tokens.verify(SECRET, tokens.UNSUBSCRIBE, later, NOW)


def test_the_lifetimes_are_the_deployments_per_purpose() -> None:
    clock = [NOW]
    links = signer(unit_settings(notifier_alert_link_days=180, notifier_confirmation_link_days=7), lambda: clock[0])
    alert, confirm = links.token(tokens.PREFERENCES, "a"), links.token(tokens.CONFIRM, "a\na@x.org\n1")
    clock[0] = NOW + timedelta(days=7, seconds=1)
    assert links.verify(tokens.PREFERENCES, alert) == "a"
    with pytest.raises(ExpiredToken):
        links.verify(tokens.CONFIRM, confirm)
    clock[0] = NOW + timedelta(days=180, seconds=1)
    with pytest.raises(ExpiredToken):
        links.verify(tokens.PREFERENCES, alert)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _respell(token: str, part: int, how: str) -> str:
    pieces = token.split(".")
    raw = pieces[part]
    pieces[part] = {
        "padded": raw + "=" * (-len(raw) % 4 or 4),
        "standard alphabet": base64.b64encode(base64.urlsafe_b64decode(raw + "==")).rstrip(b"=").decode(),
        "skipped characters": raw[:2] + "!" + raw[2:],
        "unused bits set": raw[:-1] + chr(ord(raw[-1]) + 1),
    }[how]
    return ".".join(pieces)


@pytest.mark.parametrize("how", ["padded", "skipped characters", "unused bits set"])
@pytest.mark.parametrize("part", [0, 2])
def test_only_the_canonical_spelling_of_a_token_is_accepted(part: int, how: str) -> None:
    # A subject and a MAC whose encodings end in unused bits (lengths not a multiple of three).
    token = tokens.sign(SECRET, tokens.PREFERENCES, "sup-1", NOW + timedelta(days=1))
    respelled = _respell(token, part, how)
    assert respelled != token
    with pytest.raises(InvalidToken, match="canonical"):
        tokens.verify(SECRET, tokens.PREFERENCES, respelled, NOW)


def test_the_standard_alphabet_and_a_leading_zero_are_other_spellings_too() -> None:
    subject = "sup>?>"  # its base64 holds "+" and "/" in the standard alphabet, "-" and "_" in base64url
    token = tokens.sign(SECRET, tokens.PREFERENCES, subject, NOW + timedelta(days=1))
    assert tokens.verify(SECRET, tokens.PREFERENCES, token, NOW) == subject
    respelled = _respell(token, 0, "standard alphabet")
    assert respelled != token
    first, seconds, mac = token.split(".")
    for other in (respelled, f"{first}.0{seconds}.{mac}", f"{first}.+{seconds}.{mac}"):
        with pytest.raises(InvalidToken):
            tokens.verify(SECRET, tokens.PREFERENCES, other, NOW)


def test_a_token_without_expiry_still_unsubscribes_and_opens_nothing_else() -> None:
    mac = __import__("hmac").new(SECRET, b"unsubscribe\x00sup-1", "sha256").digest()
    before = f"{_b64(b'sup-1')}.{_b64(mac)}"  # as the emails sent before expiry carry it
    assert tokens.verify(SECRET, tokens.UNSUBSCRIBE, before, NOW + timedelta(days=3650)) == "sup-1"
    pref = __import__("hmac").new(SECRET, b"preferences\x00sup-1", "sha256").digest()
    with pytest.raises(InvalidToken):
        tokens.verify(SECRET, tokens.PREFERENCES, f"{_b64(b'sup-1')}.{_b64(pref)}", NOW)


def test_an_expired_link_answers_410_and_a_respelled_one_403(rig: Rig) -> None:
    seed(rig, profile("a"))
    n, client = http(rig)
    token = n.signer.token(tokens.PREFERENCES, "a")
    assert client.get(f"/preferences?token={token}").status_code == 200
    assert client.get(f"/preferences?token={_respell(token, 0, 'padded')}").status_code == 403
    rig.now += timedelta(days=181)
    expired = client.get(f"/preferences?token={token}", headers={"Accept": "application/json"})
    assert expired.status_code == 410
    assert "expired" in expired.json()["detail"]


def test_a_confirmation_link_expires_after_a_week(rig: Rig) -> None:
    seed(rig, registered("a"))
    n, client = http(rig)
    n.confirmations.send_confirmations()
    link = confirm_link(rig.mail.sent[0])
    rig.now += timedelta(days=7, seconds=1)
    assert client.post(link).status_code == 410
    assert rig.matcher.replaced == []


def test_the_default_secret_is_refused_for_a_deployment_others_reach() -> None:
    with pytest.raises(ValidationError, match="default secret"):
        Settings(notifier_public_url="https://alerts.example.org")
    assert Settings(notifier_public_url="https://alerts.example.org", notifier_allow_default_link_signing=True)
    assert Settings(notifier_public_url="http://127.0.0.1:8002").uses_default_secret  # make run, make demo
    assert not Settings(
        notifier_public_url="https://alerts.example.org", notifier_unsubscribe_secret="x"
    ).uses_default_secret


def test_the_refusal_is_a_configuration_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TB_NOTIFIER_PUBLIC_URL", "https://alerts.example.org")
    monkeypatch.setenv("TB_NOTIFIER_UNSUBSCRIBE_SECRET", DEFAULT_SECRET)
    with pytest.raises(SystemExit) as exited:
        load_settings(Settings)
    assert exited.value.code == 2
    assert "TB_NOTIFIER_UNSUBSCRIBE_SECRET" in capsys.readouterr().err

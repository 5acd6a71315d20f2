"""Signed tokens for one-click unsubscribe (RFC 8058), the preferences link and the confirmation link of an address
(double opt-in: its subject names the supplier, the address and the registration, see ``domain/confirmation.py``).

A token is ``base64url(subject) "." expires "." base64url(HMAC-SHA256(secret, purpose NUL subject NUL expires))``
(``expires``: Unix seconds, in decimal): it names the subject in the clear (nothing secret about an id), proves the
link was issued by us for that subject and that purpose, and stops working at ``expires`` (``ExpiredToken``):
``Signer.lifetimes`` per purpose, 180 days for the links of an alert (unsubscribe, preferences), 7 for a
confirmation link. A token for supplier A cannot act for B, and a preferences token is not an unsubscribe token.
Only the canonical spelling is accepted: base64url without padding whose bits re-encode to the same text, a decimal
without sign or leading zero; any other spelling of the same bytes is refused, so a token has exactly one form.

The tokens before expiry (``base64url(subject) "." base64url(HMAC(secret, purpose NUL subject))``) are still
accepted for ``unsubscribe`` only: one-click unsubscribe (RFC 8058) must keep working for the emails already
delivered, and an unsubscribe is the one action that harms nobody; their preferences and confirmation links no
longer open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from contracts import TenderNotice
from services.notifier.domain import not_relevant
from services.notifier.domain.rendering import Links
from services.notifier.exceptions import ExpiredToken, InvalidToken

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
CONFIRM = "confirm"
#: The "not relevant for me" link of an alert item (``domain/not_relevant.py``).
NOT_RELEVANT = "not_relevant"
#: A confirmation token's subject holds an address (up to 254 characters) besides the supplier id (up to 128).
MAX_TOKEN = 1024


#: How long a link of each purpose opens after it was made, unless the deployment says otherwise
#: (``TB_NOTIFIER_ALERT_LINK_DAYS``, ``TB_NOTIFIER_CONFIRMATION_LINK_DAYS``).
DEFAULT_LIFETIMES: Mapping[str, timedelta] = {
    UNSUBSCRIBE: timedelta(days=180),
    PREFERENCES: timedelta(days=180),
    NOT_RELEVANT: timedelta(days=180),
    CONFIRM: timedelta(days=7),
}

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_SECONDS = re.compile(r"[1-9][0-9]{0,11}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """The bytes of canonical unpadded base64url text; ``InvalidToken`` for any other spelling (padding, ``+`` or
    ``/``, characters the decoder would skip, unused bits set)."""
    if not _BASE64URL.fullmatch(text):
        raise InvalidToken("token is not canonical base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("token is not base64url") from exc
    if _b64(data) != text:
        raise InvalidToken("token is not canonical base64url")
    return data


def _mac(secret: bytes, purpose: str, subject: str, expires: str | None) -> bytes:
    signed = purpose.encode() + b"\x00" + subject.encode()
    if expires is not None:
        signed += b"\x00" + expires.encode()
    return hmac.new(secret, signed, hashlib.sha256).digest()


def _now() -> datetime:
    return datetime.now(UTC)


def sign(secret: bytes, purpose: str, subject: str, expires: datetime | None = None) -> str:
    """A token for ``subject`` and ``purpose`` that opens until ``expires`` (default: its purpose's lifetime from
    now, ``DEFAULT_LIFETIMES``)."""
    at = expires if expires is not None else _now() + DEFAULT_LIFETIMES[purpose]
    seconds = str(int(at.timestamp()))
    return f"{_b64(subject.encode())}.{seconds}.{_b64(_mac(secret, purpose, subject, seconds))}"


def verify(secret: bytes, purpose: str, token: str, now: datetime | None = None) -> str:
    """The subject the token was issued for; raises ``ExpiredToken`` once it has expired (at ``now``, default the
    current time) and ``InvalidToken`` if it is malformed, not canonical or forged."""
    if not token or len(token) > MAX_TOKEN or token.count(".") not in (1, 2):
        raise InvalidToken("malformed token")
    parts = token.split(".")
    legacy = len(parts) == 2
    if legacy and purpose != UNSUBSCRIBE:
        raise InvalidToken("a token without expiry opens the unsubscribe link only")
    raw_subject, raw_mac = parts[0], parts[-1]
    seconds = None if legacy else parts[1]
    if seconds is not None and not _SECONDS.fullmatch(seconds):
        raise InvalidToken("malformed token expiry")
    try:
        subject = _unb64(raw_subject).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidToken("malformed token") from exc
    if not subject or not hmac.compare_digest(_unb64(raw_mac), _mac(secret, purpose, subject, seconds)):
        raise InvalidToken("bad token signature")
    if seconds is not None and int(seconds) <= (now or _now()).timestamp():
        raise ExpiredToken(f"the {purpose} link expired")
    return subject


@dataclass(frozen=True)
class Signer:
    """This deployment's signed links: tokens under its secret, the pages under its public URL, and the links an
    email carries."""

    secret: bytes
    #: Where the notifier's pages are served (``TB_NOTIFIER_PUBLIC_URL``).
    public_url: str
    #: The operator's supplier-facing notice page (``TB_NOTIFIER_NOTICE_URL_TEMPLATE``), "" when there is none.
    notice_url_template: str = ""
    #: How long a link of each purpose opens after it was made.
    lifetimes: Mapping[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_LIFETIMES))
    clock: Callable[[], datetime] = _now

    def token(self, purpose: str, supplier_id: str) -> str:
        return sign(self.secret, purpose, supplier_id, self.clock() + self.lifetimes[purpose])

    def verify(self, purpose: str, token: str) -> str:
        """The subject the token was issued for; raises ``ExpiredToken`` once it has expired and ``InvalidToken``
        if it is malformed, not canonical or forged."""
        return verify(self.secret, purpose, token, self.clock())

    def url(self, path: str, purpose: str, subject: str) -> str:
        """``{public_url}/{path}?token=...``: the page ``path`` for ``subject``."""
        return f"{self.public_url.rstrip('/')}/{path}?token={quote(self.token(purpose, subject), safe='')}"

    def not_relevant_url(self, supplier_id: str, notice: TenderNotice) -> str:
        """The "not relevant for me" page of ``notice`` for this supplier; "" when its token would be longer than a
        link may be (a buyer's name of hundreds of characters): the item then has no such link."""
        url = self.url("not-relevant", NOT_RELEVANT, not_relevant.subject(supplier_id, notice))
        return url if len(url.rsplit("token=", 1)[1]) <= MAX_TOKEN else ""

    def links(self, supplier_id: str) -> Links:
        """The links of an alert or digest to this supplier."""
        return Links(
            notice_url_template=self.notice_url_template,
            unsubscribe_url=self.url("unsubscribe", UNSUBSCRIBE, supplier_id),
            preferences_url=self.url("preferences", PREFERENCES, supplier_id),
            not_relevant_url=lambda notice: self.not_relevant_url(supplier_id, notice),
        )

"""Signed tokens for one-click unsubscribe (RFC 8058), the preferences link and the confirmation link of an address
(double opt-in: its subject names the supplier, the address and the registration, see ``domain/confirmation.py``).

A token is ``base64url(supplier_id) "." base64url(HMAC-SHA256(secret, purpose NUL supplier_id))``: it names the
supplier in the clear (nothing secret about an id) and proves the link was issued by us for that supplier and that
purpose. A token for supplier A cannot act for B, and a preferences token is not an unsubscribe token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

from services.notifier.domain.rendering import Links
from services.notifier.exceptions import InvalidToken

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
CONFIRM = "confirm"
#: A confirmation token's subject holds an address (up to 254 characters) besides the supplier id (up to 128).
MAX_TOKEN = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("token is not base64url") from exc


def _mac(secret: bytes, purpose: str, supplier_id: str) -> bytes:
    return hmac.new(secret, purpose.encode() + b"\x00" + supplier_id.encode(), hashlib.sha256).digest()


def sign(secret: bytes, purpose: str, supplier_id: str) -> str:
    return f"{_b64(supplier_id.encode())}.{_b64(_mac(secret, purpose, supplier_id))}"


def verify(secret: bytes, purpose: str, token: str) -> str:
    """The supplier id the token was issued for; raises ``InvalidToken`` if it is malformed or forged."""
    if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise InvalidToken("malformed token")
    raw_id, raw_mac = token.split(".")
    try:
        supplier_id = _unb64(raw_id).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidToken("malformed token") from exc
    if not supplier_id or not hmac.compare_digest(_unb64(raw_mac), _mac(secret, purpose, supplier_id)):
        raise InvalidToken("bad token signature")
    return supplier_id


@dataclass(frozen=True)
class Signer:
    """This deployment's signed links: tokens under its secret, the pages under its public URL, and the links an
    email carries."""

    secret: bytes
    #: Where the notifier's pages are served (``TB_NOTIFIER_PUBLIC_URL``).
    public_url: str
    #: The operator's supplier-facing notice page (``TB_NOTIFIER_NOTICE_URL_TEMPLATE``), "" when there is none.
    notice_url_template: str = ""

    def token(self, purpose: str, supplier_id: str) -> str:
        return sign(self.secret, purpose, supplier_id)

    def verify(self, purpose: str, token: str) -> str:
        """The subject the token was issued for; raises ``InvalidToken`` if it is malformed or forged."""
        return verify(self.secret, purpose, token)

    def url(self, path: str, purpose: str, subject: str) -> str:
        """``{public_url}/{path}?token=...``: the page ``path`` for ``subject``."""
        return f"{self.public_url.rstrip('/')}/{path}?token={quote(self.token(purpose, subject), safe='')}"

    def links(self, supplier_id: str) -> Links:
        """The links of an alert or digest to this supplier."""
        return Links(
            notice_url_template=self.notice_url_template,
            unsubscribe_url=self.url("unsubscribe", UNSUBSCRIBE, supplier_id),
            preferences_url=self.url("preferences", PREFERENCES, supplier_id),
        )

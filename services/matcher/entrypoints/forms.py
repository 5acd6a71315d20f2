"""Signed form tokens (CSRF) for the pages' POST forms: ``<unix time>.<HMAC-SHA256>`` over a purpose, what the token
is bound to (the browser's form cookie, or the signed-in key) and the time, with the form secret
(``TB_MATCHER_FORM_SECRET``). A token is good for ``max_age`` and only for what it was issued for, so a form on
another site cannot post one (OWASP CSRF prevention, "signed double-submit cookie")."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from services.matcher.settings import Settings

log = logging.getLogger(__name__)


class FormSigner:
    def __init__(self, secret: bytes, max_age: timedelta = timedelta(hours=2)) -> None:
        self._secret = secret
        self.max_age = max_age

    @classmethod
    def from_settings(cls, settings: Settings) -> FormSigner:
        """The signer of ``TB_MATCHER_FORM_SECRET``; unset, a secret drawn for this process (with a warning)."""
        configured = settings.matcher_form_secret
        if configured is not None and configured.get_secret_value():
            return cls(configured.get_secret_value().encode())
        log.warning(
            "TB_MATCHER_FORM_SECRET is not set: this process signs its forms with a secret of its own (forms do "
            "not survive a restart, and matcher instances do not accept each other's); set it in a deployment"
        )
        return cls(secrets.token_bytes(32))

    @staticmethod
    def new_nonce() -> str:
        """A browser's form cookie value: 128 random bits."""
        return secrets.token_urlsafe(16)

    @property
    def secret(self) -> bytes:
        return self._secret

    def _mac(self, purpose: str, bound_to: str, issued: int) -> str:
        message = f"{purpose}\x1f{bound_to}\x1f{issued}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def issue(self, purpose: str, bound_to: str, now: datetime) -> str:
        issued = int(now.timestamp())
        return f"{issued}.{self._mac(purpose, bound_to, issued)}"

    def valid(self, token: str, purpose: str, bound_to: str, now: datetime) -> bool:
        issued_text, _, mac = token.partition(".")
        if not issued_text.isdigit() or len(issued_text) > 12:
            return False
        issued = int(issued_text)
        age = now.timestamp() - issued
        if not -60 <= age <= self.max_age.total_seconds():  # a minute of clock skew between instances
            return False
        return hmac.compare_digest(mac, self._mac(purpose, bound_to, issued))

"""Notifier errors.

NotifierError
├── InvalidToken          Raised if an unsubscribe/preferences token is malformed or its signature is wrong.
│   └── ExpiredToken          a genuine token past its expiry.
├── MailError             Raised if an email could not be handed to the SMTP server.
│   ├── TransientMailError    4xx replies, refused/reset connections, timeouts: worth retrying.
│   ├── PermanentMailError    5xx replies: retrying cannot help, park at once.
│   └── UncertainDelivery     the connection broke after the message body was sent: it may have been delivered.
├── MatcherUnavailable    Raised if the matcher did not accept a preferences update (retried later).
├── StoreUnavailable      Raised if the notification store could not be reached or did not answer a write.
├── ClaimLost             Raised if another instance took over an email while this one still held it.
└── ShuttingDown          Raised if the worker was asked to stop while it waited (backoff, store retries).
"""

from __future__ import annotations


class NotifierError(Exception):
    """Base of every notifier error."""


class InvalidToken(NotifierError):
    """Raised if an unsubscribe or preferences token is malformed, forged or for another purpose."""


class ExpiredToken(InvalidToken):
    """Raised if a token is genuine but past its expiry (an old email's link)."""


class MailError(NotifierError):
    """Raised if an email could not be handed to the SMTP server."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        #: Short machine-readable reason (``smtp_421``, ``connection_refused``...).
        self.reason = reason
        self.detail = detail


class TransientMailError(MailError):
    """Raised if the failure is temporary (4xx, connection refused or reset, timeout) and the email was not
    accepted."""


class PermanentMailError(MailError):
    """Raised if the server rejected the email for good (5xx)."""


class UncertainDelivery(MailError):
    """Raised if the connection failed after the whole message was sent but before the server's reply: the email
    may have been delivered, so it is not retried (at most once)."""


class MatcherUnavailable(NotifierError):
    """Raised if the matcher did not accept a preferences update."""


class StoreUnavailable(NotifierError):
    """Raised if the notification store could not be reached, timed out or answered with a server error: the
    write may or may not have been applied."""


class ClaimLost(NotifierError):
    """Raised if another instance took an email over while this one still held it (its lease ran out during a
    long store or SMTP stall): this one must not write the final "." any more."""


class ShuttingDown(NotifierError):
    """Raised if the worker was asked to stop while an email waited for its next attempt: the batch is left
    uncommitted, so the shortlist comes back after the restart and the email is taken over (it was not sent)."""

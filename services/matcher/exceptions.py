"""Errors of the matcher service::

MatcherError
├── NotFound             a profile, notice or shortlist does not exist (or is not visible to the caller)
├── Forbidden            the caller's key may not do this (its role, or another supplier's profile)
├── AlreadyExists        a profile with that id exists and the caller asked to create it
├── InvalidInput         a file or request body cannot be read as the contract says
│   ├── TooManyAddresses a profile lists more addresses than a profile may
│   ├── TooLarge         a profile or a request body is bigger than the store and the bus can carry
│   └── AwardFileError   an award file could not be read at all (ingest's ``parse`` failed)
├── TooManyRegistrations a key registered as many new addresses as it may in an hour or a day
├── RegistrationRefused  the public registration form refuses a post: its client's limit or the form's budget
└── StoreUnavailable     Elasticsearch does not answer (the worker retries; the API answers 503)

Every message names the rule and, for the limits, the limit and the setting that moves it; none names the store's
own error (it is logged).
"""

from __future__ import annotations


class MatcherError(Exception):
    """Base of every error the matcher raises on purpose."""


class NotFound(MatcherError):
    """Raised if a profile, notice or shortlist does not exist."""


class Forbidden(MatcherError):
    """Raised if the caller's key may not do what it asks (a supplier key reading notices, a buyer key replacing a
    profile, a supplier key touching another supplier's profile)."""


class AlreadyExists(MatcherError):
    """Raised if a profile is created with an id that is already taken."""


class InvalidInput(MatcherError):
    """Raised if input (an import line, a CSV row, a request) does not validate against the contract."""


class TooManyAddresses(InvalidInput):
    """Raised if a profile lists more addresses than ``TB_MATCHER_MAX_EMAILS_PER_PROFILE``."""


class TooLarge(InvalidInput):
    """Raised if a profile, as stored and published, is bigger than ``TB_MATCHER_MAX_PROFILE_BYTES`` (the bus
    carries about 1 MiB per message): refused before anything is stored."""


class TooManyRegistrations(MatcherError):
    """Raised if a key would register more new addresses than it may per hour or per day
    (``TB_MATCHER_NEW_ADDRESSES_PER_KEY_HOUR`` / ``_DAY``); ``retry_after`` says in how many seconds it may again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RegistrationRefused(MatcherError):
    """Raised if the public registration form refuses a post for a limit (``outcome``: ``client_limit``, the
    client posted too often, or ``budget``, the form's new addresses per hour or day are spent), with the window
    and the seconds until it may be tried again."""

    def __init__(self, outcome: str, window: str, retry_after: int) -> None:
        super().__init__(f"{outcome} per {window}")
        self.outcome = outcome
        self.window = window
        self.retry_after = retry_after


class StoreUnavailable(MatcherError):
    """Raised if Elasticsearch cannot be reached or answers with a server error; retrying later may succeed."""


class AwardFileError(InvalidInput):
    """Raised if an award file for ``import-awards`` cannot be read at all: ingest's ``parse``, which reads it,
    ended with an error status (a bad mapping, an unreadable file)."""

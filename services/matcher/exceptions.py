"""Errors of the matcher service::

MatcherError
├── NotFound            a profile, notice or shortlist does not exist (or is not visible to the caller)
├── AlreadyExists       a profile with that id exists and the caller asked to create it
├── InvalidInput        a file or request body cannot be read as the contract says
└── StoreUnavailable    Elasticsearch does not answer (the worker retries; the API answers 503)
"""

from __future__ import annotations


class MatcherError(Exception):
    """Base of every error the matcher raises on purpose."""


class NotFound(MatcherError):
    """Raised if a profile, notice or shortlist does not exist."""


class AlreadyExists(MatcherError):
    """Raised if a profile is created with an id that is already taken."""


class InvalidInput(MatcherError):
    """Raised if input (an import line, a CSV row, a request) does not validate against the contract."""


class StoreUnavailable(MatcherError):
    """Raised if Elasticsearch cannot be reached or answers with a server error; retrying later may succeed."""

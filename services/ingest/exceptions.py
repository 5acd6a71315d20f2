"""Errors of the ingest service.

    IngestError
     ├── SourceConfigError   the sources file or a CSV mapping is not usable
     └── FetchError          a source could not be fetched (network, HTTP status)

Bad *records* are not exceptions: mappers return a ``Rejection`` that goes to the dead-letter topic.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base of every ingest error."""


class SourceConfigError(IngestError):
    """Raised if the sources file or a CSV mapping file is missing, malformed or names an unknown kind."""


class FetchError(IngestError):
    """Raised if a polled source answers with an error status or cannot be reached."""

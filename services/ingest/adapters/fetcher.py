"""Fetching polled sources over HTTP with conditional requests (ETag / If-Modified-Since, RFC 9110 13.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from services.ingest.exceptions import FetchError


@dataclass(frozen=True)
class Fetched:
    """A response body, or ``not_modified`` when the server answered 304."""

    url: str
    body: bytes = b""
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None


class Fetcher(Protocol):
    def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None, json_body: object = None
    ) -> Fetched:
        """GET ``url`` conditional on the validators given, or POST ``json_body`` (search APIs such as TED's).
        Raises FetchError."""


class HttpFetcher:
    def __init__(self, timeout_s: float, user_agent: str = "tenderbridge-ingest") -> None:
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=True, headers={"User-Agent": user_agent})

    def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None, json_body: object = None
    ) -> Fetched:
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            if json_body is not None:
                response = self._client.post(url, json=json_body, headers=headers)
            else:
                response = self._client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise FetchError(f"{url}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code == 304:
            return Fetched(url, not_modified=True, etag=etag, last_modified=last_modified)
        if response.status_code >= 400:
            raise FetchError(f"{url}: HTTP {response.status_code}")
        return Fetched(
            url,
            body=response.content,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )

    def close(self) -> None:
        self._client.close()


@dataclass
class InMemoryFetcher:
    """The fake for unit tests: url -> (body, etag); answers 304 when the caller's ETag matches. A POST's JSON
    body is looked up as ``url + " " + its compact sorted JSON`` first."""

    pages: dict[str, tuple[bytes, str | None]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    bodies: list[object] = field(default_factory=list)

    def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None, json_body: object = None
    ) -> Fetched:
        self.requests.append((url, etag))
        self.bodies.append(json_body)
        if json_body is not None:
            keyed = f"{url} {json.dumps(json_body, sort_keys=True, separators=(',', ':'))}"
            if keyed in self.pages:
                url = keyed
        if url not in self.pages:
            raise FetchError(f"{url}: HTTP 404")
        body, current = self.pages[url]
        if etag is not None and etag == current:
            return Fetched(url, not_modified=True, etag=etag)
        return Fetched(url, body=body, etag=current)

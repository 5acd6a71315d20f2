"""Fetching polled sources over HTTP with conditional requests (ETag / If-Modified-Since, RFC 9110 13.1)."""

from __future__ import annotations

import httpx

from services.ingest.exceptions import FetchError
from services.ingest.ports import Fetched


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

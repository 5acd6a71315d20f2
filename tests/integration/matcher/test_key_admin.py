"""Key administration against the local Elasticsearch, through the real CLI and the HTTP app: a key index created
before revocation and expiry existed keeps working and gets the new fields; a key revoked by the CLI is refused by
the very next request; an expired key says so; the last use shows in ``keys list``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from services.infra.bus import InMemoryPublisher
from services.matcher.adapters import elastic
from services.matcher.bootstrap import bootstrap
from services.matcher.entrypoints.http import create_app
from services.matcher.keys import ApiKey, Role, hash_token
from services.matcher.settings import Settings
from tests.conftest import REPO, Endpoints

pytestmark = pytest.mark.integration

#: The key index's mapping as the matcher created it before revocation and expiry (strict: unknown fields refused).
LEGACY_KEY_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "key_hash": {"type": "keyword"},
        "role": {"type": "keyword"},
        "agency": {"type": "keyword"},
        "supplier_id": {"type": "keyword"},
        "label": {"type": "keyword"},
        "created_at": {"type": "date"},
    },
}
LEGACY_TOKEN = "tbk_legacy-key-of-unicef"


@pytest.fixture
def prefix(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[str]:
    name = unique("keys")
    yield name
    es = Elasticsearch(endpoints.elasticsearch_url)
    for index in es.indices.get(index=f"{name}-*"):
        es.indices.delete(index=index)
    es.close()


def test_keys_of_an_older_index_are_listed_revoked_and_refused_at_once(endpoints: Endpoints, prefix: str) -> None:
    es = Elasticsearch(endpoints.elasticsearch_url)
    names = elastic.IndexNames(prefix)
    # An index and a document exactly as the matcher wrote them before this change.
    es.indices.create(index=names.keys, mappings=LEGACY_KEY_MAPPING)
    legacy_hash = hash_token(LEGACY_TOKEN)
    es.index(
        index=names.keys,
        id=legacy_hash,
        document={
            "key_hash": legacy_hash,
            "role": "buyer",
            "agency": "UNICEF",
            "supplier_id": None,
            "label": "before revocation existed",
            "created_at": "2026-01-01T00:00:00Z",
        },
        refresh=True,
    )
    env = os.environ | {"TB_ELASTICSEARCH_URL": endpoints.elasticsearch_url, "TB_MATCHER_INDEX_PREFIX": prefix}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.matcher", *args], env=env, cwd=REPO, capture_output=True, text=True
        )

    def listed(*args: str) -> dict[str, dict[str, Any]]:
        done = cli("keys", "list", "--json", *args)
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        return {row["label"]: row for row in rows}

    created = cli("create-key", "--role", "buyer", "--agency", "UNICEF", "--label", "new", "--expires-in-days", "30")
    assert created.returncode == 0, created.stderr
    new_token = created.stdout.strip()
    keys = listed()
    assert set(keys) == {"before revocation existed", "new"}
    old = keys["before revocation existed"]
    assert (old["key_id"], old["status"], old["expires_at"]) == (legacy_hash[:12], "active", None)
    assert new_token not in json.dumps(keys)  # the list names keys by id, never the key
    expires = datetime.fromisoformat(keys["new"]["expires_at"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    # The CLI brought the old index's strict mapping up to date, in place.
    properties = es.indices.get_mapping(index=names.keys)[names.keys]["mappings"]["properties"]
    assert {"expires_at", "revoked_at", "revoked_reason", "last_used_at"} <= set(properties)

    container = bootstrap(
        Settings(elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=prefix),
        publisher=InMemoryPublisher(),
    )
    try:
        with TestClient(create_app(container)) as http:
            for token in (LEGACY_TOKEN, new_token):
                assert http.get("/notices", headers={"X-API-Key": token}).status_code == 200
            assert listed()["new"]["last_used_at"] is not None  # written after the answer, once

            revoked = cli("keys", "revoke", old["key_id"].upper(), "--reason", "pasted into ticket 4711")
            assert revoked.returncode == 0, revoked.stderr
            refused = http.get("/notices", headers={"Authorization": f"Bearer {LEGACY_TOKEN}"})
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["detail"] == "this API key was revoked"
            assert "4711" not in refused.text
            assert http.get("/notices", headers={"X-API-Key": new_token}).status_code == 200

            container.keys.put(
                ApiKey(
                    key_hash=hash_token("tbk_expired"),
                    role=Role.ADMIN,
                    label="expired",
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                    expires_at=datetime(2026, 2, 1, tzinfo=UTC),
                )
            )
            expired = http.get("/notices", headers={"X-API-Key": "tbk_expired"})
            assert (expired.status_code, expired.json()["detail"]) == (401, "this API key expired")
            metrics = http.get("/metrics").text
            assert 'matcher_api_keys_refused_total{reason="revoked"} 1.0' in metrics
            assert 'matcher_api_keys_refused_total{reason="expired"} 1.0' in metrics
    finally:
        container.close()

    keys = listed("--status", "revoked")
    assert list(keys) == ["before revocation existed"]
    assert keys["before revocation existed"]["revoked_reason"] == "pasted into ticket 4711"
    assert set(listed("--status", "active")) == {"new"}
    again = cli("keys", "revoke", old["key_id"], "--reason", "twice")
    assert again.returncode == 0
    assert "already revoked" in again.stderr
    assert listed("--status", "revoked")["before revocation existed"]["revoked_reason"] == "pasted into ticket 4711"
    es.close()


def test_an_unknown_or_ambiguous_key_id_is_refused_with_exit_2(endpoints: Endpoints, prefix: str) -> None:
    store_es = elastic.make_client(endpoints.elasticsearch_url, 10)
    names = elastic.IndexNames(prefix)
    elastic.ensure_indexes(store_es, names)
    store = elastic.ElasticKeyStore(store_es, names)
    for key_hash in ("beef01" + "0" * 58, "beef02" + "0" * 58):
        store.put(ApiKey(key_hash=key_hash, role=Role.ADMIN, created_at=datetime.now(UTC)))
    env = os.environ | {"TB_ELASTICSEARCH_URL": endpoints.elasticsearch_url, "TB_MATCHER_INDEX_PREFIX": prefix}

    def revoke(key_id: str) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-m", "services.matcher", "keys", "revoke", key_id, "--reason", "test"]
        return subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True)

    ambiguous = revoke("beef")
    assert ambiguous.returncode == 2
    assert "several keys" in ambiguous.stderr
    unknown = revoke("cafe0000")
    assert unknown.returncode == 2
    assert "no API key" in unknown.stderr
    assert all(k.revoked_at is None for k in store.all())
    store_es.close()

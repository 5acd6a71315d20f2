"""A supplier's preferences page saved through the real matcher: the notifier's HTTP app forwards the change with
``HttpPreferencesClient`` to the matcher's own HTTP app (served by uvicorn on a free port, its profiles in
Elasticsearch), whose stored profile then has the new preferences; a pending unsubscribe (stored in Elasticsearch)
is superseded by the resubscribe and never forwarded after it."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import uvicorn
from elasticsearch import Elasticsearch
from starlette.exceptions import StarletteDeprecationWarning

from contracts import AlertFrequency, SupplierProfile
from contracts.api import PreferencesPatch
from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import Container, bootstrap
from services.matcher.entrypoints.http import create_app as matcher_app
from services.matcher.settings import Settings as MatcherSettings
from services.notifier.adapters.matcher import HttpPreferencesClient
from services.notifier.adapters.memory import InMemoryMailSender
from services.notifier.adapters.store import ElasticsearchNotificationStore
from services.notifier.domain import tokens
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.entrypoints.http import create_app as notifier_app
from services.notifier.exceptions import MatcherUnavailable
from services.notifier.service import Notifier
from tests.conftest import Endpoints
from tests.integration.notifier.helpers import free_port, isolated_settings, wait_until
from tests.unit.notifier.factories import profile

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

ADMIN_KEY = "it-admin-key"


class Served:
    """The matcher's HTTP app on a free port (uvicorn in a thread), started and stopped by the test."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            matcher_app(self.container), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="matcher-http")
        self._thread.start()
        server = self._server
        wait_until(lambda: server.started, 20, "the matcher's HTTP app to start")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=20)


@pytest.fixture
def matcher(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Served]:
    settings = MatcherSettings(
        elasticsearch_url=endpoints.elasticsearch_url,
        matcher_index_prefix=unique("m"),
        matcher_admin_api_key=ADMIN_KEY,  # type: ignore[arg-type]
    )
    container = bootstrap(settings, publisher=InMemoryPublisher())
    served = Served(container)
    try:
        yield served
    finally:
        served.stop()
        for index in container.es.indices.get(index=f"{settings.matcher_index_prefix}-*"):
            container.es.indices.delete(index=index)
        container.close()


def test_the_page_saves_through_the_real_matcher_and_a_pending_unsubscribe_is_superseded(
    endpoints: Endpoints, unique: Callable[[str], str], matcher: Served
) -> None:
    settings = isolated_settings(endpoints, unique, free_port(), notifier_matcher_url=matcher.url)
    es = Elasticsearch(endpoints.elasticsearch_url)
    store = ElasticsearchNotificationStore(es, settings.notifications_index, settings.unsubscribes_index)
    store.ensure_indexes()
    client = HttpPreferencesClient(matcher.url, ADMIN_KEY, timeout_s=5)
    try:
        stored, _ = matcher.container.matcher.save_profile(
            profile("sup:1", timezone="Europe/Paris", emails=["sales@example.com"])
        )
        directory = ProfileDirectory()
        directory.put(stored)  # as read from suppliers.profiles
        n = Notifier(settings, store, InMemoryMailSender(), InMemoryPublisher(), directory, client)
        web = TestClient(notifier_app(n, lambda: {"test": True}))
        page = f"/preferences?token={n.signer.token(tokens.PREFERENCES, 'sup:1')}"
        html = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}

        # The matcher is not served yet: the unsubscribe is stored here, pending; a change cannot be saved.
        assert n.subscriptions.unsubscribe("sup:1") is False
        assert web.post(page, content="digest_hour=6", headers=html).status_code == 503
        matcher.start()

        form = "alerts=on&frequency=daily_digest&language=zh-Hans&timezone=Asia%2FShanghai&digest_hour=7"
        resp = web.post(page, content=form, headers=html)
        assert resp.status_code == 200, resp.text
        assert "设置已保存" in resp.text  # the saved page in the new language
        at_matcher = matcher.container.matcher.profiles.get("sup:1")
        assert at_matcher is not None
        prefs = at_matcher.preferences
        assert (prefs.unsubscribed, prefs.frequency, prefs.language, prefs.timezone, prefs.digest_hour) == (
            False,
            AlertFrequency.DAILY_DIGEST,
            "zh-Hans",
            "Asia/Shanghai",
            7,
        )
        assert at_matcher.codes == stored.codes  # what the page does not edit stays as it was
        here = n.profiles.get("sup:1")
        assert here is not None
        assert here.preferences == prefs
        published = matcher.container.matcher.publisher
        assert isinstance(published, InMemoryPublisher)
        assert any(
            isinstance(p, SupplierProfile) and p.preferences == prefs
            for p in published.on(matcher.container.settings.topic_profiles)
        )

        # The unsubscribe that was pending is superseded in the store: never forwarded over the resubscribe,
        # and a restarted notifier (profile from the topic, unsubscribes from the store) keeps the supplier subscribed.
        assert [u.synced for u in store.unsubscribes()] == [True]
        assert n.subscriptions.sync_unsubscribes() == 0
        latest = matcher.container.matcher.profiles.get("sup:1")
        assert latest is not None
        assert not latest.preferences.unsubscribed
        restarted = ProfileDirectory()
        restarted.put(latest)
        restarted.load_unsubscribes((u.supplier_id, u.at, u.synced) for u in store.unsubscribes())
        again = restarted.get("sup:1")
        assert again is not None
        assert not again.preferences.unsubscribed

        # The matcher's own answers: a supplier it does not know, and a key it refuses.
        assert client.update("ghost", {"digest_hour": 3}) is None
        refused = HttpPreferencesClient(matcher.url, "wrong-key")
        try:
            with pytest.raises(MatcherUnavailable, match=r"answered 40[13]"):
                refused.update("sup:1", {"digest_hour": 3})
        finally:
            refused.close()
        saved = n.subscriptions.update_preferences("sup:1", PreferencesPatch(digest_hour=9))
        assert saved is not None
        assert saved.changed == ["digest_hour"]
        final = matcher.container.matcher.profiles.get("sup:1")
        assert final is not None
        assert final.preferences.digest_hour == 9
        assert final.updated_at is not None
        assert final.updated_at <= datetime.now(UTC)
    finally:
        client.close()
        es.indices.delete(index=[settings.notifications_index, settings.unsubscribes_index])
        es.close()


def test_a_change_waits_for_a_slow_matcher_where_an_unsubscribe_forward_does_not() -> None:
    """A resubscribe is re-matched by the matcher before it answers (seconds on a busy server): the change waits
    for it (its own timeout) instead of telling the supplier "not saved" for a change that was saved; the
    one-click unsubscribe's forward keeps its short timeout (it is stored here first and retried later)."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    stored = profile("a").model_dump(mode="json")

    class SlowMatcher(BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:
            changes = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            threading.Event().wait(0.6)
            body = json.dumps({**stored, "preferences": {**stored["preferences"], **changes}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            return None  # the unsubscribe's client gave up: writing its answer fails, as it should

    server = QuietServer(("127.0.0.1", 0), SlowMatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = HttpPreferencesClient(f"http://127.0.0.1:{server.server_port}", None, timeout_s=0.2, update_timeout_s=5)
    try:
        saved = client.update("a", {"unsubscribed": False, "digest_hour": 6})
        assert saved is not None
        assert saved.preferences.digest_hour == 6
        with pytest.raises(MatcherUnavailable, match="unreachable"):
            client.unsubscribe("a")
    finally:
        client.close()
        server.shutdown()
        server.server_close()

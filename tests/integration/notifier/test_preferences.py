"""A supplier's preferences page saved through the real matcher: the notifier's HTTP app forwards the change with
``HttpPreferencesClient`` to the matcher's own HTTP app (served by uvicorn on a free port, its profiles in
Elasticsearch), whose stored profile then has the new preferences; a pending unsubscribe (stored in Elasticsearch)
is superseded by the resubscribe and never forwarded after it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from elasticsearch import Elasticsearch

from contracts import AlertFrequency, SupplierProfile
from contracts.api import PreferencesPatch
from services.infra.bus import InMemoryPublisher
from services.notifier.adapters.matcher import HttpPreferencesClient
from services.notifier.adapters.store import ElasticsearchNotificationStore
from services.notifier.bootstrap import bootstrap_in_memory
from services.notifier.domain import tokens
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.entrypoints.http import app_for
from services.notifier.exceptions import MatcherUnavailable
from tests.conftest import Endpoints
from tests.integration.notifier.helpers import ADMIN_KEY, Served, TestClient, free_port, isolated_settings
from tests.unit.notifier.factories import profile

pytestmark = pytest.mark.integration


def test_the_page_saves_through_the_real_matcher_and_a_pending_unsubscribe_is_superseded(
    endpoints: Endpoints, unique: Callable[[str], str], stopped_matcher: Served
) -> None:
    settings = isolated_settings(endpoints, unique, free_port(), notifier_matcher_url=stopped_matcher.url)
    es = Elasticsearch(endpoints.elasticsearch_url)
    store = ElasticsearchNotificationStore(es, settings.notifications_index, settings.unsubscribes_index)
    store.ensure_indexes()
    client = HttpPreferencesClient(stopped_matcher.url, ADMIN_KEY, timeout_s=5)
    try:
        stored, _ = stopped_matcher.container.matcher.save_profile(
            profile("sup:1", timezone="Europe/Paris", emails=["sales@example.com"])
        )
        directory = ProfileDirectory()
        directory.put(stored)  # as read from suppliers.profiles
        notifier = bootstrap_in_memory(settings, store=store, profiles=directory, matcher=client)
        n, web = notifier.notifier, TestClient(app_for(notifier))
        page = f"/preferences?token={n.signer.token(tokens.PREFERENCES, 'sup:1')}"
        html = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}

        # The matcher is not served yet: the unsubscribe is stored here, pending; a change cannot be saved.
        assert n.subscriptions.unsubscribe("sup:1") is False
        assert web.post(page, content="digest_hour=6", headers=html).status_code == 503
        stopped_matcher.start()

        form = "alerts=on&frequency=daily_digest&language=zh-Hans&timezone=Asia%2FShanghai&digest_hour=7"
        resp = web.post(page, content=form, headers=html)
        assert resp.status_code == 200, resp.text
        assert "设置已保存" in resp.text  # the saved page in the new language
        at_matcher = stopped_matcher.container.matcher.profiles.get("sup:1")
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
        published = stopped_matcher.container.matcher.publisher
        assert isinstance(published, InMemoryPublisher)
        assert any(
            isinstance(p, SupplierProfile) and p.preferences == prefs
            for p in published.on(stopped_matcher.container.settings.topic_profiles)
        )

        # The unsubscribe that was pending is superseded in the store: never forwarded over the resubscribe,
        # and a restarted notifier (profile from the topic, unsubscribes from the store) keeps the supplier subscribed.
        assert [u.synced for u in store.unsubscribes()] == [True]
        assert n.subscriptions.sync_unsubscribes() == 0
        latest = stopped_matcher.container.matcher.profiles.get("sup:1")
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
        refused = HttpPreferencesClient(stopped_matcher.url, "wrong-key")
        try:
            with pytest.raises(MatcherUnavailable, match=r"answered 40[13]"):
                refused.update("sup:1", {"digest_hour": 3})
        finally:
            refused.close()
        saved = n.subscriptions.update_preferences("sup:1", PreferencesPatch(digest_hour=9))
        assert saved is not None
        assert saved.changed == ["digest_hour"]
        final = stopped_matcher.container.matcher.profiles.get("sup:1")
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

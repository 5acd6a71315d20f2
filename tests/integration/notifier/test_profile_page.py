"""A supplier's matching profile page saved through the real matcher: the notifier's HTTP app reads the profile with
``HttpPreferencesClient`` from the matcher's own HTTP app (uvicorn on a free port, profiles in Elasticsearch), lays
the form's fields over it and stores it back (``PUT /suppliers/{id}``), which re-matches the open notices; the
fields the form does not hold stay as they were, and a form shown before another change is refused (409)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from elasticsearch import Elasticsearch

from contracts import Classification, CodeScheme, Shortlist
from services.infra.bus import InMemoryPublisher
from services.notifier.adapters.matcher import HttpPreferencesClient
from services.notifier.adapters.store import ElasticsearchNotificationStore
from services.notifier.bootstrap import bootstrap_in_memory
from services.notifier.domain import profile_form, tokens
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.entrypoints.http import app_for
from tests.conftest import Endpoints
from tests.integration.notifier.helpers import ADMIN_KEY, Served, TestClient, free_port, isolated_settings
from tests.unit.notifier.factories import notice, profile

pytestmark = pytest.mark.integration

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}


def test_the_profile_page_saves_through_the_real_matcher_and_keeps_what_it_does_not_edit(
    endpoints: Endpoints, unique: Callable[[str], str], stopped_matcher: Served
) -> None:
    settings = isolated_settings(endpoints, unique, free_port(), notifier_matcher_url=stopped_matcher.url)
    es = Elasticsearch(endpoints.elasticsearch_url)
    store = ElasticsearchNotificationStore(es, settings.notifications_index, settings.unsubscribes_index)
    store.ensure_indexes()
    client = HttpPreferencesClient(stopped_matcher.url, ADMIN_KEY, timeout_s=5)
    service = stopped_matcher.container.matcher
    try:
        computers = Classification(scheme=CodeScheme.UNSPSC, code="43211500", description="Computers")
        start = profile(
            "sup:9",
            language="zh-Hans",
            timezone="Asia/Shanghai",
            emails=["sales@example.com"],
            digest_hour=6,
            countries=["AF"],
        )
        start = start.model_copy(
            update={
                "codes": [computers],
                "keywords": ["laptops"],
                "description": {"en": "Computers and printers", "fr": "Ordinateurs"},
                "certifications": ["ISO 9001"],
            }
        )
        stored, _ = service.save_profile(start)
        service.handle_notice(notice())  # an open tender for gloves (UNSPSC 42132203): not this supplier's yet
        directory = ProfileDirectory()
        directory.put(stored)
        notifier = bootstrap_in_memory(settings, store=store, profiles=directory, matcher=client)
        n, web = notifier.notifier, TestClient(app_for(notifier))
        page = f"/profile?token={n.signer.token(tokens.PREFERENCES, 'sup:9')}"

        # The matcher is not served yet: the page says so, nothing can be saved.
        assert web.get(page).status_code == 503
        assert web.post(page, content="keywords=x", headers=FORM).status_code == 503
        stopped_matcher.start()

        shown = web.get(page)
        assert shown.status_code == 200
        assert "您的匹配资料" in shown.text
        assert "<td>UNSPSC</td><td>43211500</td><td>Computers</td>" in shown.text
        version = profile_form.version_of(stored)
        assert f'name="version" value="{version}"' in shown.text

        # Invalid codes: the form again, nothing stored.
        bad = web.post(page, content=urlencode({"unspsc": "4213x", "version": version}), headers=FORM)
        assert bad.status_code == 422
        assert "以下不是 UNSPSC 代码：4213x" in bad.text
        assert service.profiles.get("sup:9") == stored

        form = {"unspsc": "42132203\n4213", "keywords": "nitrile gloves, 手套", "version": version}
        saved = web.post(page, content=urlencode(form), headers=FORM)
        assert saved.status_code == 200, saved.text
        assert "您的资料已保存。" in saved.text
        at_matcher = service.profiles.get("sup:9")
        assert at_matcher is not None
        assert [(c.scheme, c.code) for c in at_matcher.codes] == [
            (CodeScheme.UNSPSC, "42132203"),
            (CodeScheme.UNSPSC, "42130000"),
        ]
        assert at_matcher.keywords == ["nitrile gloves", "手套"]
        # What the form did not send or does not hold is as it was at the matcher.
        skip = {"codes", "keywords", "updated_at", "set_by_supplier"}
        assert at_matcher.model_dump(exclude=skip) == stored.model_dump(exclude=skip)
        assert set(at_matcher.set_by_supplier) == {"codes", "keywords"}  # a roster re-import leaves them
        assert at_matcher.updated_at is not None
        assert stored.updated_at is not None
        assert at_matcher.updated_at > stored.updated_at
        assert n.profiles.get("sup:9") == at_matcher  # used by the notifier at once
        # The PUT re-matched the open tender: the supplier is now on its shortlist, and the page said how many.
        published = service.publisher
        assert isinstance(published, InMemoryPublisher)
        shortlists = [
            s for s in published.on(stopped_matcher.container.settings.topic_shortlists) if isinstance(s, Shortlist)
        ]
        assert any("sup:9" in {e.supplier_id for e in s.entries} for s in shortlists)
        assert "已重新匹配 1 条未截止的招标。" in saved.text

        # A second window still holding the first form is refused: the newer profile is not overwritten.
        stale = web.post(page, content=urlencode({"keywords": "printers", "version": version}), headers=FORM)
        assert stale.status_code == 409
        assert service.profiles.get("sup:9") == at_matcher
        as_json = web.post(page, json={"keywords": ["printers"], "version": profile_form.version_of(at_matcher)})
        assert as_json.status_code == 200
        assert as_json.json()["changed"] == ["keywords"]
        final = service.profiles.get("sup:9")
        assert final is not None
        assert final.keywords == ["printers"]
        assert final.codes == at_matcher.codes
    finally:
        client.close()
        es.indices.delete(index=[settings.notifications_index, settings.unsubscribes_index])
        es.close()

"""Double opt-in through the real pieces: the matcher's HTTP app (profiles in Elasticsearch, publishing to Kafka), the
notifier's worker reading ``suppliers.profiles`` and ``matches.shortlists`` from Kafka, its store in Elasticsearch, and
an aiosmtpd sink of the test's own. A supplier a buyer registers gets exactly one confirmation email (not again after
a notifier restart) and no alert; after its owner POSTs the link, the next tender's alert reaches it. A supplier the
agency's admin imports gets its alert at once."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from services.notifier.entrypoints.http import app_for
from services.notifier.settings import Settings
from tests.integration.notifier.helpers import (
    ADMIN_KEY,
    AGENCY,
    BUYER_KEY,
    Served,
    Sink,
    TestClient,
    confirmations,
    counter,
    glove_maker,
    key,
    running,
    sent,
    to,
    wait_until,
)
from tests.unit.notifier.factories import notice

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def test_a_buyer_registered_address_is_asked_once_and_alerted_only_once_confirmed(
    settings: Settings, matcher: Served, sink: Sink
) -> None:
    settings = settings.model_copy(
        update={"notifier_matcher_url": matcher.url, "notifier_matcher_api_key": SecretStr(ADMIN_KEY)}
    )
    service = matcher.container.matcher
    with httpx.Client(base_url=matcher.url, timeout=60) as api:
        # A buyer registers one supplier; the agency's admin imports another (its roster vouches for consent).
        created = api.post(
            "/suppliers",
            json=glove_maker("by-buyer", "owner@example.com").model_dump(mode="json"),
            headers={"X-API-Key": BUYER_KEY},
        )
        assert created.status_code == 201, created.text
        roster = glove_maker("by-admin", "roster@example.com").model_dump_json()
        imported = api.post("/suppliers/import", content=roster, headers={"X-API-Key": ADMIN_KEY})
        assert imported.json()["imported"] == 1, imported.text

    with running(settings, "confirm-1") as runtime:
        [asked] = sink.wait_for(1)
        assert to(asked) == ["owner@example.com"]
        assert key(asked).startswith("by-buyer|confirmation|owner@example.com|")
        assert AGENCY in str(asked.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]

        # A fitting tender: the admin-imported supplier is alerted at once, the unconfirmed address is not.
        service.handle_notice(notice("7001"))
        service.publisher.flush()
        wait_until(lambda: "by-admin|ungm:7001|1|new_match" in sent(sink), 60, "the roster supplier's alert")
        wait_until(lambda: counter(runtime, "notifier_alerts_withheld_total") >= 1, 60, "the withheld alert")
        assert not any(k.startswith("by-buyer|ungm:") for k in sent(sink))

    # A restart reads every profile again: the confirmation is found sent, not sent again.
    with running(settings, "confirm-1") as runtime:
        wait_until(lambda: counter(runtime, "notifier_duplicates_total") >= 1, 60, "the restarted notifier's look")
        assert len(confirmations(sink)) == 1

        web = TestClient(app_for(runtime))
        text = str(asked.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        [url] = re.findall(r"^(http\S+/confirm\?token=\S+?)\r?$", text, flags=re.MULTILINE)
        link = f"{urlsplit(url).path}?{urlsplit(url).query}"
        assert web.get(link).status_code == 200
        before = service.profiles.get("by-buyer")
        assert before is not None
        assert before.alert_emails() == []  # the page alone confirmed nothing
        confirmed = web.post(link, headers={"Accept": "text/html"})
        assert confirmed.status_code == 200, confirmed.text
        after = service.profiles.get("by-buyer")
        assert after is not None
        assert after.alert_emails() == ["owner@example.com"]
        assert after.email_confirmations["owner@example.com"].registered_by == AGENCY
        assert counter(runtime, "notifier_emails_confirmed_total") == 1

        # The next fitting tender reaches the confirmed address, once; still one confirmation email in all.
        service.handle_notice(notice("7002"))
        service.publisher.flush()
        wait_until(lambda: "by-buyer|ungm:7002|1|new_match" in sent(sink), 60, "the confirmed supplier's alert")
        [alert] = [m for m in sink.emails() if key(m) == "by-buyer|ungm:7002|1|new_match"]
        assert to(alert) == ["owner@example.com"]
        assert len(confirmations(sink)) == 1
        assert sent(sink).count("by-buyer|ungm:7002|1|new_match") == 1

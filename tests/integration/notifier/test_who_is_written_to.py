"""Who is written to, through the real pieces (the matcher's HTTP app over Elasticsearch and Kafka,
the notifier's worker, its store in Elasticsearch, an aiosmtpd sink of the test's own):

- confirming an address brings no backlog: a tender received before the confirmation is not alerted, even when a
  later registration re-ranks and republishes its shortlist; the next tender is;
- one address registered for three suppliers by a buyer's import gets one confirmation email (the store's gate);
- the link of a supplier deleted since shows no button (404), on GET as on POST;
- a supplier alerted about v1 and ranked out since hears of the cancellation; an address listed twice gets one copy.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from contracts import NoticeStatus
from services.notifier.entrypoints.http import app_for
from services.notifier.settings import Settings
from tests.conftest import Endpoints
from tests.integration.notifier.helpers import (
    ADMIN_KEY,
    BUYER_KEY,
    Served,
    Sink,
    TestClient,
    counter,
    glove_maker,
    isolated_settings,
    key,
    prepare,
    publish,
    running,
    sent,
    to,
    wait_until,
)
from tests.unit.notifier.factories import notice, profile, shortlist

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def link_of(message: EmailMessage) -> str:
    text = str(message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    [url] = re.findall(r"^(http\S+/confirm\?token=\S+?)\r?$", text, flags=re.MULTILINE)
    return f"{urlsplit(url).path}?{urlsplit(url).query}"


def test_no_backlog_after_a_confirmation_and_one_confirmation_per_address(
    settings: Settings, matcher: Served, sink: Sink
) -> None:
    settings = settings.model_copy(
        update={"notifier_matcher_url": matcher.url, "notifier_matcher_api_key": SecretStr(ADMIN_KEY)}
    )
    service = matcher.container.matcher
    buyer = {"X-API-Key": BUYER_KEY}
    with httpx.Client(base_url=matcher.url, timeout=60) as api, running(settings, "qa-1") as runtime:
        assert api.post("/suppliers", json=glove_maker("qa-three", "owner@example.com").model_dump(mode="json"),
                        headers=buyer).status_code == 201  # fmt: skip
        lines = "\n".join(glove_maker(f"qa-bomb-{i}", "victim@example.com").model_dump_json() for i in range(3))
        assert api.post("/suppliers/import", content=lines, headers=buyer).json()["imported"] == 3
        wait_until(lambda: counter(runtime, "notifier_confirmations_held_total") >= 2, 60, "the held confirmations")
        wait_until(lambda: len(sink.emails()) >= 2, 60, "the two confirmation emails")
        assert sorted(to(m)[0] for m in sink.emails()) == ["owner@example.com", "victim@example.com"]

        # A tender received before the owner confirms: withheld.
        service.handle_notice(notice("7101", received_at=datetime.now(UTC)))
        service.publisher.flush()
        wait_until(lambda: counter(runtime, "notifier_skipped_total", reason="unconfirmed_email") >= 1, 60, "skip")

        web = TestClient(app_for(runtime))
        [asked] = [m for m in sink.emails() if to(m) == ["owner@example.com"]]
        assert web.post(link_of(asked)).status_code == 200

        # Another supplier registers: the tender's shortlist is re-ranked and republished; still no backlog alert.
        assert api.post("/suppliers", json=glove_maker("qa-four", "four@example.com").model_dump(mode="json"),
                        headers=buyer).status_code == 201  # fmt: skip
        wait_until(
            lambda: counter(runtime, "notifier_skipped_total", reason="confirmed_after_notice") >= 1, 60, "the skip"
        )
        # The next tender reaches the confirmed address.
        service.handle_notice(notice("7102", received_at=datetime.now(UTC)))
        service.publisher.flush()
        wait_until(lambda: "qa-three|ungm:7102|1|new_match" in sent(sink), 60, "the next tender's alert")
        assert not any(k.startswith("qa-three|ungm:7101") for k in sent(sink))

        # The victim's link, once its supplier is deleted, shows no button, on GET as on POST.
        [bombed] = [m for m in sink.emails() if to(m) == ["victim@example.com"]]
        supplier = key(bombed).split("|")[0]
        assert api.delete(f"/suppliers/{supplier}", headers={"X-API-Key": ADMIN_KEY}).status_code in (200, 204)
        page = web.get(link_of(bombed))
        assert page.status_code == 404
        assert "<form" not in page.text
        assert web.post(link_of(bombed)).status_code == 404
    assert [to(m) for m in sink.emails()].count(["victim@example.com"]) == 1


def test_a_supplier_ranked_out_since_its_alert_hears_of_the_cancellation_and_one_mailbox_gets_one_copy(
    endpoints: Endpoints, unique: Callable[[str], str], sink: Sink
) -> None:
    settings = isolated_settings(endpoints, unique, sink.port)
    prepare(settings)
    publish(settings, profile("a", emails=["a@example.com", "A@example.com"]), profile("b"), profile("c"))
    with running(settings, "qa-2"):
        publish(settings, shortlist(notice("88"), ["a"]))
        sink.wait_for(1)
        publish(settings, shortlist(notice("88"), ["b"]))  # v1 re-ranked: a out, b in
        v2 = notice("88", version=2, status=NoticeStatus.AMENDED, changes=["deadline moved"])
        publish(settings, shortlist(v2, ["c"], previously=["b"]))
        v3 = notice("88", version=3, status=NoticeStatus.CANCELLED)
        publish(settings, shortlist(v3, ["c"], previously=["c"]))
        sink.wait_for(8)
    assert Counter(sink.keys()) == Counter(
        [
            "a|ungm:88|1|new_match",
            "b|ungm:88|1|new_match",
            "c|ungm:88|2|new_match",
            "b|ungm:88|2|amendment",
            "a|ungm:88|2|amendment",
            "c|ungm:88|3|cancellation",
            "a|ungm:88|3|cancellation",
            "b|ungm:88|3|cancellation",
        ]
    )
    first = next(m for m in sink.emails() if key(m) == "a|ungm:88|1|new_match")
    assert to(first) == ["a@example.com"]

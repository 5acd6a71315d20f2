"""A firm claims its award history from the public form through the real pieces: the matcher's HTTP app (profiles in
Elasticsearch, publishing to Kafka), the notifier's worker sending the confirmation email through an SMTP sink, and
its confirmation link writing the profile back to the matcher. The ABN typed on the form claims the prospect only
once the link is used; before, the prospect is untouched and the firm's profile holds nothing of it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from services.matcher.awards import import_awards
from services.notifier.entrypoints.http import app_for
from services.notifier.settings import Settings
from tests.integration.notifier.helpers import ADMIN_KEY, Served, Sink, TestClient, running, to
from tests.unit.matcher_service.award_builders import Org, Record, abn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ABN = "51824753556"


def test_the_abn_typed_on_the_form_claims_the_prospect_once_the_confirmation_link_is_used(
    settings: Settings, matcher: Served, sink: Sink
) -> None:
    settings = settings.model_copy(
        update={"notifier_matcher_url": matcher.url, "notifier_matcher_api_key": SecretStr(ADMIN_KEY)}
    )
    service = matcher.container.matcher
    import_awards(service, [Record(f"csv-austender:CN{n}", [Org("Glove Works Pty Ltd", abn(ABN))]) for n in (1, 2)])
    [prospect] = [p for p in service.profiles.all() if p.is_prospect]
    with httpx.Client(base_url=matcher.url, timeout=60) as web:
        page = web.get("/register")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        form = {
            "csrf": found.group(1),
            "company": "GW Medical",
            "country": "AU",
            "email": "sales@gw.example",
            "id_scheme": "AU-ABN",
            "id_value": "51 824 753 556",
            "description": "Nitrile examination gloves",
            "language": "en",
            "frequency": "immediate",
            "timezone": "UTC",
        }
        answer = web.post("/register", data=form)
        assert answer.status_code == 303, answer.text
    [waiting] = [p for p in service.profiles.all() if p.pending_identifiers]
    assert (waiting.past_awards, waiting.identifiers) == ([], [])
    assert service.profiles.get(prospect.supplier_id) == prospect

    with running(settings, "form-claim-1") as runtime:
        [asked] = sink.wait_for(1)
        assert to(asked) == ["sales@gw.example"]
        text = str(asked.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        [url] = re.findall(r"^(http\S+/confirm\?token=\S+?)\r?$", text, flags=re.MULTILINE)
        link = f"{urlsplit(url).path}?{urlsplit(url).query}"
        assert service.profiles.get(prospect.supplier_id) == prospect  # the email changed nothing yet
        confirmed = TestClient(app_for(runtime)).post(link, headers={"Accept": "text/html"})
        assert confirmed.status_code == 200, confirmed.text

    claimant = service.profiles.get(waiting.supplier_id)
    assert claimant is not None
    assert sorted(a.source.award_id for a in claimant.past_awards if a.source) == [
        "csv-austender:CN1",
        "csv-austender:CN2",
    ]
    assert (claimant.identifiers, claimant.pending_identifiers) == ([f"AU-ABN:{ABN}"], [])
    assert claimant.claimed_at is not None
    assert claimant.alert_emails() == ["sales@gw.example"]
    assert service.profiles.get(prospect.supplier_id) is None

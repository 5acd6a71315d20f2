"""Award records end to end over the local Kafka and Elasticsearch: published on the awards topic, consumed by the
matcher's awards worker, stored as prospects, shortlisted marked as such with their evidence, committed only then;
a bad message dead-lettered; and the notifier's rules, fed what the topics carry, email the registered supplier
and never the prospect."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaProducer

from contracts import DeadLetter, Shortlist, SupplierProfile
from services.matcher.bootstrap import Container
from services.matcher.entrypoints.awards_worker import AwardsWorker
from services.notifier.domain.rules import plan_shortlist
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import committed_total, make_settings, read_topic, stack_container
from tests.unit.matcher_service.award_builders import Org, Record, abn
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.integration


@pytest.fixture
def container(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Container]:
    with stack_container(make_settings(endpoints, unique), lambda: NOW) as c:
        yield c


def test_published_awards_become_prospects_on_shortlists_that_are_never_emailed(container: Container) -> None:
    settings = container.settings
    m = container.matcher
    m.save_profile(supplier("S1"))
    m.handle_notice(notice("1"))
    m.publisher.flush()
    award = Record("csv-austender:CN1", [Org("Glove Works Pty Ltd", abn("11 111 111 111"))])
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    for key, value in ((award.award_id, award.model_dump_json()), ("bad", "{not an award"), (award.award_id, None)):
        producer.send(settings.topic_awards, key=key.encode(), value=value.encode() if value else None)
    # The same award again (a redelivery, or ingest publishing it twice): attached once.
    producer.send(settings.topic_awards, key=award.award_id.encode(), value=award.model_dump_json().encode())
    producer.flush()
    producer.close()

    stop = threading.Event()
    worker = AwardsWorker(m, settings, stop, initial_backoff=0.2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while committed_total(settings, awards=True) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert committed_total(settings, awards=True) == 4  # every message handled, and committed only then

    [prospect] = [p for p in m.profiles.all() if p.is_prospect]
    assert prospect.identifiers == ["AU-ABN:11111111111"]
    assert len(prospect.past_awards) == 1
    [(key, letter)] = read_topic(settings.kafka_bootstrap_servers, settings.topic_awards_dlq, 1)
    assert (key, DeadLetter.model_validate_json(letter).reason) == ("bad", "invalid_json")

    stored = m.shortlists.latest("ungm:1")
    assert stored is not None
    marks = {e.supplier_id: (e.prospect, e.evidence) for e in stored.entries}
    assert marks["S1"] == (False, None)
    assert marks[prospect.supplier_id][0] is True
    assert "1 public award record (csv-austender)" in (marks[prospect.supplier_id][1] or "")

    # What the notifier reads: the latest shortlist and the profiles, from their topics.
    shortlists = [Shortlist.model_validate_json(v) for _, v in read_topic(
        settings.kafka_bootstrap_servers, settings.topic_shortlists, 2)]  # fmt: skip
    latest = shortlists[-1]
    assert prospect.supplier_id in [e.supplier_id for e in latest.entries]
    profiles: dict[str, SupplierProfile | None] = {}
    for sid, value in read_topic(settings.kafka_bootstrap_servers, settings.topic_profiles, 2):
        profiles[sid] = SupplierProfile.model_validate_json(value)
    plan = plan_shortlist(latest, profiles, set())
    assert [d.supplier_id for d in plan.send] == ["S1"]
    assert (prospect.supplier_id, "prospect") in [(s.supplier_id, s.reason) for s in plan.skip]

"""The dead-letter reader on the local Kafka: letters published by the services' own code, and a stray record,
read back through the CLI (counts, show, JSON Lines), without a consumer group."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from kafka import KafkaProducer
from typer.testing import CliRunner

from contracts import topics
from services.infra.bus import KafkaPublisher, dead_letter, ensure_topics
from services.infra.dlq import app
from tests.conftest import Endpoints

pytestmark = pytest.mark.integration


def test_dead_letters_are_counted_shown_and_exported(endpoints: Endpoints, unique: Callable[[str], str]) -> None:
    notices_dlq, mail_dlq = unique("notices.dlq"), unique("notifications.dlq")
    ensure_topics(endpoints.kafka_bootstrap, [(notices_dlq, topics.NOTICES_DLQ), (mail_dlq, topics.NOTIFICATIONS_DLQ)])
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id=unique("dlq-test"))
    for i in range(3):
        reason = "no_title" if i < 2 else "invalid_json"
        letter = dead_letter("ingest", "feed", reason, f"record r{i} has no title", f'{{"ocid": "r{i}"}}', key=f"r{i}")
        publisher.publish(notices_dlq, f"r{i}", letter)
    parked = dead_letter("notifier", "matches.shortlists", "smtp_permanent", "550 no such user", "{}", key="a|n|1")
    publisher.publish(mail_dlq, "a|n|1", parked)
    publisher.flush()
    publisher.close()
    stray = KafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap)
    stray.send(notices_dlq, key=b"x", value=b"not a dead letter")
    stray.flush()
    stray.close()

    env = {
        "TB_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "TB_TOPIC_NOTICES_DLQ": notices_dlq,
        "TB_TOPIC_SHORTLISTS_DLQ": unique("absent.dlq"),  # a topic that does not exist is skipped, not created
        "TB_TOPIC_NOTIFICATIONS_DLQ": mail_dlq,
    }
    runner = CliRunner()
    counts = runner.invoke(app, [], env=env)
    assert counts.exit_code == 0, counts.output
    lines = counts.stdout.splitlines()
    assert any("no_title" in line and " 2 " in line for line in lines), counts.stdout
    assert any("smtp_permanent" in line and " 1 " in line for line in lines), counts.stdout
    assert any("(unreadable)" in line for line in lines), counts.stdout

    shown = runner.invoke(app, ["show", "--reason", "no_title", "--json", "--limit", "0"], env=env)
    assert shown.exit_code == 0, shown.output
    exported = [json.loads(line) for line in shown.stdout.splitlines()]
    assert sorted(x["key"] for x in exported) == ["r0", "r1"]
    assert {x["payload"] for x in exported} == {'{"ocid": "r0"}', '{"ocid": "r1"}'}

    latest = runner.invoke(app, ["show", "--topic", mail_dlq], env=env)
    assert latest.exit_code == 0, latest.output
    assert "550 no such user" in latest.stdout
    assert "r0" not in latest.stdout

    bad = runner.invoke(app, ["show", "--since", "yesterday"], env=env)
    assert bad.exit_code == 2


def test_a_rejected_record_of_1_8_mb_of_chinese_is_dead_lettered_and_read_back(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    dlq = unique("notices.dlq")
    ensure_topics(endpoints.kafka_bootstrap, [(dlq, topics.NOTICES_DLQ)])
    record = ("招标公告" * 150_000).encode()  # 1,800,000 bytes: cut to characters it would still be 1.8 MB
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id=unique("dlq-test"))
    try:
        publisher.publish(dlq, "r1", dead_letter("ingest", "feed", "invalid_json", "not JSON", record, key="r1"))
        publisher.flush()
    finally:
        publisher.close()
    env = {"TB_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap}
    result = CliRunner().invoke(app, ["show", "--topic", dlq, "--json"], env=env)
    assert result.exit_code == 0, result.output
    [shown] = [json.loads(line) for line in result.stdout.splitlines()]
    head, marker = shown["payload"].rsplit("\n", 1)
    assert record.decode().startswith(head)
    assert marker.endswith("of 1,800,000 bytes (UTF-8) left out]")
    assert "payload cut" in shown["detail"]

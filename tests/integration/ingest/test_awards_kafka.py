"""Award records over the local Kafka: ``publish`` of a TED daily package (a result notice with a lot won and a lot
without a winner, and a contract notice) puts the award on the awards topic, keyed by ``award_id``, the lot without a
winner on the awards' dead-letter topic and the notice on the notices topic; a second run publishes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts import AwardRecord, DeadLetter, TenderNotice
from contracts.topics import AWARDS, AWARDS_DLQ, NOTICES, NOTICES_DLQ
from services.infra.bus import ensure_topics
from tests.conftest import REPO, Endpoints
from tests.integration.ingest.helpers import ingest_env, read_topic
from tests.unit.ingest.util import notice_xml, package, result_xml

pytestmark = pytest.mark.integration


def test_publish_puts_awards_on_their_topic_once(
    endpoints: Endpoints, unique: Callable[[str], str], tmp_path: Path
) -> None:
    notices, dlq, awards, awards_dlq = unique("notices"), unique("dlq"), unique("awards"), unique("awards-dlq")
    ensure_topics(
        endpoints.kafka_bootstrap,
        [(notices, NOTICES), (dlq, NOTICES_DLQ), (awards, AWARDS), (awards_dlq, AWARDS_DLQ)],
    )
    daily = tmp_path / "20240130.tar.gz"
    daily.write_bytes(package({"a/612681_2024.xml": notice_xml(), "a/250000_2024.xml": result_xml()}))
    env = ingest_env(
        endpoints, notices, dlq, tmp_path / "state", TB_TOPIC_AWARDS=awards, TB_TOPIC_AWARDS_DLQ=awards_dlq
    )
    cmd = [sys.executable, "-m", "services.ingest", "publish", str(daily), "--source", "eforms"]
    first = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    assert "award records published 1, unchanged 0" in first.stderr
    second = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 0, second.stderr
    assert "award records published 0, unchanged 1" in second.stderr
    assert "already dead-lettered 1" in second.stderr

    [(key, value)] = read_topic(endpoints.kafka_bootstrap, awards, 1, timeout=20)
    award = AwardRecord.model_validate_json(value)
    assert key == award.award_id == "ted:250000-2024:LOT-0001"
    assert [s.name for s in award.suppliers] == ["Salz AG", "Kies GmbH"]
    [(_, letter)] = read_topic(endpoints.kafka_bootstrap, awards_dlq, 1, timeout=15)
    assert DeadLetter.model_validate_json(letter).reason == "no_winner"
    [(notice_key, notice)] = read_topic(endpoints.kafka_bootstrap, notices, 1, timeout=15)
    assert notice_key == TenderNotice.model_validate_json(notice).notice_id == "ted:612681-2024"
    assert read_topic(endpoints.kafka_bootstrap, dlq, 1, timeout=3) == []

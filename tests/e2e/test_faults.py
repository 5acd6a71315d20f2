"""Faults in the middle of a stream of notices: every notice still gets its shortlist and every due email
arrives exactly once, counted from the Kafka topics and the SMTP sink's Maildir (``localrun.demo.Ledger``).

Each test runs on its own noida-db (fresh Kafka + Elasticsearch on free ports): faults stay private, and matching is
not slowed down by whatever the shared local stack has accumulated."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from localrun.demo import Summary
from tests.e2e.pipeline import Run, dedicated_noida, e2e_notices, pipeline_run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def assert_exactly_once(run: Run, summary: Summary, n: int, window: int = 0, said: list[str] | None = None) -> None:
    """Every notice shortlisted, every due email delivered once, nothing parked; up to ``window`` due emails may
    instead be reported ``sent`` ``unconfirmed`` and be missing (a notifier killed between a round's ``committing``
    request and its final "."s: the at-most-once window of ``services/notifier/README.md``, at most two rounds of
    ``TB_NOTIFIER_SMTP_CONNECTIONS`` emails per kill). Never a duplicate."""
    detail = f"{summary.human()}\n{run.logs_tail()}"
    if said:  # what failed ``ingest publish`` runs said (each is run again, as an operator would)
        detail += "\n--- ingest publish runs that failed\n" + "\n".join(said)
    assert summary.notices == n, detail
    assert summary.missing_inputs == [], detail
    assert summary.shortlists == n, detail
    assert summary.lost_notices == [], detail
    assert summary.due_emails > 0, detail
    assert summary.lost_emails == [], detail
    assert summary.duplicate_emails == 0, detail
    assert summary.parked_emails == 0, detail
    assert summary.lost == 0, detail
    assert len(summary.unconfirmed_undelivered) <= window, detail


def test_kill_9_matcher_then_notifier_mid_stream(tmp_path: Path) -> None:
    n = e2e_notices(2000)
    with dedicated_noida(tmp_path) as server, pipeline_run(server.config(), tmp_path / "work") as run:
        run.load_suppliers()
        publisher = run.stream(n, chunk=250)

        at_kill = run.wait_for("the first shortlists", lambda s: s.shortlists >= n // 20, timeout=300)
        run.restart("matcher", kill=True)
        assert at_kill.shortlists < n, "the matcher was killed after the stream ended: not a mid-stream crash"
        run.wait_for(
            "the restarted matcher to make progress", lambda s: s.shortlists > at_kill.shortlists + 5, timeout=60
        )

        at_kill = run.wait_for(
            "more shortlists and some emails", lambda s: s.shortlists >= n // 10 and s.emails >= 10, 300
        )
        run.restart("notifier", kill=True)
        assert at_kill.emails < at_kill.due_emails or at_kill.shortlists < n, "the notifier was killed too late"
        run.wait_for("the restarted notifier to send again", lambda s: s.emails > at_kill.emails, timeout=90)

        publisher.join(timeout=180)
        assert publisher.done, "ingest publish did not finish"
        # 2,000 notices at the matcher's ~5-8 notices/s on noida-db take minutes, not seconds.
        summary = run.settle(timeout=600)
        assert_exactly_once(run, summary, n, window=2 * 4)  # one kill -9 of the notifier, 4 SMTP connections


def test_sigterm_restart_of_matcher_and_notifier_mid_stream(tmp_path: Path) -> None:
    """A clean stop (deploys, scaling) flushes producers and commits only handled offsets: nothing lost or doubled."""
    n = e2e_notices(2000) // 10
    with dedicated_noida(tmp_path) as server, pipeline_run(server.config(), tmp_path / "work") as run:
        run.load_suppliers()
        publisher = run.stream(n, chunk=100)
        at_stop = run.wait_for("a quarter of the shortlists", lambda s: s.shortlists >= n // 4, timeout=180)
        run.restart("matcher", kill=False)
        run.restart("notifier", kill=False)
        assert at_stop.shortlists < n, "the services were restarted after the stream ended"
        publisher.join(timeout=180)
        summary = run.settle(timeout=200)
        assert_exactly_once(run, summary, n)


def test_kafka_restart_mid_stream(tmp_path: Path) -> None:
    n = e2e_notices(2000) // 5
    with dedicated_noida(tmp_path) as server, pipeline_run(server.config(), tmp_path / "work") as run:
        run.load_suppliers()
        publisher = run.stream(n, chunk=250)
        # The restart comes once every notice is on the topic, while the matcher and the notifier are mid-stream:
        # the local server can lose records it acknowledged in the instant its SIGTERM arrives (seen: 28 of the
        # last batch, acknowledged, recorded by ingest, gone after the restart), which Kafka with acks=all does not.
        at_stop = run.wait_for(
            "every notice published and a quarter of the shortlists",
            lambda s: s.notices >= n and s.shortlists >= n // 4,
            timeout=180,
        )
        server.terminate()
        time.sleep(3)
        server.start()
        assert at_stop.shortlists < n, "Kafka was restarted after the stream ended"

        publisher.join(timeout=240)
        assert publisher.done, "ingest publish did not finish"
        summary = run.settle(timeout=200)
        assert_exactly_once(run, summary, n, said=publisher.errors)


def test_smtp_down_for_a_while_then_back(tmp_path: Path) -> None:
    n = e2e_notices(2000) // 20
    with dedicated_noida(tmp_path) as server, pipeline_run(server.config(), tmp_path / "work") as run:
        run.load_suppliers(emails_every=2)
        publisher = run.stream(n, chunk=n)
        run.wait_for("the first emails", lambda s: s.emails >= 3, timeout=120)
        run.sink.stop()
        down_since = time.monotonic()
        # Down long enough that sends fail and are retried (several attempts with backoff), not so long that the
        # retry budget of the test settings (40 attempts, at most 2 s apart) runs out.
        run.wait_for("failed sends while SMTP is down", lambda s: s.event_statuses.get("failed", 0) >= 3, 60)
        while time.monotonic() - down_since < 8:
            time.sleep(0.5)
        run.sink.start()

        publisher.join(timeout=120)
        summary = run.settle(timeout=120)
        assert_exactly_once(run, summary, n)
        assert summary.event_statuses.get("failed", 0) >= 3, summary.human()


def test_elasticsearch_unreachable_matcher_backs_off_then_catches_up(tmp_path: Path) -> None:
    n = e2e_notices(2000) // 8
    with dedicated_noida(tmp_path) as server, pipeline_run(server.config(), tmp_path / "work") as run:
        run.load_suppliers()
        publisher = run.stream(n, chunk=250)
        before = run.wait_for("a quarter of the shortlists", lambda s: s.shortlists >= n // 4, timeout=180)
        assert before.shortlists < n, "Elasticsearch was stopped after the stream ended"

        server.stop_service("elasticsearch")
        try:
            time.sleep(2)  # a notice already past Elasticsearch may still be published and committed
            run.ledger.refresh()
            during_start = run.ledger.summary().shortlists
            for _ in range(8):
                time.sleep(1)
                run.ledger.refresh()
                shortlisted = run.ledger.summary().shortlists
                # Offsets are committed only for notices whose shortlist was stored and published.
                assert run.committed("matcher") <= shortlisted + len(run.ledger.shortlists_dlq)
            matcher = run.pipeline.processes["matcher"].proc
            assert matcher is not None
            assert matcher.poll() is None, f"the matcher exited instead of backing off\n{run.logs_tail()}"
            during = run.ledger.summary()
            assert during.shortlists == during_start, "shortlists were produced without Elasticsearch"
        finally:
            server.start_service("elasticsearch")

        publisher.join(timeout=180)
        summary = run.settle(timeout=240)
        assert_exactly_once(run, summary, n)
        assert summary.dead_lettered == 0, "notices were dead-lettered because Elasticsearch was away"

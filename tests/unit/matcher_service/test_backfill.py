"""The backfill re-ranks the stored notices of a period: only changed shortlists are written, only open notices'
are published, a killed run resumes where it left off, and the notifier emails nobody twice for a republished
version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import NoticeStatus, Shortlist, TenderNotice
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters.memory import InMemoryCheckpoints
from services.matcher.backfill import Backfill, Outcome, Period
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.exceptions import InvalidInput
from services.matcher.ports import NoticeCursor
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier
from tests.unit.notifier.rig import Rig, unit_settings

pytestmark = pytest.mark.unit

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


class Killed(BaseException):
    """The process dies here (kill -9): nothing after this notice runs."""


def published(i: int, **extra: object) -> TenderNotice:
    """Notice ``ungm:<i>`` published on day ``i`` of 2026 (gloves, UNSPSC 42132203)."""
    return notice(str(i), published_at=DAY0 + timedelta(days=i), **extra)  # type: ignore[arg-type]


def matcher_with(notices: list[TenderNotice], *suppliers: str) -> Container:
    c = bootstrap_in_memory(Settings(), clock=lambda: NOW)
    for sid in suppliers:
        c.matcher.profiles.put(supplier(sid))
    c.matcher.refit()
    for n in notices:
        c.matcher.handle_notice(n)
    c.matcher.publisher.flush()
    return c


def shortlists_published(c: Container) -> list[Shortlist]:
    c.matcher.publisher.flush()
    assert isinstance(c.matcher.publisher, InMemoryPublisher)
    return [s for s in c.matcher.publisher.on(c.settings.topic_shortlists) if isinstance(s, Shortlist)]


def run(
    c: Container,
    period: Period,
    checkpoints: InMemoryCheckpoints | None = None,
    *,
    page: int = 200,
    workers: int = 1,
    restart: bool = False,
) -> list[str]:
    """The notice ids the backfill looked at, in the order they were done."""
    seen: list[str] = []
    Backfill(c.matcher, checkpoints or InMemoryCheckpoints(), page=page).run(
        period, workers, restart=restart, on_notice=lambda notice_id, _: seen.append(notice_id)
    )
    return seen


def test_a_period_holds_the_notices_published_from_since_up_to_until_excluded() -> None:
    c = matcher_with([published(i) for i in range(1, 8)], "S1")
    seen = run(c, Period(DAY0 + timedelta(days=2), DAY0 + timedelta(days=5)))
    assert seen == ["ungm:2", "ungm:3", "ungm:4"]
    assert run(c, Period(DAY0 + timedelta(days=6))) == ["ungm:6", "ungm:7"]


def test_a_notice_without_a_publication_time_is_in_no_period() -> None:
    c = matcher_with([published(1), notice("undated")], "S1")
    assert run(c, Period(DAY0 - timedelta(days=3650))) == ["ungm:1"]


@pytest.mark.parametrize(
    ("since", "until", "said"),
    [
        (DAY0, DAY0, "the period is empty"),
        (DAY0, DAY0 - timedelta(days=1), "the period is empty"),
        (datetime(2026, 1, 1), None, "time zone"),  # naive: the bad input under test
    ],
)
def test_a_period_that_holds_nothing_or_has_no_time_zone_is_refused(
    since: datetime, until: datetime | None, said: str
) -> None:
    with pytest.raises(InvalidInput, match=said):
        Period(since, until)


def test_unchanged_shortlists_are_neither_stored_again_nor_republished() -> None:
    c = matcher_with([published(i) for i in range(1, 5)], "S1", "S2")
    before = shortlists_published(c)
    stored = dict(c.matcher.shortlists.shortlists)  # type: ignore[attr-defined]
    c.matcher.refit()  # the same profiles: the same model, the same shortlists
    report = Backfill(c.matcher, InMemoryCheckpoints()).run(Period(DAY0))
    assert report.outcomes == {Outcome.UNCHANGED: 4}
    assert shortlists_published(c) == before
    assert c.matcher.shortlists.shortlists == stored  # type: ignore[attr-defined]


def test_a_new_supplier_republishes_the_open_notices_it_joins_and_leaves_closed_ones_as_they_are() -> None:
    closed = published(2, deadline=NOW - timedelta(days=1), codes=("43211503",), title="Laptops")
    cancelled = published(4, status=NoticeStatus.CANCELLED, codes=("43211503",), title="Laptops")
    c = matcher_with([published(1), closed, published(3, codes=("43211503",), title="Laptops"), cancelled], "S1")
    before = len(shortlists_published(c))
    kept = {n: c.matcher.shortlists.get(n, 1) for n in ("ungm:2", "ungm:4")}
    # Stored without the matcher's reverse matching: a supplier base loaded behind its back (a restore, a bulk
    # load), which is what a backfill is for. The model is not refitted: ungm:1's scores stay as they were.
    c.matcher.profiles.put(supplier("L1", codes=("43211503",), keywords=("laptops",)))

    outcomes: dict[str, Outcome] = {}
    report = Backfill(c.matcher, InMemoryCheckpoints()).run(Period(DAY0), on_notice=outcomes.__setitem__)

    assert outcomes == {
        "ungm:1": Outcome.UNCHANGED,
        "ungm:2": Outcome.CLOSED,
        "ungm:3": Outcome.CHANGED,
        "ungm:4": Outcome.CLOSED,
    }
    assert report.total == 4
    republished = shortlists_published(c)[before:]
    assert [(s.notice_id, [e.supplier_id for e in s.entries]) for s in republished] == [("ungm:3", ["L1"])]
    assert {n: c.matcher.shortlists.get(n, 1) for n in kept} == kept


def test_a_run_killed_midway_resumes_after_the_last_checkpoint_and_skips_what_was_done() -> None:
    c = matcher_with([published(i) for i in range(1, 8)], "S1")
    checkpoints = InMemoryCheckpoints()
    looked_at: list[str] = []

    def die_on_the_fifth(notice_id: str, _: Outcome) -> None:
        looked_at.append(notice_id)
        if len(looked_at) == 5:
            raise Killed

    with pytest.raises(Killed):
        Backfill(c.matcher, checkpoints, page=2).run(Period(DAY0), on_notice=die_on_the_fifth)
    # Saved every 2 notices done: the place is after the 4th (the 5th died before it counted).
    assert checkpoints.state is not None
    assert checkpoints.state["done"] == 4
    assert checkpoints.state["after"][1] == "ungm:4"

    resumed = run(c, Period(DAY0), checkpoints, page=2)
    assert resumed == ["ungm:5", "ungm:6", "ungm:7"]
    assert checkpoints.state["finished"] is True
    assert run(c, Period(DAY0), checkpoints, page=2) == []  # a finished period: nothing to do
    assert run(c, Period(DAY0), checkpoints, page=2, restart=True) == [f"ungm:{i}" for i in range(1, 8)]


def test_a_checkpoint_of_another_period_is_refused() -> None:
    c = matcher_with([published(1)], "S1")
    checkpoints = InMemoryCheckpoints()
    run(c, Period(DAY0), checkpoints)
    with pytest.raises(InvalidInput, match="another period"):
        run(c, Period(DAY0 + timedelta(days=1)), checkpoints)


def test_workers_share_the_period_each_notice_ranked_exactly_once() -> None:
    notices = [published(i, codes=("43211503",), title="Laptops") for i in range(1, 30)]
    c = matcher_with(notices, "S1")
    before = len(shortlists_published(c))
    c.matcher.profiles.put(supplier("L1", codes=("43211503",), keywords=("laptops",)))
    checkpoints = InMemoryCheckpoints()

    seen = run(c, Period(DAY0), checkpoints, page=4, workers=3)

    assert sorted(seen) == sorted(n.notice_id for n in notices)
    republished = shortlists_published(c)[before:]
    assert sorted(s.notice_id for s in republished) == sorted(n.notice_id for n in notices)
    assert checkpoints.state is not None
    assert checkpoints.state["done"] == len(notices)
    assert checkpoints.state["after"][1] == "ungm:29"


def test_workers_below_one_are_refused() -> None:
    c = matcher_with([], "S1")
    with pytest.raises(InvalidInput, match="workers must be at least 1"):
        Backfill(c.matcher, InMemoryCheckpoints()).run(Period(DAY0), workers=0)


def test_the_fake_pages_a_period_after_a_cursor_and_counts_the_whole_period() -> None:
    c = matcher_with([published(i) for i in (3, 1, 2, 5)], "S1")
    page = c.matcher.notices.published_between(DAY0, None, NoticeCursor(DAY0 + timedelta(days=1), "ungm:1"), 2)
    assert [n.notice_id for n in page] == ["ungm:2", "ungm:3"]
    assert c.matcher.notices.count_published(DAY0, None) == 4
    assert c.matcher.notices.count_published(DAY0, DAY0 + timedelta(days=3)) == 2


def test_a_backfill_that_republishes_a_version_emails_only_the_supplier_new_on_it() -> None:
    c = matcher_with([published(1)], "S1")
    rig = Rig(unit_settings())
    rig.add(supplier("S1"), supplier("S2"))
    alerts = rig.notifier().alerts

    def deliver_new_shortlists(seen: int) -> int:
        shortlists = shortlists_published(c)
        for s in shortlists[seen:]:
            alerts.handle_shortlist(s)
        return len(shortlists)

    seen = deliver_new_shortlists(0)
    assert rig.keys_sent() == ["S1|ungm:1|1|new_match"]

    c.matcher.profiles.put(supplier("S2"))
    c.matcher.refit()
    Backfill(c.matcher, InMemoryCheckpoints()).run(Period(DAY0))
    assert len(shortlists_published(c)) == seen + 1  # the same version, republished with S2 on it
    deliver_new_shortlists(seen)
    # Delivered twice more (a redelivery, a second backfill run from scratch): still one email each.
    for s in shortlists_published(c):
        alerts.handle_shortlist(s)
    Backfill(c.matcher, InMemoryCheckpoints()).run(Period(DAY0))
    deliver_new_shortlists(0)

    assert sorted(rig.keys_sent()) == ["S1|ungm:1|1|new_match", "S2|ungm:1|1|new_match"]

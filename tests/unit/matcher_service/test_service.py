"""The matcher's application layer over the in-memory fakes: notice versions, cancellations, reverse matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import NoticeStatus, Shortlist, SupplierProfile, TenderNotice
from localrun.demodata.data import generate_notices, generate_suppliers
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters.memory import InMemoryShortlistStore
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.exceptions import AlreadyExists, NotFound
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit

SHORTLISTS = "t.shortlists"
PROFILES = "t.profiles"


@pytest.fixture
def container() -> Container:
    settings = Settings(topic_shortlists=SHORTLISTS, topic_profiles=PROFILES)
    c = bootstrap_in_memory(settings, clock=lambda: NOW)
    for p in (supplier("S1"), supplier("S2"), supplier("LAPTOP", codes=("43211503",), keywords=("laptops",))):
        c.matcher.profiles.put(p)
    return c


def published(c: Container, topic: str) -> list[object]:
    publisher = c.matcher.publisher
    assert isinstance(publisher, InMemoryPublisher)
    publisher.flush()
    return publisher.on(topic)


def ids(shortlist: Shortlist | None) -> list[str]:
    assert shortlist is not None
    return [e.supplier_id for e in shortlist.entries]


def test_a_notice_is_matched_stored_and_published(container: Container) -> None:
    shortlist = container.matcher.handle_notice(notice("1"))
    assert shortlist is not None
    assert shortlist.shortlist_id == "ungm:1@1"
    assert set(ids(shortlist)) == {"S1", "S2"}
    assert all(e.components and e.top_reasons() for e in shortlist.entries)
    assert container.matcher.shortlists.get("ungm:1", 1) == shortlist
    assert published(container, SHORTLISTS) == [shortlist]


def test_amended_version_lists_previous_suppliers_and_cancellation_tells_them(container: Container) -> None:
    m = container.matcher
    m.handle_notice(notice("1"))
    amended = m.handle_notice(notice("1", version=2, status=NoticeStatus.AMENDED, changes=["deadline moved"]))
    assert amended is not None
    assert sorted(amended.previously_shortlisted) == ["S1", "S2"]
    cancelled = m.handle_notice(notice("1", version=3, status=NoticeStatus.CANCELLED))
    assert cancelled is not None
    assert cancelled.notice_status == NoticeStatus.CANCELLED
    assert ids(cancelled) == ids(amended)
    assert [s.notice_version for s in published(container, SHORTLISTS)] == [1, 2, 3]  # type: ignore[attr-defined]


def test_an_older_version_after_a_newer_one_is_ignored(container: Container) -> None:
    m = container.matcher
    m.handle_notice(notice("1", version=2, title="Gloves, amended"))
    assert m.handle_notice(notice("1", version=1)) is None
    stored = m.notices.get("ungm:1")
    assert stored is not None
    assert stored.version == 2
    assert len(published(container, SHORTLISTS)) == 1


def test_a_redelivered_version_republishes_the_stored_shortlist(container: Container) -> None:
    m = container.matcher
    first = m.handle_notice(notice("1"))
    m.profiles.put(supplier("S3"))  # a new profile must not change an already matched version on redelivery
    again = m.handle_notice(notice("1"))
    assert again == first
    assert published(container, SHORTLISTS) == [first, first]


class StoredMeanwhile(InMemoryShortlistStore):
    """The shortlists as one replica sees them when another stores its shortlist of the same notice version between
    this one's read (none yet) and its write: a partition handed over while its old owner still works on a batch."""

    def __init__(self, theirs: Shortlist) -> None:
        super().__init__()
        self.theirs = theirs

    def get(self, notice_id: str, version: int) -> Shortlist | None:
        found = super().get(notice_id, version)
        if found is None:
            self.add(self.theirs)
        return found


def test_two_replicas_ranking_one_version_at_once_store_and_publish_the_first_shortlist_stored() -> None:
    def replica(at: datetime) -> Container:
        c = bootstrap_in_memory(Settings(topic_shortlists=SHORTLISTS, topic_profiles=PROFILES), clock=lambda: at)
        for p in (supplier("S1"), supplier("S2")):
            c.matcher.profiles.put(p)
        return c

    other = replica(NOW).matcher.handle_notice(notice("1"))
    assert other is not None
    late = replica(NOW + timedelta(seconds=5))
    late.matcher.shortlists = StoredMeanwhile(other)
    assert late.matcher.handle_notice(notice("1")) == other
    assert late.matcher.shortlists.get(other.notice_id, 1) == other
    assert published(late, SHORTLISTS) == [other]  # the same message as the other replica's, not a second ranking
    assert late.registry.get_sample_value("matcher_notices_matched_total", {"status": "active"}) in (None, 0)


def test_a_new_profile_is_added_to_open_notices_for_the_same_version(container: Container) -> None:
    m = container.matcher
    m.handle_notice(notice("open"))
    m.handle_notice(notice("closed", deadline=NOW - timedelta(days=1)))
    m.handle_notice(notice("laptops", title="Laptop computers", codes=("43211503",)))
    before = len(published(container, SHORTLISTS))

    saved, changed = m.create_profile(supplier("NEW"))
    assert changed == 1
    republished = published(container, SHORTLISTS)[before:]
    assert len(republished) == 1
    sl = republished[0]
    assert isinstance(sl, Shortlist)
    assert (sl.notice_id, sl.notice_version) == ("ungm:open", 1)
    assert "NEW" in ids(sl)
    assert "NEW" in ids(m.shortlists.get("ungm:open", 1))
    assert published(container, PROFILES) == [saved]


def test_a_deleted_or_changed_supplier_leaves_the_open_shortlists(container: Container) -> None:
    m = container.matcher
    m.handle_notice(notice("open"))
    closed = m.handle_notice(notice("closed", deadline=NOW - timedelta(days=1)))
    assert ids(m.shortlists.get("ungm:open", 1)) == ["S1", "S2"]

    m.save_profile(supplier("S2", codes=("43211503",), keywords=("laptops",)))  # now sells something else
    assert ids(m.shortlists.get("ungm:open", 1)) == ["S1"]
    m.delete_profile("S1")
    assert ids(m.shortlists.get("ungm:open", 1)) == []
    assert m.shortlists.get("ungm:closed", 1) == closed  # a closed notice's record stays as it was


def test_profile_create_update_delete(container: Container) -> None:
    m = container.matcher
    with pytest.raises(AlreadyExists):
        m.create_profile(supplier("S1"))
    updated = m.update_preferences("S1", {"unsubscribed": True})
    assert updated.preferences.unsubscribed is True
    stored = m.profiles.get("S1")
    assert stored is not None
    assert stored.preferences.unsubscribed
    assert stored.keywords == ["gloves"]  # untouched fields stay
    m.delete_profile("S1")
    assert m.profiles.get("S1") is None
    assert published(container, PROFILES)[-1] is None  # tombstone
    with pytest.raises(NotFound):
        m.delete_profile("S1")


def test_an_unsubscribed_or_ineligible_supplier_is_excluded_with_a_reason() -> None:
    settings = Settings(matcher_ineligible_suppliers=["BANNED"])
    c = bootstrap_in_memory(settings, clock=lambda: NOW)
    c.matcher.profiles.put(supplier("OK"))
    c.matcher.profiles.put(supplier("BANNED"))
    shortlist = c.matcher.handle_notice(notice("1"))
    assert ids(shortlist) == ["OK"]
    assert shortlist is not None
    assert [x.supplier_id for x in shortlist.exclusions] == ["BANNED"]


def test_refit_fits_a_model_over_the_stored_profiles(container: Container) -> None:
    assert container.matcher.model is None
    container.matcher.refit()
    assert container.matcher.model is not None
    empty = bootstrap_in_memory(Settings(), clock=lambda: NOW)
    empty.matcher.refit()  # nothing to fit on: keeps ranking with the configured weights
    assert empty.matcher.model is None


def test_the_model_is_refitted_after_enough_profile_changes() -> None:
    c = bootstrap_in_memory(Settings(matcher_refit_every_changes=2), clock=lambda: NOW)
    assert not c.matcher.refit_if_due(interval_seconds=0)
    c.matcher.save_profile(supplier("A"))
    assert not c.matcher.refit_if_due(interval_seconds=0)
    c.matcher.save_profile(supplier("B"))
    assert c.matcher.refit_if_due(interval_seconds=0)
    assert c.matcher.model is not None
    assert not c.matcher.refit_if_due(interval_seconds=0)  # the counter starts again


def test_rematch_of_unknown_notice_is_not_found(container: Container) -> None:
    with pytest.raises(NotFound):
        container.matcher.rematch("ungm:nope")


def test_import_stores_and_publishes_every_profile(container: Container) -> None:
    profiles: list[SupplierProfile] = [supplier(f"I{i}") for i in range(3)]
    assert container.matcher.import_profiles(profiles).stored == 3
    assert [p.supplier_id for p in published(container, PROFILES)] == ["I0", "I1", "I2"]  # type: ignore[union-attr]


def reverse_rematches(c: Container) -> float:
    """Open notices re-ranked because a profile changed, as ``/metrics`` reports them."""
    return c.registry.get_sample_value("matcher_reverse_rematches_total") or 0.0


def test_reimporting_the_same_roster_writes_publishes_and_rematches_nothing(container: Container) -> None:
    m = container.matcher
    m.handle_notice(notice("1"))
    roster = [supplier("S1"), supplier("S2", keywords=("masks",)), supplier("NEW")]
    first = m.import_profiles(roster)
    assert (first.stored, first.unchanged) == (2, 1)  # S1 as stored already; S2 changed; NEW created
    before = len(published(container, PROFILES)), len(published(container, SHORTLISTS))
    rematches = reverse_rematches(container)
    again = m.import_profiles(roster)
    assert (again.stored, again.unchanged) == (0, 3)
    assert (len(published(container, PROFILES)), len(published(container, SHORTLISTS))) == before
    assert reverse_rematches(container) == rematches


def test_a_reimport_does_not_resubscribe_a_supplier_who_unsubscribed(container: Container) -> None:
    m = container.matcher
    m.update_preferences("S1", {"unsubscribed": True})
    counts = m.import_profiles([supplier("S1"), supplier("S1", keywords=("gloves", "masks"))])
    assert counts.stored == 1
    stored = m.profiles.get("S1")
    assert stored is not None
    assert stored.keywords == ["gloves", "masks"]
    assert stored.preferences.unsubscribed


def matched_world() -> tuple[Container, list[SupplierProfile], list[TenderNotice]]:
    """60 generated suppliers of which 45 are stored, and 15 open notices matched against those 45."""
    now = datetime(2026, 5, 1, tzinfo=UTC)
    c = bootstrap_in_memory(Settings(), clock=lambda: now)
    profiles = generate_suppliers(60, seed=5)
    c.matcher.profiles.put_many(profiles[:45])
    notices = generate_notices(15, seed=5, now=now)
    for n in notices:
        c.matcher.handle_notice(n)
    return c, profiles, notices


def assert_as_a_full_rematch(c: Container, notices: list[TenderNotice]) -> None:
    for n in notices:
        stored = c.matcher.shortlists.get(n.notice_id, n.version)
        assert stored is not None
        full = c.matcher._match(n, previous_ids=[])
        assert [(e.supplier_id, e.total_score) for e in stored.entries] == [
            (e.supplier_id, e.total_score) for e in full.entries
        ], n.notice_id


def test_a_batch_import_gives_the_shortlists_a_full_rematch_would() -> None:
    """New suppliers and changed ones (some leave the notices they were on) imported in one batch: every open
    notice concerned is re-ranked once, and ends as a full re-match of the notice would rank it."""
    c, profiles, notices = matched_world()

    def placed() -> set[tuple[str, str]]:
        shortlists = [c.matcher.shortlists.get(n.notice_id, n.version) for n in notices]
        return {(s.notice_id, e.supplier_id) for s in shortlists if s is not None for e in s.entries}

    listed = {supplier_id for _, supplier_id in placed()}
    moved = [p for p in profiles[:45] if p.supplier_id in listed][:5]
    before = {pair for pair in placed() if pair[1] in {p.supplier_id for p in moved}}
    assert moved
    changed = [p.model_copy(update={"codes": [], "keywords": ["bicycles"]}) for p in moved]
    rematches = reverse_rematches(c)
    counts = c.matcher.import_profiles([*profiles[45:], *changed])
    assert counts.stored == 15 + len(changed)
    reranked = reverse_rematches(c) - rematches
    assert 0 < reranked <= len(notices)  # once per notice concerned, not once per supplier
    assert_as_a_full_rematch(c, notices)
    after = {pair for pair in placed() if pair[1] in {p.supplier_id for p in moved}}
    assert after < before  # without their codes and keywords they left some shortlists


def test_reverse_matching_gives_the_shortlists_a_full_rematch_would() -> None:
    c, profiles, notices = matched_world()
    changed = sum(c.matcher.save_profile(p)[1] for p in profiles[45:])
    assert changed > 0  # the late suppliers did join some open shortlists
    assert_as_a_full_rematch(c, notices)


def test_a_delivery_preference_change_is_saved_without_rematching(container: Container) -> None:
    m = container.matcher
    m.handle_notice(notice("1"))
    shortlists_before = len(published(container, SHORTLISTS))
    rematches = reverse_rematches(container)
    saved = m.update_preferences("S1", {"frequency": "daily_digest", "language": "zh-Hans", "digest_hour": 6})
    assert (saved.preferences.frequency, saved.preferences.digest_hour) == ("daily_digest", 6)
    assert saved.updated_at == NOW
    assert m.profiles.get("S1") == saved
    assert published(container, PROFILES)[-1] == saved
    assert reverse_rematches(container) == rematches  # how and when to write moves nobody on a shortlist
    # The supplier's own choices: a roster re-import leaves them (merge_import).
    assert saved.set_by_supplier == {f"preferences.{k}": NOW for k in ("frequency", "language", "digest_hour")}
    assert len(published(container, SHORTLISTS)) == shortlists_before

    m.update_preferences("S1", {"unsubscribed": True})  # a preference rule: the open notices are ranked again
    assert reverse_rematches(container) > rematches
    current = m.shortlists.get("ungm:1", 1)
    assert current is not None
    assert "S1" not in ids(current)
    [excluded] = [x for x in current.exclusions if x.supplier_id == "S1"]
    assert excluded.reason == "the supplier has unsubscribed from alerts"


def test_an_unsubscribe_re_ranks_only_the_notices_that_list_the_supplier(container: Container) -> None:
    from contracts import AlertPreferences

    m = container.matcher
    m.profiles.put(supplier("S1", preferences=AlertPreferences(countries=["VN"])))
    m.handle_notice(notice("1"))  # S1 fits and is listed
    m.handle_notice(notice("2", delivery_countries=["KE"]))  # S1 fits, but its own preferences exclude it
    assert "S1" in ids(m.shortlists.get("ungm:1", 1))
    assert "S1" not in ids(m.shortlists.get("ungm:2", 1))
    rematches = reverse_rematches(container)
    m.update_preferences("S1", {"unsubscribed": True})
    assert reverse_rematches(container) - rematches == 1  # ungm:1 only: nothing else can change
    assert "S1" not in ids(m.shortlists.get("ungm:1", 1))
    assert_as_a_full_rematch(container, [notice("1"), notice("2", delivery_countries=["KE"])])


def test_rerank_open_republishes_only_the_shortlists_that_changed(container: Container) -> None:
    m = container.matcher
    m.handle_notice(notice("1"))
    m.handle_notice(notice("2", title="Laptops", codes=("43211503",)))
    m.handle_notice(notice("3", deadline=NOW - timedelta(days=1)))  # closed: left as it is
    m.handle_notice(notice("4", status=NoticeStatus.CANCELLED))
    before = len(published(container, SHORTLISTS))
    # A shortlist stored by an older matcher: same ranking, other reason text.
    old = m.shortlists.get("ungm:1", 1)
    assert old is not None
    entries = [
        e.model_copy(update={"components": [c.model_copy(update={"reason": "older wording"}) for c in e.components]})
        for e in old.entries
    ]
    m.shortlists.put(old.model_copy(update={"entries": entries}))

    counts = m.rerank_open()

    assert (counts.ranked, counts.changed) == (2, 1)
    republished = published(container, SHORTLISTS)[before:]
    assert [s.notice_id for s in republished if isinstance(s, Shortlist)] == ["ungm:1"]
    fresh = m.shortlists.get("ungm:1", 1)
    assert fresh is not None
    assert fresh.entries != entries
    assert ids(fresh) == ids(old)
    # Nothing left to change: a second run publishes nothing.
    before = len(published(container, SHORTLISTS))
    assert m.rerank_open().changed == 0
    assert len(published(container, SHORTLISTS)) == before


def test_rerank_open_by_id_says_which_notices_are_not_open_or_unknown(container: Container) -> None:
    m = container.matcher
    m.handle_notice(notice("1"))
    m.handle_notice(notice("3", deadline=NOW - timedelta(days=1)))
    looked: list[None] = []
    counts = m.rerank_open(["ungm:1", "ungm:3", "ungm:nope"], progress=lambda: looked.append(None))
    assert (counts.ranked, counts.changed) == (1, 0)
    assert counts.not_open == ("ungm:3",)
    assert counts.missing == ("ungm:nope",)
    assert len(looked) == 1

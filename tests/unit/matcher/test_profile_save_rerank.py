"""F1a: a profile write that changes nothing matching reads (the notifier's write-back of a confirmation, a change of
delivery preferences, the same profile again) re-ranks no notice, so no shortlist is republished for it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import SupplierProfile
from contracts.shortlist import Shortlist, ShortlistEntry
from contracts.supplier import EmailConfirmation
from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.service import matching_changed
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit

SHORTLISTS = "t.shortlists"


@pytest.fixture
def container() -> Container:
    c = bootstrap_in_memory(Settings(topic_shortlists=SHORTLISTS, topic_profiles="t.profiles"), clock=lambda: NOW)
    c.matcher.profiles.put(supplier("S2"))
    c.matcher.handle_notice(notice("1"))
    c.matcher.handle_notice(notice("2", title="Latex surgical gloves"))
    return c


def shortlists_published(c: Container) -> int:
    publisher = c.matcher.publisher
    assert isinstance(publisher, InMemoryPublisher)
    publisher.flush()
    return len(publisher.on(SHORTLISTS))


def waiting(profile: SupplierProfile) -> SupplierProfile:
    entry = EmailConfirmation(registered_by="UNICEF", registered_at=NOW - timedelta(days=1))
    return profile.model_copy(update={"email_confirmations": {profile.emails[0]: entry}})


def test_a_confirmation_write_back_rematches_nothing(container: Container) -> None:
    m = container.matcher
    registered, rematched = m.save_profile(supplier("S1"), registered_by="UNICEF")
    assert rematched == 2  # a new supplier joins both open shortlists
    assert registered.unconfirmed_emails() == ["s1@example.com"]
    shortlists, rerankings = shortlists_published(container), rerankings_of(container)
    address = registered.emails[0]
    done = registered.email_confirmations[address].model_copy(update={"confirmed_at": NOW})
    confirmed = registered.model_copy(update={"email_confirmations": {address: done}})
    saved, rematched = m.save_profile(confirmed)  # the notifier's PUT (admin key)
    assert saved.alert_emails() == [address]
    assert rematched == 0
    assert rerankings_of(container) == rerankings
    assert shortlists_published(container) == shortlists


def rerankings_of(c: Container) -> float:
    """Profile changes that re-ranked open notices, as ``/metrics`` reports them."""
    return c.registry.get_sample_value("matcher_reverse_rematches_total") or 0.0


def published(c: Container) -> list[Shortlist]:
    publisher = c.matcher.publisher
    assert isinstance(publisher, InMemoryPublisher)
    publisher.flush()
    return [s for s in publisher.on(SHORTLISTS) if isinstance(s, Shortlist)]


def entry_of(shortlist: Shortlist, supplier_id: str) -> ShortlistEntry:
    return next(e for e in shortlist.entries if e.supplier_id == supplier_id)


def test_a_change_of_what_matching_reads_republishes_the_shortlist_it_moves(container: Container) -> None:
    m = container.matcher
    m.save_profile(supplier("S1"))
    so_far = published(container)
    before = {s.notice_id: s for s in so_far}  # the latest of each notice
    rerankings = rerankings_of(container)
    _, rematched = m.save_profile(supplier("S1", keywords=("gloves", "latex")))
    assert rerankings_of(container) > rerankings
    # "latex" is in the title of the latex gloves notice only: that shortlist changes and is republished, the
    # nitrile gloves notice's is not (the supplier's entry there reads as before).
    assert rematched == 1
    again = published(container)[len(so_far) :]
    assert [s.notice_id for s in again] == ["ungm:2"]
    old, new = entry_of(before["ungm:2"], "S1"), entry_of(again[0], "S1")
    assert new.total_score > old.total_score
    assert "latex" in next(c.reason for c in new.components if c.name == "text").lower()


def test_matching_changed_tells_matching_fields_from_the_others() -> None:
    base = supplier("S1")
    prefs = base.preferences.model_copy(update={"language": "zh-Hans", "digest_hour": 6})
    assert not matching_changed(base, waiting(base))
    assert not matching_changed(base, base.model_copy(update={"preferences": prefs, "updated_at": NOW}))
    assert not matching_changed(base, base.model_copy(update={"set_by_supplier": {"keywords": NOW}}))
    assert matching_changed(base, supplier("S1", keywords=("masks",)))
    assert matching_changed(base, base.model_copy(update={"names": {"en": "Renamed"}}))
    countries = base.preferences.model_copy(update={"countries": ["KE"]})
    assert matching_changed(base, base.model_copy(update={"preferences": countries}))

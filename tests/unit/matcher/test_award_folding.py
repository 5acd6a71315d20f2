"""A profile at the size limit keeps gaining awards: its oldest awards are folded (evidence details, then
descriptions, then the oldest dropped), the most recent keep everything, and what scoring counts stays."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from contracts import SupplierProfile
from services.matcher.awards import import_awards
from services.matcher.bootstrap import bootstrap_in_memory
from services.matcher.domain.awards import FULL_EVIDENCE_AWARDS, apply_awards, fit_awards
from services.matcher.domain.resolve import Resolver
from services.matcher.domain.scoring import supplier_stats
from services.matcher.service import ProfileLimits
from services.matcher.settings import Settings
from tests.unit.matcher_service.award_builders import Org, Record, abn
from tests.unit.matcher_service.builders import NOW

pytestmark = pytest.mark.unit

ABN = "47001407281"
FIRST = date(2020, 1, 1)
size = ProfileLimits.size


def records(n: int, start: int = 0) -> list[Record]:  # type: ignore[valid-type]
    """``n`` awards to the same firm, a day apart, the later ones newer."""
    return [
        Record(
            f"csv-austender:CN{i}",
            [Org("Hays Specialist Recruitment Pty Ltd", abn(ABN))],
            source_url=f"https://www.tenders.gov.au/Cn/Show/{i}?with=a-long-query-string-as-portals-write-them",
            awarded_on=FIRST + timedelta(days=i),
        )
        for i in range(start, start + n)
    ]


def profile_with(n: int) -> SupplierProfile:
    [profile] = apply_awards(records(n), {}, Resolver()).profiles.values()
    return profile


def newest(profile: SupplierProfile, n: int) -> list[object]:
    return sorted(profile.past_awards, key=lambda a: a.date, reverse=True)[:n]


def scoring_view(profile: SupplierProfile) -> tuple[object, ...]:
    s = supplier_stats(profile)
    return (s.n_awards, s.tag_count, s.agency_count, s.last_award, s.value_currency, s.log_value_median)


def test_a_profile_that_fits_is_left_as_it_is() -> None:
    profile = profile_with(150)
    fitted = fit_awards(profile, size(profile), size)
    assert fitted.profile is profile
    assert (fitted.folded, fitted.dropped) == (0, 0)


def test_older_awards_lose_their_evidence_details_first_and_scoring_counts_them_all() -> None:
    profile = profile_with(300)
    fitted = fit_awards(profile, size(profile) - 1, size)
    assert size(fitted.profile) < size(profile) - 1
    assert (fitted.folded, fitted.dropped) == (300 - FULL_EVIDENCE_AWARDS, 0)
    assert newest(fitted.profile, FULL_EVIDENCE_AWARDS) == newest(profile, FULL_EVIDENCE_AWARDS)
    older = sorted(fitted.profile.past_awards, key=lambda a: a.date)[: 300 - FULL_EVIDENCE_AWARDS]
    assert all(a.source is not None and a.source.url is None and a.source.explanation == "" for a in older)
    assert all(a.description == "Nitrile examination gloves" for a in older)  # step 1 keeps the wording
    # Every award still known by its record (a record read again is not added twice) and counted by scoring.
    assert {a.source.award_id for a in fitted.profile.past_awards if a.source} == {
        a.source.award_id for a in profile.past_awards if a.source
    }
    assert scoring_view(fitted.profile) == scoring_view(profile)


def test_a_profile_still_too_big_drops_its_oldest_awards_and_keeps_the_recent_ones_whole() -> None:
    profile = profile_with(300)
    limit = size(profile) // 2
    fitted = fit_awards(profile, limit, size)
    assert size(fitted.profile) <= limit
    assert fitted.dropped > 0
    assert len(fitted.profile.past_awards) == 300 - fitted.dropped
    assert newest(fitted.profile, FULL_EVIDENCE_AWARDS) == newest(profile, FULL_EVIDENCE_AWARDS)
    kept = {a.date for a in fitted.profile.past_awards}
    gone = {a.date for a in profile.past_awards} - kept
    assert max(gone) < min(kept)  # the oldest went
    # The fewest that fit: one award fewer dropped would not.
    one_more = sorted(profile.past_awards, key=lambda a: a.date)[fitted.dropped - 1]
    assert size(fitted.profile.model_copy(update={"past_awards": [one_more, *fitted.profile.past_awards]})) > limit
    # Read again, a dropped record is dropped again: nothing changes.
    back = fitted.profile.model_copy(update={"past_awards": [*fitted.profile.past_awards, one_more]})
    assert fit_awards(back, limit, size).profile == fitted.profile
    # Before dropping any, the older awards lost their descriptions too; scoring still counts their codes.
    older = sorted(fitted.profile.past_awards, key=lambda a: a.date)[: len(kept) - FULL_EVIDENCE_AWARDS]
    assert older
    assert all(a.description == "" and a.classification is not None for a in older)


def test_an_import_into_a_profile_at_the_limit_keeps_adding_the_new_awards() -> None:
    first = profile_with(160)
    limit = size(first) - 1
    c = bootstrap_in_memory(Settings(matcher_max_profile_bytes=limit), clock=lambda: NOW)
    report = import_awards(c.matcher, records(160), batch=50)
    assert report.refused == ()
    [(supplier_id, folded, _dropped)] = report.folded
    assert folded > 0
    later = import_awards(c.matcher, records(5, start=160))
    assert later.refused == ()
    stored = c.matcher.profiles.get(supplier_id)
    assert stored is not None
    ids = {a.source.award_id for a in stored.past_awards if a.source}
    assert {f"csv-austender:CN{i}" for i in range(160, 165)} <= ids
    assert size(stored) <= limit
    # The same records again change nothing.
    assert import_awards(c.matcher, records(5, start=160)).stored == 0

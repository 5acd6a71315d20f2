"""Award records -> supplier profiles: a PastAward with its evidence per award, prospects for firms known only from
awards, claims, operator splits, and the import through the matcher's ports (in-memory bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest

from contracts import Classification, CodeScheme, Money, SupplierProfile
from contracts.supplier import ProfileOrigin
from services.infra.bus import InMemoryPublisher
from services.matcher.awards import import_awards
from services.matcher.bootstrap import bootstrap_in_memory
from services.matcher.domain.awards import (
    UNKNOWN_COUNTRY,
    apply_awards,
    claim,
    prospect_note,
    seed,
    split_awards,
    winners,
    without_awards,
)
from services.matcher.domain.resolve import Resolver
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice

pytestmark = pytest.mark.unit


# The shape of contracts.award.AwardRecord that the matcher reads (AwardLike), as plain records.
@dataclass(frozen=True)
class OrgId:
    scheme: str
    id: str


@dataclass(frozen=True)
class Address:
    country: str | None = None


@dataclass(frozen=True)
class Org:
    name: str
    identifiers: list[OrgId] = field(default_factory=list)
    country: str | None = "AU"
    address: Address | None = None


@dataclass(frozen=True)
class Buyer:
    name: str


@dataclass(frozen=True)
class Tender:
    title: str | None = "Nitrile examination gloves"
    description: str = ""
    classifications: list[Classification] = field(
        default_factory=lambda: [Classification(scheme=CodeScheme.UNSPSC, code="42132203")]
    )


@dataclass(frozen=True)
class Record:
    award_id: str
    suppliers: list[Org]
    source: str = "csv-austender"
    source_url: str | None = "https://www.tenders.gov.au/Cn/Show/1"
    tender: Tender = field(default_factory=Tender)
    buyer: Buyer | None = field(default_factory=lambda: Buyer("Department of Health"))
    lot_title: str | None = None
    value: Money | None = field(default_factory=lambda: Money(amount=1000.0, currency="AUD"))
    awarded_on: date | None = date(2024, 3, 1)
    contract_signed_on: date | None = None
    received_at: datetime | None = None


def abn(value: str) -> list[OrgId]:
    return [OrgId("AU-ABN", value)]


def registered(sid: str, name: str, **extra: object) -> SupplierProfile:
    return SupplierProfile.model_validate(
        {"supplier_id": sid, "names": {"en": name}, "country": "AU", "emails": [f"{sid}@example.com"], **extra}
    )


def test_a_consortium_gives_each_member_the_award_and_identifiers_are_normalised() -> None:
    record = Record("csv-austender:CN1", [Org("Alpha Pty Ltd", abn("12 345 678 901")), Org("Beta GmbH", [], "DE")])
    alpha, beta = winners(record)
    assert (alpha.record_id, beta.record_id) == ("csv-austender:CN1#1", "csv-austender:CN1#2")
    assert [str(i) for i in alpha.identifiers] == ["AU-ABN:12345678901"]
    assert beta.country == "DE"


def test_a_firm_known_only_from_awards_becomes_a_prospect_with_its_evidence() -> None:
    records = [
        Record("csv-austender:CN1", [Org("HAYS SPECIALIST RECRUITMENT GROUP P/L", abn("47001407281"))]),
        Record("csv-austender:CN2", [Org("Hays Specialist Recruitment", [])], awarded_on=date(2024, 4, 2)),
        Record("csv-austender:CN3", [Org("宁波医疗器械有限公司", [], "China")]),
    ]
    result = apply_awards(records, {}, Resolver())
    hays, ningbo = result.profiles.values()
    assert hays.is_prospect
    assert ningbo.is_prospect
    assert hays.names == {"en": "HAYS SPECIALIST RECRUITMENT GROUP P/L"}
    assert hays.identifiers == ["AU-ABN:47001407281"]
    assert [a.date for a in hays.past_awards] == [date(2024, 3, 1), date(2024, 4, 2)]
    second = hays.past_awards[1].source
    assert second is not None
    assert (second.award_id, second.matched_by, second.winner_name) == (
        "csv-austender:CN2",
        "name_core",
        "Hays Specialist Recruitment",
    )
    assert "but for generic words" in second.explanation
    assert [c.code for c in hays.codes] == ["42132203"]
    assert ningbo.names == {"zh-Hans": "宁波医疗器械有限公司"}
    assert ningbo.country == UNKNOWN_COUNTRY


def test_an_award_joins_the_registered_profile_with_its_identifier_and_keeps_its_declared_codes() -> None:
    stored = registered("sup-1", "Data#3 Limited", identifiers=["AU-ABN:31010545267"], codes=[])
    resolver = Resolver()
    seed(resolver, [stored])
    record = Record("csv-austender:CN9", [Org("DATA 3 GROUP", abn("31 010 545 267"))])
    result = apply_awards([record], {"sup-1": stored}, resolver)
    profile = result.profiles["sup-1"]
    assert profile.origin == ProfileOrigin.REGISTERED
    assert profile.codes == []
    [award] = profile.past_awards
    assert award.source is not None
    assert award.source.matched_by == "identifier"
    assert award.agency == "Department of Health"


def test_reading_the_same_record_again_attaches_nothing_twice() -> None:
    record = Record("csv-austender:CN1", [Org("Acme Pty Ltd")])
    first = apply_awards([record], {}, Resolver())
    stored = dict(first.profiles)
    resolver = Resolver()
    seed(resolver, stored.values())
    again = apply_awards([record], stored, resolver)
    assert again.profiles == {}
    assert [d.rule for d in again.decisions] == ["recorded"]


def test_a_record_without_any_date_is_skipped_with_the_reason() -> None:
    record = Record("csv-austender:CN1", [Org("Acme Pty Ltd")], awarded_on=None)
    result = apply_awards([record], {}, Resolver())
    assert result.profiles == {}
    assert result.skipped == [("csv-austender:CN1", "no_date")]


def test_a_prospect_claimed_by_its_firm_becomes_a_normal_profile() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    [found] = apply_awards([Record("csv-austender:CN1", [Org("Acme Pty Ltd", abn("1"))])], {}, Resolver()).prospects
    claimed = claim(found, None, at)
    assert (claimed.supplier_id, claimed.is_prospect, claimed.claimed_at) == (found.supplier_id, False, at)
    own = registered("acme", "ACME", identifiers=["AU-ACN:9"])
    merged = claim(found, own, at)
    assert merged.supplier_id == "acme"
    assert merged.emails == ["acme@example.com"]
    assert merged.identifiers == ["AU-ACN:9", "AU-ABN:1"]
    assert len(merged.past_awards) == 1
    with pytest.raises(ValueError, match="is not a prospect"):
        claim(merged, None, at)


def test_an_operator_split_moves_awards_to_their_own_prospect_and_the_next_import_respects_it() -> None:
    records = [
        Record("csv-austender:CN1", [Org("Hyperion IT Pty Ltd", abn("99638137283"))]),
        Record("csv-austender:CN2", [Org("Twiggit Pty Ltd", abn("99638137283"))]),
    ]
    [hyperion] = apply_awards(records, {}, Resolver()).prospects
    twiggit = split_awards(hyperion, ["csv-austender:CN2"], "twiggit", reason="a different firm")
    hyperion = without_awards(hyperion, ["csv-austender:CN2"])
    assert [a.source.award_id for a in hyperion.past_awards if a.source] == ["csv-austender:CN1"]
    [moved] = twiggit.past_awards
    assert moved.source is not None
    assert moved.source.matched_by == "operator"
    assert "a different firm" in moved.source.explanation
    assert twiggit.names == {"en": "Twiggit Pty Ltd"}

    stored = {p.supplier_id: p for p in (hyperion, twiggit)}
    resolver = Resolver()
    seed(resolver, stored.values())
    again = apply_awards([*records, Record("csv-austender:CN3", [Org("TWIGGIT PTY LIMITED")])], stored, resolver)
    assert [d.entity_id for d in again.decisions] == [hyperion.supplier_id, "twiggit", "twiggit"]
    with pytest.raises(ValueError, match="awards not on supplier"):
        split_awards(hyperion, ["csv-austender:CN2"], "other", reason="twice")


def test_import_awards_stores_publishes_and_shortlists_prospects_and_leaves_registered_fields_alone() -> None:
    settings = Settings(topic_profiles="t.profiles", topic_shortlists="t.shortlists")
    publisher = InMemoryPublisher()
    c = bootstrap_in_memory(settings, clock=lambda: NOW, publisher=publisher)
    own = registered("sup-1", "Ningbo Medical Co., Ltd.", keywords=["nitrile gloves"], identifiers=["CN-USCC:91330200"])
    c.matcher.profiles.put(own)
    c.matcher.handle_notice(notice("1"))
    records = [
        Record("ocds-x:1", [Org("NINGBO MEDICAL CO LTD", [OrgId("USCC", "9133 0200")], "CN")]),
        Record("ocds-x:2", [Org("Glove Works Pty Ltd", abn("11 111 111 111"))]),
    ]

    report = import_awards(c.matcher, records)

    assert (report.winners, report.prospects, report.stored) == (2, 1, 2)
    assert [d.rule for d in report.merges] == ["identifier"]
    kept = c.matcher.profiles.get("sup-1")
    assert kept is not None
    assert (kept.keywords, kept.emails, kept.is_prospect) == (own.keywords, own.emails, False)
    assert len(kept.past_awards) == 1
    [prospect] = [p for p in c.matcher.profiles.all() if p.is_prospect]
    assert prospect.names == {"en": "Glove Works Pty Ltd"}
    publisher.flush()
    assert {getattr(p, "supplier_id", None) for p in publisher.on("t.profiles")} == {"sup-1", prospect.supplier_id}
    shortlist = c.matcher.shortlists.latest("ungm:1")
    assert shortlist is not None
    assert prospect.supplier_id in [e.supplier_id for e in shortlist.entries]

    again = import_awards(c.matcher, records)
    assert (again.stored, again.prospects) == (0, 0)


def test_a_buyer_reads_that_a_prospect_is_one_and_where_it_is_known_from() -> None:
    records = [
        Record("csv-austender:CN1", [Org("Acme Pty Ltd")]),
        Record("ocds-x:7", [Org("ACME")], source="ocds-x", source_url="https://x/7", awarded_on=date(2024, 5, 1)),
    ]
    [found] = apply_awards(records, {}, Resolver()).prospects
    assert prospect_note(found) == (
        "prospect: known from 2 public award records (csv-austender, ocds-x), the latest of 2024-05-01,"
        " https://x/7; not registered, not contacted"
    )
    assert prospect_note(claim(found, None, NOW)) is None


def test_an_import_in_small_batches_builds_the_same_profiles_as_one_batch() -> None:
    records = [
        Record("csv-austender:CN1", [Org("Hays Specialist Recruitment Pty Ltd", abn("47001407281"))]),
        Record("csv-austender:CN2", [Org("Acme Pty Ltd")]),
        Record("csv-austender:CN3", [Org("HAYS SPECIALIST RECRUITMENT", [])], awarded_on=date(2024, 4, 2)),
        Record("csv-austender:CN4", [Org("Hays Specialist Recruitment Group", abn("47 001 407 281"))]),
        Record("csv-austender:CN5", [Org("ACME PTY. LIMITED")]),
    ]
    built = []
    for batch in (1, 2, 500):
        c = bootstrap_in_memory(Settings(), clock=lambda: NOW)
        c.matcher.profiles.put(registered("acme", "Acme Pty Ltd"))
        report = import_awards(c.matcher, records, batch=batch)
        assert (report.winners, report.prospects) == (5, 1)
        built.append(sorted((p.supplier_id, len(p.past_awards)) for p in c.matcher.profiles.all()))
    assert built[0] == built[1] == built[2]
    assert len(built[0]) == 2

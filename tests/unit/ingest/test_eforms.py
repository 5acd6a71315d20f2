"""TED eForms XML: contract notices, change notices and results read into notices and award records; daily
packages; SDK versions and subtypes that are not read are dead-lettered with the reason; the real samples."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from contracts import AwardRecord, CodeScheme, NoticeStatus, NoticeType, ProcurementMethod, TenderNotice
from services.ingest.domain import eforms
from services.ingest.domain.model import Context, Record, Rejection
from services.ingest.domain.sources import parse_bytes
from tests.conftest import shared_data
from tests.unit.ingest.util import notice_xml, package, result_xml

CTX = Context(source="ted", detect_language=False)
T = TypeVar("T")


def _only(outcomes: list[Record], kind: type[T]) -> list[T]:
    return [o for o in outcomes if isinstance(o, kind)]


def test_a_contract_notice_reads_its_lots_codes_places_deadline_value_and_documents() -> None:
    [notice] = list(eforms.parse(notice_xml(), CTX))
    assert isinstance(notice, TenderNotice)
    assert notice.notice_id == "ted:612681-2024"  # the zeros dropped, as TED's search API writes the number
    assert notice.title == "Winterdienst"  # the notice's own language first
    assert notice.language == "de"
    assert notice.notice_type == NoticeType.CONTRACT_NOTICE
    assert notice.buyer.name == "Stadt Bonn"
    assert notice.buyer.country == "DE"
    assert notice.buyer.id == "DE-BONN-1"
    assert notice.codes(CodeScheme.CPV) == ["34927100", "14212200"]
    assert [(i.id, i.description, i.classification and i.classification.code) for i in notice.items] == [
        ("LOT-0001", "Streusalz", "34927100"),
        ("LOT-0002", "Splitt", "14212200"),
    ]
    assert notice.delivery_countries == ["DE"]
    assert notice.delivery_regions == ["DEA22"]
    # The earliest lot deadline, seven decimals of seconds read, its offset kept.
    assert notice.deadline_at == datetime(2024, 2, 20, 9, 30, tzinfo=UTC)
    assert notice.deadline_utc_offset == "+01:00"
    assert "lots have different deadlines; the earliest is kept" in notice.warnings
    assert notice.estimated_value is not None
    assert notice.estimated_value.amount == 2000
    assert notice.procurement_method == ProcurementMethod.OPEN
    assert [d.url for d in notice.documents] == ["https://vergabe.example/LOT-0001", "https://vergabe.example/LOT-0002"]
    assert notice.source_url == "https://ted.europa.eu/en/notice/-/detail/612681-2024"


def test_a_change_notice_is_the_next_version_of_the_notice_it_changes() -> None:
    changes = """<efac:Changes><efbc:ChangedNoticeIdentifier>612681-2024</efbc:ChangedNoticeIdentifier>
      <efac:ChangeReason><cbc:ReasonCode>cor-buy</cbc:ReasonCode></efac:ChangeReason></efac:Changes>"""
    [change] = list(eforms.parse(notice_xml(number="00700000-2024", changes=changes), CTX))
    assert isinstance(change, TenderNotice)
    assert change.notice_id == "ted:612681-2024"
    assert change.source_url == "https://ted.europa.eu/en/notice/-/detail/700000-2024"
    cancel = changes.replace("cor-buy", "cancel")
    [cancelled] = list(eforms.parse(notice_xml(number="00700001-2024", changes=cancel), CTX))
    assert isinstance(cancelled, TenderNotice)
    assert cancelled.status == NoticeStatus.CANCELLED


def test_a_result_notice_gives_one_award_per_lot_won_and_says_which_lot_had_no_winner() -> None:
    outcomes = list(eforms.parse(result_xml(), CTX))
    [award] = _only(outcomes, AwardRecord)
    assert award.award_id == "ted:250000-2024:LOT-0001"
    assert award.tender.notice_id == "ted:612681-2024"  # the contract notice it answers (BT-125)
    assert [(s.name, s.country, [(i.scheme, i.id) for i in s.identifiers]) for s in award.suppliers] == [
        ("Salz AG", "DE", [("DE-ORGID", "HRB 1234")]),
        ("Kies GmbH", "AT", [("AT-ORGID", "HRB 99")]),
    ]
    assert award.suppliers[0].address is not None
    assert award.suppliers[0].address.region == "DEA23"
    assert award.value is not None
    assert (award.value.amount, award.value.currency) == (98500.5, "EUR")
    assert (award.awarded_on, award.contract_signed_on) == (date(2024, 4, 2), date(2024, 4, 20))
    assert award.buyer is not None
    assert award.buyer.name == "Stadt Bonn"
    assert award.lot_title == "Streusalz"
    assert award.tender.classifications[0].code == "34927100"
    [no_winner] = _only(outcomes, Rejection)
    assert (no_winner.reason, no_winner.record, no_winner.key) == ("no_winner", "award", "250000-2024:LOT-0002")
    assert "clos-nw" in no_winner.detail


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (notice_xml(sdk="eforms-sdk-2.0"), "unknown_sdk_version"),
        (notice_xml(sdk="ted-schema-r2.0.9"), "unknown_sdk_version"),
        (notice_xml(subtype="E3"), "unknown_subtype"),
        (notice_xml(subtype=""), "unknown_subtype"),
        (notice_xml(number=""), "no_source_id"),
        (b"<TED_EXPORT><CODED_DATA_SECTION/></TED_EXPORT>", "not_eforms"),
        (b"<ContractNotice><unclosed>", "invalid_xml"),
        (b"\x00\x01 not xml at all", "invalid_xml"),
    ],
)
def test_what_cannot_be_read_is_rejected_with_the_reason(data: bytes, reason: str) -> None:
    [outcome] = list(eforms.parse(data, CTX))
    assert isinstance(outcome, Rejection), outcome
    assert outcome.reason == reason, outcome


def test_entity_expansion_is_refused_not_expanded() -> None:
    bomb = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<ContractNotice>&lol2;</ContractNotice>"""
    [outcome] = list(eforms.parse(bomb, CTX))
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "invalid_xml"


def test_a_daily_package_is_read_member_by_member_and_a_bad_member_is_named() -> None:
    daily = package(
        {
            "20240130/612681_2024.xml": notice_xml(),
            "20240130/250000_2024.xml": result_xml(),
            "20240130/broken.xml": b"<ContractNotice>",
        }
    )
    outcomes = list(parse_bytes("eforms", daily, CTX, name="20240130.tar.gz"))
    assert [n.notice_id for n in _only(outcomes, TenderNotice)] == ["ted:612681-2024"]
    assert [a.award_id for a in _only(outcomes, AwardRecord)] == ["ted:250000-2024:LOT-0001"]
    reasons = sorted((r.reason, r.detail.split(":")[0]) for r in _only(outcomes, Rejection))
    assert reasons == [("invalid_xml", "20240130/broken.xml"), ("no_winner", "20240130/250000_2024.xml")]


def test_a_truncated_package_is_a_rejection_not_a_crash() -> None:
    daily = package({"a.xml": notice_xml()})
    outcomes = list(parse_bytes("eforms", daily[: len(daily) // 2], CTX, name="cut.tar.gz"))
    assert any(isinstance(o, Rejection) and o.reason == "invalid_package" for o in outcomes)


def test_the_real_samples_all_read_with_their_publication_number_and_essentials() -> None:
    root = shared_data("ted-samples", "eforms")
    files = sorted(root.rglob("*.xml"))
    assert len(files) == 70
    outcomes: dict[Path, list[Record]] = {f: list(eforms.parse(f.read_bytes(), CTX)) for f in files}
    rejected = [(f.name, o) for f, found in outcomes.items() for o in found if isinstance(o, Rejection)]
    assert rejected == []
    notices = [o for found in outcomes.values() for o in found if isinstance(o, TenderNotice)]
    awards = [o for found in outcomes.values() for o in found if isinstance(o, AwardRecord)]
    assert (len(notices), len(awards)) == (69, 1)
    for file, found in outcomes.items():
        for record in found:
            if isinstance(record, TenderNotice) and "change notice" not in " ".join(record.warnings):
                # Files are named by publication number (``739962-2023.xml``, ``2023-OJS153-00486429.xml``).
                number = record.source_id.split("-")[0]
                assert number in file.stem.lstrip("0") or number in file.stem, (file, record.source_id)
    assert all(n.title and n.buyer.name and n.codes(CodeScheme.CPV) and n.source_url for n in notices)
    assert sum(n.notice_type == NoticeType.PRIOR_INFORMATION for n in notices) == 18
    assert sum(n.deadline_at is not None for n in notices) >= 40
    assert awards[0].suppliers
    assert awards[0].awarded_on is not None


def test_a_moved_place_of_performance_changes_the_notices_content() -> None:
    [before] = list(eforms.parse(notice_xml(), CTX))
    [after] = list(eforms.parse(notice_xml().replace(b">DEA22<", b">DEA23<"), CTX))
    assert isinstance(before, TenderNotice)
    assert isinstance(after, TenderNotice)
    assert after.delivery_regions == ["DEA23"]
    assert before.content_hash != after.content_hash


def test_an_empty_package_is_said() -> None:
    [outcome] = list(parse_bytes("eforms", package({}), CTX, name="20240131.tar.gz"))
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "empty"


def test_a_notice_gzipped_on_its_own_is_read_and_gzipped_junk_is_said() -> None:
    [notice] = list(parse_bytes("eforms", gzip.compress(notice_xml()), CTX, name="612681-2024.xml.gz"))
    assert isinstance(notice, TenderNotice)
    [junk] = list(parse_bytes("eforms", gzip.compress(b"not a package"), CTX, name="x.gz"))
    assert isinstance(junk, Rejection)
    assert junk.reason == "invalid_package"


def test_a_result_notice_changed_with_reason_cancel_cancels_its_awards() -> None:
    changes = """<efac:Changes><efbc:ChangedNoticeIdentifier>250000-2024</efbc:ChangedNoticeIdentifier>
      <efac:ChangeReason><cbc:ReasonCode>cancel</cbc:ReasonCode></efac:ChangeReason></efac:Changes>"""
    xml = result_xml().replace(b"<efac:Organizations>", changes.encode() + b"<efac:Organizations>")
    xml = xml.replace(b"00250000-2024", b"00260000-2024")
    [award] = _only(list(eforms.parse(xml, CTX)), AwardRecord)
    assert award.award_id == "ted:250000-2024:LOT-0001"  # the award of the notice it changes
    assert award.status == "cancelled"

"""TED eForms XML: contract notices, change notices and results read into notices and award records; daily
packages; SDK versions and subtypes that are not read are dead-lettered with the reason; the real samples."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from contracts import AwardRecord, CodeScheme, NoticeStatus, NoticeType, ProcurementMethod, TenderNotice
from services.ingest.domain import eforms
from services.ingest.domain.model import Context, Record, Rejection
from services.ingest.domain.sources import parse_bytes
from tests.conftest import shared_data

CTX = Context(source="ted", detect_language=False)
_NS = (
    'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
    'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" '
    'xmlns:efac="http://data.europa.eu/p27/eforms-ubl-extension-aggregate-components/1" '
    'xmlns:efbc="http://data.europa.eu/p27/eforms-ubl-extension-basic-components/1" '
    'xmlns:efext="http://data.europa.eu/p27/eforms-ubl-extensions/1" '
    'xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"'
)


def _org(org_id: str, name: str, company_id: str, nuts: str, country: str = "DEU") -> str:
    return f"""<efac:Organization><efac:Company>
      <cac:PartyIdentification><cbc:ID>{org_id}</cbc:ID></cac:PartyIdentification>
      <cac:PartyName><cbc:Name languageID="DEU">{name}</cbc:Name></cac:PartyName>
      <cac:PostalAddress><cbc:StreetName>Hauptstr. 1</cbc:StreetName><cbc:CityName>Bonn</cbc:CityName>
        <cbc:PostalZone>53111</cbc:PostalZone>
        <cbc:CountrySubentityCode listName="nuts">{nuts}</cbc:CountrySubentityCode>
        <cac:Country><cbc:IdentificationCode listName="country">{country}</cbc:IdentificationCode></cac:Country>
      </cac:PostalAddress>
      <cac:PartyLegalEntity><cbc:CompanyID>{company_id}</cbc:CompanyID></cac:PartyLegalEntity>
    </efac:Company></efac:Organization>"""


def _lot(lot_id: str, name: str, cpv: str, end_date: str, end_time: str) -> str:
    return f"""<cac:ProcurementProjectLot><cbc:ID schemeName="Lot">{lot_id}</cbc:ID>
      <cac:TenderingTerms><cac:CallForTendersDocumentReference><cbc:ID>docs</cbc:ID>
        <cbc:DocumentType>non-restricted-document</cbc:DocumentType>
        <cac:Attachment><cac:ExternalReference><cbc:URI>https://vergabe.example/{lot_id}</cbc:URI></cac:ExternalReference>
        </cac:Attachment></cac:CallForTendersDocumentReference></cac:TenderingTerms>
      <cac:TenderingProcess><cac:TenderSubmissionDeadlinePeriod>
        <cbc:EndDate>{end_date}</cbc:EndDate><cbc:EndTime>{end_time}</cbc:EndTime>
      </cac:TenderSubmissionDeadlinePeriod></cac:TenderingProcess>
      <cac:ProcurementProject><cbc:ID>{lot_id}</cbc:ID>
        <cbc:Name languageID="ENG">{name} (en)</cbc:Name><cbc:Name languageID="DEU">{name}</cbc:Name>
        <cac:RequestedTenderTotal>
          <cbc:EstimatedOverallContractAmount currencyID="EUR">1000</cbc:EstimatedOverallContractAmount>
        </cac:RequestedTenderTotal>
        <cac:MainCommodityClassification><cbc:ItemClassificationCode listName="cpv">{cpv}</cbc:ItemClassificationCode>
        </cac:MainCommodityClassification>
        <cac:RealizedLocation><cac:Address><cbc:CountrySubentityCode listName="nuts">DEA22</cbc:CountrySubentityCode>
          <cac:Country><cbc:IdentificationCode listName="country">DEU</cbc:IdentificationCode></cac:Country>
        </cac:Address></cac:RealizedLocation>
      </cac:ProcurementProject></cac:ProcurementProjectLot>"""


def notice_xml(
    *,
    number: str = "00612681-2024",
    subtype: str = "16",
    sdk: str = "eforms-sdk-1.10",
    changes: str = "",
    root: str = "ContractNotice",
    body: str = "",
) -> bytes:
    """A small contract notice (prefixed root, as some publishers write it) with two lots."""
    lots = body or (
        _lot("LOT-0001", "Streusalz", "34927100", "2024-03-01+01:00", "12:00:00.0000000+01:00")
        + _lot("LOT-0002", "Splitt", "14212200", "2024-02-20+01:00", "10:30:00.000+01:00")
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urn:{root} xmlns:urn="urn:oasis:names:specification:ubl:schema:xsd:{root}-2" {_NS}>
  <ext:UBLExtensions><ext:UBLExtension><ext:ExtensionContent><efext:EformsExtension>
    <efac:NoticeSubType><cbc:SubTypeCode>{subtype}</cbc:SubTypeCode></efac:NoticeSubType>
    {changes}
    <efac:Organizations>{_org("ORG-0001", "Stadt Bonn", "DE-BONN-1", "DEA22")}</efac:Organizations>
    <efac:Publication><efbc:NoticePublicationID schemeName="ojs-notice-id">{number}</efbc:NoticePublicationID>
      <efbc:PublicationDate>2024-01-30Z</efbc:PublicationDate></efac:Publication>
  </efext:EformsExtension></ext:ExtensionContent></ext:UBLExtension></ext:UBLExtensions>
  <cbc:CustomizationID>{sdk}</cbc:CustomizationID>
  <cbc:ID schemeName="notice-id">6b1f1e4e-0000-4000-8000-000000000001</cbc:ID>
  <cbc:IssueDate>2024-01-29+01:00</cbc:IssueDate><cbc:IssueTime>09:00:00+01:00</cbc:IssueTime>
  <cbc:NoticeLanguageCode>DEU</cbc:NoticeLanguageCode>
  <cac:ContractingParty><cac:Party><cac:PartyIdentification><cbc:ID>ORG-0001</cbc:ID></cac:PartyIdentification>
  </cac:Party></cac:ContractingParty>
  <cac:TenderingProcess><cbc:ProcedureCode listName="procurement-procedure-type">open</cbc:ProcedureCode>
  </cac:TenderingProcess>
  <cac:ProcurementProject><cbc:Name languageID="ENG">Winter service (en)</cbc:Name>
    <cbc:Name languageID="DEU">Winterdienst</cbc:Name><cbc:Description languageID="DEU">Streugut</cbc:Description>
    <cac:MainCommodityClassification><cbc:ItemClassificationCode listName="cpv">34927100</cbc:ItemClassificationCode>
    </cac:MainCommodityClassification>
    <cac:AdditionalCommodityClassification>
      <cbc:ItemClassificationCode listName="cpv">14212200</cbc:ItemClassificationCode>
    </cac:AdditionalCommodityClassification>
  </cac:ProcurementProject>
  {lots}
</urn:{root}>""".encode()


def result_xml() -> bytes:
    """A contract award notice (subtype 29): lot 1 won by a consortium of two, lot 2 closed without a winner."""
    orgs = (
        _org("ORG-0001", "Stadt Bonn", "DE-BONN-1", "DEA22")
        + _org("ORG-0002", "Salz AG", "HRB 1234", "DEA23")
        + _org("ORG-0003", "Kies GmbH", "HRB 99", "AT130", country="AUT")
    )
    result = """<efac:NoticeResult>
      <efac:LotResult><cbc:ID>RES-0001</cbc:ID><cbc:TenderResultCode>selec-w</cbc:TenderResultCode>
        <efac:LotTender><cbc:ID>TEN-0001</cbc:ID></efac:LotTender>
        <efac:SettledContract><cbc:ID>CON-0001</cbc:ID></efac:SettledContract>
        <efac:TenderLot><cbc:ID>LOT-0001</cbc:ID></efac:TenderLot></efac:LotResult>
      <efac:LotResult><cbc:ID>RES-0002</cbc:ID><cbc:TenderResultCode>clos-nw</cbc:TenderResultCode>
        <efac:TenderLot><cbc:ID>LOT-0002</cbc:ID></efac:TenderLot></efac:LotResult>
      <efac:LotTender><cbc:ID>TEN-0001</cbc:ID>
        <cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="EUR">98500.50</cbc:PayableAmount>
        </cac:LegalMonetaryTotal>
        <efac:TenderingParty><cbc:ID>TPA-0001</cbc:ID></efac:TenderingParty>
        <efac:TenderLot><cbc:ID>LOT-0001</cbc:ID></efac:TenderLot></efac:LotTender>
      <efac:SettledContract><cbc:ID>CON-0001</cbc:ID><cbc:AwardDate>2024-04-02+02:00</cbc:AwardDate>
        <cbc:IssueDate>2024-04-20+02:00</cbc:IssueDate></efac:SettledContract>
      <efac:TenderingParty><cbc:ID>TPA-0001</cbc:ID>
        <efac:Tenderer><cbc:ID>ORG-0002</cbc:ID></efac:Tenderer><efac:Tenderer><cbc:ID>ORG-0003</cbc:ID></efac:Tenderer>
      </efac:TenderingParty></efac:NoticeResult>"""
    xml = notice_xml(number="00250000-2024", subtype="29", root="ContractAwardNotice").decode()
    called_by = "<cac:NoticeDocumentReference><cbc:ID>00612681-2024</cbc:ID></cac:NoticeDocumentReference>"
    xml = xml.replace("</cbc:ProcedureCode>", "</cbc:ProcedureCode>" + called_by)
    xml = xml.replace(_org("ORG-0001", "Stadt Bonn", "DE-BONN-1", "DEA22"), orgs)
    return xml.replace("<efac:Publication>", result + "<efac:Publication>").encode()


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


def _package(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_daily_package_is_read_member_by_member_and_a_bad_member_is_named() -> None:
    package = _package(
        {
            "20240130/612681_2024.xml": notice_xml(),
            "20240130/250000_2024.xml": result_xml(),
            "20240130/broken.xml": b"<ContractNotice>",
        }
    )
    outcomes = list(parse_bytes("eforms", package, CTX, name="20240130.tar.gz"))
    assert [n.notice_id for n in _only(outcomes, TenderNotice)] == ["ted:612681-2024"]
    assert [a.award_id for a in _only(outcomes, AwardRecord)] == ["ted:250000-2024:LOT-0001"]
    reasons = sorted((r.reason, r.detail.split(":")[0]) for r in _only(outcomes, Rejection))
    assert reasons == [("invalid_xml", "20240130/broken.xml"), ("no_winner", "20240130/250000_2024.xml")]


def test_a_truncated_package_is_a_rejection_not_a_crash() -> None:
    package = _package({"a.xml": notice_xml()})
    outcomes = list(parse_bytes("eforms", package[: len(package) // 2], CTX, name="cut.tar.gz"))
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
    [outcome] = list(parse_bytes("eforms", _package({}), CTX, name="20240131.tar.gz"))
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "empty"

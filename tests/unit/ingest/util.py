"""Helpers shared by the ingest unit tests."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

from contracts import TenderNotice
from services.ingest.domain.model import Outcome, Rejection

FIXTURES = Path(__file__).parent / "fixtures"


def notices(outcomes: list[Outcome]) -> list[TenderNotice]:
    return [o for o in outcomes if isinstance(o, TenderNotice)]


def rejections(outcomes: list[Outcome]) -> list[Rejection]:
    return [o for o in outcomes if isinstance(o, Rejection)]


def release(**overrides: Any) -> dict[str, Any]:
    """A small valid OCDS 1.1 tender release."""
    base: dict[str, Any] = {
        "ocid": "ocds-abc123-0001",
        "id": "0001-tender",
        "date": "2026-10-01T09:00:00+02:00",
        "tag": ["tender"],
        "initiationType": "tender",
        "language": "en",
        "buyer": {"id": "GB-1", "name": "Met Office"},
        "parties": [{"id": "GB-1", "name": "Met Office", "roles": ["buyer"], "address": {"countryName": "GB"}}],
        "tender": {
            "id": "T1",
            "title": "Weather <b>radar</b> maintenance",
            "description": "Maintenance of radars",
            "status": "active",
            "procurementMethod": "open",
            "value": {"amount": 250000, "currency": "GBP"},
            "tenderPeriod": {"endDate": "2026-11-01T12:00:00Z"},
            "items": [
                {
                    "id": "1",
                    "description": "Radar maintenance",
                    "classification": {"scheme": "CPV", "id": "50000000-5", "description": "Repair"},
                    "additionalClassifications": [{"scheme": "UNSPSC", "id": "72151500"}],
                    "quantity": 2,
                    "unit": {"name": "each"},
                    "deliveryAddress": {"countryName": "United Kingdom"},
                }
            ],
            "documents": [{"id": "d1", "url": "https://example.org/rfp.pdf", "title": "RFP", "language": "en"}],
        },
    }
    base.update(overrides)
    return base


def notice_body(description_bytes: int, source_id: str = "1", char: str = "a") -> bytes:
    """A pushed TenderNotice whose description takes about ``description_bytes`` bytes (UTF-8), written with
    ``char`` (a character or a short string, HTML included)."""
    width = len(char.encode())
    notice = {
        "notice_id": f"push:{source_id}",
        "source": "push",
        "source_id": source_id,
        "title": "Water pumps",
        "buyer": {"name": "UNICEF"},
        "description": char * (description_bytes // width),
    }
    return orjson.dumps(notice)


#: Any JSON value (hypothesis): what a hostile or broken source may hand a mapper.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=30),
    st.sampled_from(["", "2026-10-22", "2026-10-22T08:00:00+04:30", "CPV", "UNSPSC", "45000000-3", "<b>x</b>"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


# ------------------------------------------------------------------------------------------ eForms XML

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


def package(members: dict[str, bytes]) -> bytes:
    """A TED daily package: a tar.gz of the given files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()

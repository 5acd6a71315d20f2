"""TED eForms notices (UBL 2.3 XML, eForms SDK 1.x) and TED's daily packages of them (tar.gz).

Calls for competition (prior information notices, subtypes 1-14; contract notices and qualification systems,
15-24) become ``TenderNotice`` versions; results (voluntary ex-ante transparency 25-28, contract award notices
29-37, contract modifications 38-40) become one ``AwardRecord`` per lot result with a winner. Field paths follow
the eForms business terms (https://docs.ted.europa.eu/eforms/latest/reference/business-terms/): BT-21 title, BT-24
description, BT-262/263 CPV codes, BT-5071 NUTS, BT-131 deadline, BT-27 estimated value, BT-105 procedure, BT-15
documents, BT-13713 result lot, BT-142 winner chosen, BT-720 tender value, BT-1451 decision date, BT-145
conclusion date, BT-501 organisation identifier.

Identity: a notice is ``<source>:<publication number>`` (``00612681-2024`` published as ``612681-2024``, as TED's
search API writes it); a change notice (``efac:Changes``, BT-758) is the next version of the notice it changes. An
award is ``<source>:<publication number>:<lot>``. Shapes seen (../shared/data/README.md): prefixed roots
(``<urn:ContractNotice>``), ``SubTypeCode`` without ``listName``, dates with ``Z`` or an offset, times with up to
seven decimals.

XML is parsed by the standard library behind ``defusedxml`` (public input: no DTD, no entity expansion).
"""

from __future__ import annotations

import io
import re
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from contracts import NoticeStatus, NoticeType, ProcurementMethod
from services.ingest.domain.awards import day, finish_award, identifier, organisation
from services.ingest.domain.model import Context, Record, Rejection
from services.ingest.domain.normalize import (
    ISO639_3,
    classification,
    clean_text,
    country,
    dedupe_classifications,
    finish,
    money,
    parse_instant,
    set_instant,
)

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "efac": "http://data.europa.eu/p27/eforms-ubl-extension-aggregate-components/1",
    "efbc": "http://data.europa.eu/p27/eforms-ubl-extension-basic-components/1",
    "efext": "http://data.europa.eu/p27/eforms-ubl-extensions/1",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
}
_EXT = "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/efext:EformsExtension"
ROOTS = ("ContractNotice", "PriorInformationNotice", "ContractAwardNotice")
#: eForms SDK versions read (``cbc:CustomizationID`` ``eforms-sdk-1.N``): the 1.x line, whose field paths are the
#: ones above. Another version is dead-lettered (``unknown_sdk_version``) rather than half read.
SDK_MAJOR = 1
SDK_MINORS = range(14)
_SDK = re.compile(r"^eforms-sdk-(\d+)\.(\d+)")
#: A TED publication number (``00612681-2024``, ``612681-2024``).
_NUMBER = re.compile(r"^\s*\d+-\d{4}\s*$")
#: Notice subtypes (https://docs.ted.europa.eu/eforms/latest/reference/notice-types/): 1-14 prior information,
#: 15-24 calls for competition, 25-40 results (VEAT, contract award, modification). National subtypes (E1-E6) and
#: any other are dead-lettered (``unknown_subtype``).
_PRIOR = frozenset(str(n) for n in range(1, 15))
_CALLS = frozenset(str(n) for n in range(15, 25))
_RESULTS = frozenset(str(n) for n in range(25, 41))
#: BT-105 procedure type -> OCDS ``method`` (as the OCDS for eForms guidance maps it).
_METHODS = {
    "open": ProcurementMethod.OPEN,
    "restricted": ProcurementMethod.SELECTIVE,
    "neg-w-call": ProcurementMethod.SELECTIVE,
    "comp-dial": ProcurementMethod.SELECTIVE,
    "innovation": ProcurementMethod.SELECTIVE,
    "comp-tend": ProcurementMethod.SELECTIVE,
    "neg-wo-call": ProcurementMethod.LIMITED,
}
#: The largest member of a daily package read, in bytes (real notices take up to a few MB).
MAX_MEMBER_BYTES = 50_000_000
TED_URL = "https://ted.europa.eu/en/notice/-/detail/{}"


# --------------------------------------------------------------------------------------------- reading XML


def _all(elem: Element | None, path: str) -> list[Element]:
    return [] if elem is None else elem.findall(path, NS)


def _one(elem: Element | None, path: str) -> Element | None:
    return None if elem is None else elem.find(path, NS)


def _text(elem: Element | None, path: str) -> str:
    found = _one(elem, path)
    return clean_text(found.text) if found is not None and found.text else ""


def _lang_text(elem: Element | None, path: str, language: str) -> str:
    """The text of a multilingual field (one element per ``languageID``): the notice's own language first."""
    if elem is None:
        return ""
    found = [(e.get("languageID", "").upper(), clean_text(e.text or "")) for e in _all(elem, path)]
    found = [(lang, text) for lang, text in found if text]
    for lang, text in found:
        if lang == language:
            return text
    return found[0][1] if found else ""


def publication_number(value: str) -> str:
    """``00612681-2024`` -> ``612681-2024`` (TED's search API and URLs write it without the zeros)."""
    number, sep, year = value.strip().partition("-")
    return f"{number.lstrip('0') or '0'}{sep}{year}" if sep else value.strip()


def _instant_text(date_text: str, time_text: str) -> str:
    """A date (``2024-01-09+01:00``) and a time (``08:00:00.000+01:00``) as one ISO 8601 instant; the time's zone
    wins, else the date's."""
    date_part, zone = date_text[:10], date_text[10:]
    if not time_text:
        return date_text
    has_zone = time_text.endswith("Z") or (len(time_text) > 6 and time_text[-6] in "+-")
    return f"{date_part}T{time_text}" if has_zone else f"{date_part}T{time_text}{zone}"


# ------------------------------------------------------------------------------------------------ parsing


def parse(data: bytes, ctx: Context, name: str = "") -> Iterator[Record]:
    """Every notice and award of one XML document, or of every XML document of a (gzipped) tar package."""
    if data[:2] == b"\x1f\x8b" or name.endswith((".tar.gz", ".tgz", ".tar")):
        yield from _package(data, ctx)
        return
    yield from parse_xml(data, ctx)


def _package(data: bytes, ctx: Context) -> Iterator[Record]:
    """TED's daily packages: a tar.gz of one XML file per notice (read as they come, each on its own)."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError, EOFError) as exc:
        xml = _gunzipped_xml(data)
        if xml is not None:  # one notice gzipped on its own (``612681-2024.xml.gz``)
            yield from parse_xml(xml, ctx)
            return
        yield Rejection("invalid_package", f"not a readable tar(.gz) package: {exc}", "")
        return
    read = 0
    with archive:
        while True:
            try:
                member = archive.next()
            except (tarfile.TarError, OSError, EOFError) as exc:
                yield Rejection("invalid_package", f"the package is cut short or broken: {exc}", "")
                return
            if member is None:
                if not read:  # a package of nothing is said, not passed over
                    yield Rejection("empty", "the package holds no notice file", "")
                return
            if not member.isfile() or member.name.rsplit("/", 1)[-1].startswith("."):
                continue
            if member.size > MAX_MEMBER_BYTES:
                detail = f"{member.name}: {member.size:,} bytes, over the limit of {MAX_MEMBER_BYTES:,} per notice"
                yield Rejection("too_large", detail, "", member.name)
                continue
            try:
                handle = archive.extractfile(member)
                body = handle.read() if handle is not None else None
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                yield Rejection("invalid_package", f"{member.name}: the package is cut short or broken: {exc}", "")
                return
            if body is None:
                continue
            read += 1
            for outcome in parse_xml(body, ctx):
                if isinstance(outcome, Rejection):
                    detail = f"{member.name}: {outcome.detail}"
                    outcome = Rejection(outcome.reason, detail, outcome.payload, outcome.key, outcome.record)
                yield outcome


def _gunzipped_xml(data: bytes) -> bytes | None:
    """A gzipped XML document, unpacked (at most ``MAX_MEMBER_BYTES``); None when it is not one."""
    unpack = zlib.decompressobj(wbits=31)
    try:
        out = unpack.decompress(data, MAX_MEMBER_BYTES)
    except zlib.error:
        return None
    return out if out.lstrip()[:1] == b"<" and not unpack.unconsumed_tail else None


def _shown(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def parse_xml(data: bytes, ctx: Context) -> Iterator[Record]:
    try:
        root = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        yield Rejection("invalid_xml", f"not well-formed XML: {exc}", _shown(data))
        return
    kind = root.tag.rsplit("}", 1)[-1]
    if kind not in ROOTS:
        yield Rejection(
            "not_eforms", f"root element {kind!r} is not an eForms notice ({', '.join(ROOTS)})", _shown(data)
        )
        return
    notice_uuid = _text(root, "cbc:ID")
    customization = _text(root, "cbc:CustomizationID")
    sdk = _SDK.match(customization)
    if sdk is None or int(sdk.group(1)) != SDK_MAJOR or int(sdk.group(2)) not in SDK_MINORS:
        detail = (
            f"notice {notice_uuid or '?'} is written for {customization or 'no stated SDK version'}; read are "
            f"eforms-sdk-{SDK_MAJOR}.{SDK_MINORS.start} to {SDK_MAJOR}.{SDK_MINORS.stop - 1}"
        )
        yield Rejection("unknown_sdk_version", detail, _shown(data), notice_uuid or None)
        return
    ext = _one(root, _EXT)
    subtype = _text(ext, "efac:NoticeSubType/cbc:SubTypeCode")
    published = _text(ext, "efac:Publication/efbc:NoticePublicationID")
    number = publication_number(published) if published else ""
    if subtype in _PRIOR or subtype in _CALLS:
        yield map_notice(root, ext, subtype, number, ctx, data)
    elif subtype in _RESULTS:
        yield from map_results(root, ext, number, ctx, data)
    else:
        detail = f"notice {number or notice_uuid or '?'} has subtype {subtype or 'none'!r}, not one read (1-40)"
        yield Rejection("unknown_subtype", detail, _shown(data), number or notice_uuid or None)


# ------------------------------------------------------------------------------------------------ notices


class _Notice:
    """What notices and results share: organisations, the notice's language, its identity and its buyer."""

    def __init__(self, root: Element, ext: Element | None, number: str, warnings: list[str]) -> None:
        self.root = root
        self.language = _text(root, "cbc:NoticeLanguageCode").upper()
        self.orgs: dict[str, Element] = {}
        for company in _all(ext, "efac:Organizations/efac:Organization/efac:Company"):
            org_id = _text(company, "cac:PartyIdentification/cbc:ID")
            if org_id:
                self.orgs[org_id] = company
        changed = _text(ext, "efac:Changes/efbc:ChangedNoticeIdentifier")
        # A change notice is the next version of the notice it changes (BT-758 names it by publication number).
        self.number = publication_number(changed) if _NUMBER.match(changed) else number
        self.reasons = [clean_text(e.text or "") for e in _all(ext, "efac:Changes/efac:ChangeReason/cbc:ReasonCode")]
        if self.number != number and number:
            warnings.append(f"change notice {number} of notice {self.number}")
        self.url = TED_URL.format(number) if number else None

    def org(self, org_id: str) -> dict[str, Any] | None:
        company = self.orgs.get(org_id)
        if company is None:
            return None
        address = _one(company, "cac:PostalAddress")
        code = _text(address, "cac:Country/cbc:IdentificationCode")
        alpha2 = country(code)
        company_id = _text(company, "cac:PartyLegalEntity/cbc:CompanyID")
        # BT-501 carries no scheme: the country's registry is the only context, so the same number in two
        # countries is not taken for one firm.
        scheme = f"{alpha2 or 'XX'}-ORGID"
        return organisation(
            _lang_text(company, "cac:PartyName/cbc:Name", self.language),
            [identifier(scheme, company_id)],
            country_value=alpha2,
            street=_text(address, "cbc:StreetName"),
            locality=_text(address, "cbc:CityName"),
            postal_code=_text(address, "cbc:PostalZone"),
            region=_text(address, "cbc:CountrySubentityCode"),
            party_id=org_id,
        )

    def buyer(self, warnings: list[str]) -> dict[str, Any] | None:
        ids = [
            clean_text(e.text or "")
            for e in _all(self.root, "cac:ContractingParty/cac:Party/cac:PartyIdentification/cbc:ID")
        ]
        orgs = [o for o in (self.org(i) for i in ids if i) if o is not None]
        if not orgs:
            return None
        if len(orgs) > 1:
            warnings.append("several buyers: " + "; ".join(o["name"] for o in orgs))
        first = orgs[0]
        buyer: dict[str, Any] = {"name": first["name"]}
        if first.get("identifiers"):
            buyer["id"] = first["identifiers"][0]["id"]
        if first.get("country"):
            buyer["country"] = first["country"]
        return buyer

    def codes(self, project: Element | None, ctx: Context, warnings: list[str]) -> list[Any]:
        """Main code first, then the additional ones (BT-262, BT-263), in their own scheme (``listName``)."""
        found = []
        for path in ("cac:MainCommodityClassification/cbc:ItemClassificationCode",
                     "cac:AdditionalCommodityClassification/cbc:ItemClassificationCode"):  # fmt: skip
            for e in _all(project, path):
                c = classification((e.get("listName") or "cpv").upper(), e.text, None, ctx, warnings)
                if c is not None:
                    found.append(c)
        return dedupe_classifications(found)


def _places(projects: list[Element]) -> tuple[list[str], list[str]]:
    """Countries and NUTS codes of the places of performance (BT-5141, BT-5071), in order of appearance."""
    countries: dict[str, None] = {}
    regions: dict[str, None] = {}
    for project in projects:
        for address in _all(project, "cac:RealizedLocation/cac:Address"):
            code = country(_text(address, "cac:Country/cbc:IdentificationCode"))
            if code:
                countries.setdefault(code)
            nuts = _text(address, "cbc:CountrySubentityCode")
            if nuts:
                regions.setdefault(nuts)
    return list(countries), list(regions)


def map_notice(root: Element, ext: Element | None, subtype: str, number: str, ctx: Context, data: bytes) -> Record:
    warnings: list[str] = []
    n = _Notice(root, ext, number, warnings)
    if not n.number:
        return Rejection(
            "no_source_id", "the notice has no publication number (BT-... NoticePublicationID)", _shown(data)
        )
    project = _one(root, "cac:ProcurementProject")
    lots = _all(root, "cac:ProcurementProjectLot")
    lot_projects = [p for p in (_one(lot, "cac:ProcurementProject") for lot in lots) if p is not None]
    title = _lang_text(project, "cbc:Name", n.language)
    if not title and lot_projects:
        title = _lang_text(lot_projects[0], "cbc:Name", n.language)
        if title:
            warnings.append("no procedure title; the first lot's is used")
    items = []
    for lot in lots:
        lot_project = _one(lot, "cac:ProcurementProject")
        lot_codes = n.codes(lot_project, ctx, warnings)
        item: dict[str, Any] = {"id": _text(lot, "cbc:ID") or None}
        description = _lang_text(lot_project, "cbc:Name", n.language) or _lang_text(
            lot_project, "cbc:Description", n.language
        )
        if description:
            item["description"] = description
        if lot_codes:
            item["classification"] = lot_codes[0]
            item["additional_classifications"] = lot_codes[1:]
        quantity = _one(lot_project, "cbc:EstimatedOverallContractQuantity")
        if quantity is not None and quantity.text:
            try:
                item["quantity"] = float(quantity.text)
                item["unit"] = quantity.get("unitCode")
            except ValueError:
                warnings.append(f"lot {item['id']}: quantity {quantity.text!r} is not a number; ignored")
        items.append(item)
    countries, regions = _places(([project] if project is not None else []) + lot_projects)
    fields: dict[str, Any] = {
        "source_id": n.number,
        "notice_type": NoticeType.PRIOR_INFORMATION if subtype in _PRIOR else NoticeType.CONTRACT_NOTICE,
        "status": NoticeStatus.CANCELLED if "cancel" in n.reasons else NoticeStatus.ACTIVE,
        "title": title,
        "description": _lang_text(project, "cbc:Description", n.language),
        "language": ISO639_3.get(n.language.lower()),
        "buyer": n.buyer(warnings),
        "items": items,
        "classifications": n.codes(project, ctx, warnings),
        "delivery_countries": countries,
        "delivery_regions": regions,
        "procurement_method": _METHODS.get(_text(root, "cac:TenderingProcess/cbc:ProcedureCode")),
        "documents": _documents(lots),
        "source_url": n.url,
    }
    fields["estimated_value"] = _estimated_value(project, lot_projects, warnings)
    publication = _text(ext, "efac:Publication/efbc:PublicationDate")
    issued = _instant_text(_text(root, "cbc:IssueDate"), _text(root, "cbc:IssueTime"))
    set_instant(fields, "published", publication or issued, warnings, end_of_day=False)
    _deadline(fields, lots, warnings)
    return finish(fields, warnings, ctx, _shown(data))


def _amount(elem: Element | None, field: str, warnings: list[str]) -> dict[str, Any] | None:
    if elem is None or not (elem.text or "").strip():
        return None
    return money(elem.text, elem.get("currencyID"), field, warnings)


def _estimated_value(project: Element | None, lots: list[Element], warnings: list[str]) -> dict[str, Any] | None:
    """BT-27 of the procedure, else the sum of the lots' when they share a currency."""
    path = "cac:RequestedTenderTotal/cbc:EstimatedOverallContractAmount"
    value = _amount(_one(project, path), "estimated value", warnings)
    if value is not None:
        return value
    values = [v for v in (_amount(_one(lot, path), "lot estimated value", warnings) for lot in lots) if v]
    if values and len({v["currency"] for v in values}) == 1:
        return {"amount": sum(v["amount"] for v in values), "currency": values[0]["currency"]}
    return None


def _deadline(fields: dict[str, Any], lots: list[Element], warnings: list[str]) -> None:
    """BT-131 (tenders) or, in a procedure in two stages, BT-1311 (requests to participate): the earliest deadline
    of the lots, with its offset."""
    found = []
    for lot in lots:
        period = _one(lot, "cac:TenderingProcess/cac:TenderSubmissionDeadlinePeriod")
        if period is None or not _text(period, "cbc:EndDate"):
            period = _one(lot, "cac:TenderingProcess/cac:ParticipationRequestReceptionPeriod")
        end = _text(period, "cbc:EndDate")
        if not end:
            continue
        try:
            found.append(parse_instant(_instant_text(end, _text(period, "cbc:EndTime")), end_of_day=True))
        except (ValueError, OverflowError) as exc:
            warnings.append(f"deadline ignored: {exc}")
    if not found:
        return
    instant, offset = min(found, key=lambda f: f[0])
    if offset is None:
        warnings.append("deadline has no time zone; read as UTC")
    fields["deadline_at"], fields["deadline_utc_offset"] = instant, offset
    if len({f[0] for f in found}) > 1:
        warnings.append("lots have different deadlines; the earliest is kept")


def _documents(lots: list[Element]) -> list[dict[str, Any]]:
    """BT-15 procurement documents of every lot, once per URL."""
    docs: dict[str, dict[str, Any]] = {}
    for lot in lots:
        for ref in _all(lot, "cac:TenderingTerms/cac:CallForTendersDocumentReference"):
            url = _text(ref, "cac:Attachment/cac:ExternalReference/cbc:URI") or _text(ref, "cbc:ID")
            if not url.startswith(("http://", "https://")) or url in docs:
                continue
            doc: dict[str, Any] = {"url": url}
            kind = _text(ref, "cbc:DocumentType")
            if kind:
                doc["document_type"] = kind
            language = ISO639_3.get(_text(ref, "cbc:LanguageID").lower())
            if language:
                doc["language"] = language
            docs[url] = doc
    return list(docs.values())


# ------------------------------------------------------------------------------------------------ results


def map_results(root: Element, ext: Element | None, number: str, ctx: Context, data: bytes) -> Iterator[Record]:
    """One award per lot result (BT-13713) whose winner was chosen (BT-142 ``selec-w``); a result without one is
    rejected as ``no_winner``, so that none is lost without a word."""
    notice_warnings: list[str] = []
    n = _Notice(root, ext, number, notice_warnings)
    if not n.number:
        yield Rejection("no_source_id", "the result notice has no publication number", _shown(data), record="award")
        return
    result = _one(ext, "efac:NoticeResult")
    results = _all(result, "efac:LotResult")
    if not results:
        yield Rejection("no_result", f"result notice {n.number} holds no lot result", _shown(data), n.number, "award")
        return
    tenders = {_text(t, "cbc:ID"): t for t in _all(result, "efac:LotTender")}
    parties = {_text(p, "cbc:ID"): p for p in _all(result, "efac:TenderingParty")}
    contracts = {_text(c, "cbc:ID"): c for c in _all(result, "efac:SettledContract")}
    lots = {_text(lot, "cbc:ID"): lot for lot in _all(root, "cac:ProcurementProjectLot")}
    project = _one(root, "cac:ProcurementProject")
    buyer = n.buyer(notice_warnings)
    lot_counts: dict[str, int] = {}
    for lot_result in results:
        lot_id = _text(lot_result, "efac:TenderLot/cbc:ID")
        lot_counts[lot_id] = lot_counts.get(lot_id, 0) + 1
    issued = _text(root, "cbc:IssueDate")
    # BT-125: the notice the procedure was called by (a contract or prior information notice), by publication number.
    previous = [_text(ref, "cbc:ID") for ref in _all(root, "cac:TenderingProcess/cac:NoticeDocumentReference")]
    called_by = next((publication_number(p) for p in previous if _NUMBER.match(p)), None)
    for lot_result in results:
        warnings = list(notice_warnings)
        lot_id = _text(lot_result, "efac:TenderLot/cbc:ID")
        result_id = _text(lot_result, "cbc:ID")
        suffix = lot_id if lot_id and lot_counts[lot_id] == 1 else f"{lot_id or 'LOT'}/{result_id}"
        source_id = f"{n.number}:{suffix}"
        code = _text(lot_result, "cbc:TenderResultCode")
        if code and code != "selec-w":
            detail = f"lot {lot_id or '?'} of result notice {n.number}: no winner chosen ({code})"
            yield Rejection("no_winner", detail, _shown(data), source_id, "award")
            continue
        tender_ids = [_text(t, "cbc:ID") for t in _all(lot_result, "efac:LotTender")]
        suppliers: dict[str, dict[str, Any]] = {}
        values = []
        for tender_id in tender_ids:
            tender = tenders.get(tender_id)
            if tender is None:
                warnings.append(f"tender {tender_id} of lot {lot_id} is not described in the notice")
                continue
            value = _amount(_one(tender, "cac:LegalMonetaryTotal/cbc:PayableAmount"), "tender value", warnings)
            if value is not None:
                values.append(value)
            party = parties.get(_text(tender, "efac:TenderingParty/cbc:ID"))
            for tenderer in _all(party, "efac:Tenderer"):
                org_id = _text(tenderer, "cbc:ID")
                org = n.org(org_id)
                if org is None:
                    warnings.append(f"winner {org_id} of lot {lot_id} is not among the notice's organisations")
                else:
                    suppliers.setdefault(org_id, org)
        contract_ids = [_text(c, "cbc:ID") for c in _all(lot_result, "efac:SettledContract")]
        contract = next((contracts[c] for c in contract_ids if c in contracts), None)
        if contract is None:  # older notices point from the contract to the tender only
            contract = next(
                (c for c in contracts.values() if _text(c, "efac:LotTender/cbc:ID") in tender_ids and tender_ids), None
            )
        lot = lots.get(lot_id)
        lot_project = _one(lot, "cac:ProcurementProject")
        codes = n.codes(lot_project, ctx, warnings) or n.codes(project, ctx, warnings)
        fields: dict[str, Any] = {
            "source_id": source_id,
            "status": "cancelled" if "cancel" in n.reasons else "active",
            "tender": {
                "id": n.number,
                "notice_id": f"{ctx.source}:{called_by}" if called_by else None,
                "title": _lang_text(project, "cbc:Name", n.language) or None,
                "description": _lang_text(project, "cbc:Description", n.language),
                "classifications": codes,
                "language": ISO639_3.get(n.language.lower()),
            },
            "buyer": buyer,
            "lot_id": lot_id or None,
            "lot_title": _lang_text(lot_project, "cbc:Name", n.language) or None,
            "suppliers": list(suppliers.values()),
            "value": _total(values, warnings)
            or _amount(_one(lot_result, "efac:FrameworkAgreementValues/cbc:MaximumValueAmount"), "framework", warnings),
            "contract_id": _text(contract, "cbc:ID") or None,
            "source_url": n.url,
        }
        signed = day(_text(contract, "cbc:IssueDate"), "contract conclusion date", warnings)
        decided = day(_text(contract, "cbc:AwardDate"), "winner decision date", warnings)
        fields["contract_signed_on"] = signed
        fields["awarded_on"] = decided or signed
        if fields["awarded_on"] is None:
            fields["awarded_on"] = day(issued, "notice dispatch date", warnings)
            warnings.append("no award or contract date; the result notice's dispatch date is used")
        yield finish_award(fields, warnings, ctx, _shown(data))


def _total(values: list[dict[str, Any]], warnings: list[str]) -> dict[str, Any] | None:
    if not values:
        return None
    if len({v["currency"] for v in values}) > 1:
        warnings.append("winning tenders in several currencies; no value kept")
        return None
    return {"amount": sum(v["amount"] for v in values), "currency": values[0]["currency"]}

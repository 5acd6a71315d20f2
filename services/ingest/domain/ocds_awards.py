"""OCDS awards and contracts (https://standard.open-contracting.org/latest/en/schema/reference/#award) as
``AwardRecord``\\ s, from every shape ``ocds.releases_of`` reads (releases, packages, records, JSON Lines).

One record per award with at least one supplier and status ``active`` (or none stated; ``cancelled`` gives a
record with that status, so that consumers withdraw what they took from it); its winners are the
award's ``suppliers``, completed from ``parties`` (identifier, additional identifiers, address); its dates are the
award's ``date`` (else the contract's) and the ``dateSigned`` of the contract whose ``awardID`` names it. An award
``pending`` or ``unsuccessful`` is rejected (``not_awarded``) so that it is counted, never silently dropped.

A release that holds awards but no tender is no notice: the notice mapper's ``not_a_notice`` rejection of it is
dropped when its awards were read here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from services.ingest.domain.awards import day, finish_award, identifier, organisation
from services.ingest.domain.model import Context, Outcome, Record, Rejection
from services.ingest.domain.normalize import (
    classification,
    clean_text,
    country,
    dedupe_classifications,
    money,
    raw_text,
)
from services.ingest.domain.ocds import _buyer, _dict, _list, _source_for, _tags, decode, releases_of

_NOT_AWARDED = {"pending", "unsuccessful"}


def with_awards(notices: Iterable[Outcome], data: bytes, ctx: Context) -> Iterator[Record]:
    """The notice mapper's outcomes, then the award records of the same document."""
    awards: list[Record] = []
    with_any: set[str] = set()
    doc = None
    # A document without awards is not decoded twice; one that does not decode, the notice mapper rejects.
    if b'"awards"' in data:
        with contextlib.suppress(ValueError):
            doc, _ = decode(data)
    if doc is not None:
        for release, _raw, _why in releases_of(doc, []):
            if release is None or "awards" not in release:
                continue
            found = list(map_awards(release, ctx))
            if found:
                with_any.add(clean_text(release.get("ocid")))
                awards.extend(found)
    for outcome in notices:
        if isinstance(outcome, Rejection) and outcome.reason == "not_a_notice" and outcome.key in with_any:
            continue
        yield outcome
    yield from awards


def _party_index(release: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {clean_text(p.get("id")): p for p in _list(release.get("parties")) if isinstance(p, dict) and p.get("id")}


def supplier(ref: dict[str, Any], parties: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """An award's supplier (an OCDS ``OrganizationReference``) completed from its party."""
    party = parties.get(clean_text(ref.get("id")), {})
    merged = {**party, **{k: v for k, v in ref.items() if v not in (None, "", [], {})}}
    address = _dict(merged.get("address"))
    code = country(address.get("countryName")) or country(address.get("country"))
    idents = [_dict(merged.get("identifier"))] + [_dict(i) for i in _list(merged.get("additionalIdentifiers"))]
    found = [identifier(i.get("scheme") or (f"{code}-ORGID" if code else None), i.get("id")) for i in idents]
    name = merged.get("name") or _dict(merged.get("identifier")).get("legalName")
    return organisation(
        name,
        found,
        country_value=code,
        street=address.get("streetAddress"),
        locality=address.get("locality"),
        postal_code=address.get("postalCode"),
        region=address.get("region"),
        party_id=ref.get("id"),
    )


def _codes(sources: list[Any], ctx: Context, warnings: list[str]) -> list[Any]:
    found = []
    for item in sources:
        item = _dict(item)
        for c in [_dict(item.get("classification"))] + [_dict(a) for a in _list(item.get("additionalClassifications"))]:
            if c.get("id") not in (None, ""):
                code = classification(c.get("scheme"), str(c.get("id")), c.get("description"), ctx, warnings)
                if code is not None:
                    found.append(code)
    return dedupe_classifications(found)


def map_awards(release: dict[str, Any], ctx: Context) -> Iterator[Record]:
    ocid = clean_text(release.get("ocid"))
    raw = raw_text(release)
    awards = release.get("awards")
    if not isinstance(awards, list):
        yield Rejection("not_ocds", f"release {ocid}: 'awards' is not an array", raw, ocid or None, "award")
        return
    if not ocid:
        yield Rejection("no_ocid", "the release has no ocid", raw, None, "award")
        return
    source = _source_for(ocid, ctx)
    tender = _dict(release.get("tender"))
    parties = _party_index(release)
    contracts = [_dict(c) for c in _list(release.get("contracts"))]
    buyer = _buyer(release, tender)
    tags = _tags(release)
    # The notice mapper's rule: a release whose tender is a notice has a notice id worth naming.
    is_tender = any(t.startswith("tender") for t in tags) or ("compiled" in tags and bool(tender.get("title")))
    seen: set[str] = set()
    for index, award in enumerate(awards):
        if not isinstance(award, dict):
            yield Rejection("not_ocds", f"release {ocid}: award {index} is not an object", raw, ocid, "award")
            continue
        award_id = clean_text(award.get("id")) or str(index)
        source_id = f"{ocid}:{award_id}"
        if source_id in seen:  # listed twice in one release (Colombia's SECOP): read once
            continue
        seen.add(source_id)
        status = clean_text(award.get("status")).lower()
        if status in _NOT_AWARDED:
            detail = f"award {award_id} of {ocid} is {status}"
            yield Rejection("not_awarded", detail, raw_text(award), source_id, "award")
            continue
        warnings: list[str] = []
        winners = [supplier(_dict(s), parties) for s in _list(award.get("suppliers"))]
        by_name = {
            (w["name"], tuple((i["scheme"], i["id"]) for i in w.get("identifiers", []))): w for w in winners if w
        }
        contract = next((c for c in contracts if clean_text(c.get("awardID")) == award_id), {})
        items = _list(award.get("items")) or _list(contract.get("items")) or _list(tender.get("items"))
        codes = _codes(items, ctx, warnings) or _codes([tender], ctx, warnings)
        value = _dict(award.get("value")) or _dict(contract.get("value"))
        url = clean_text(award.get("url"))
        fields: dict[str, Any] = {
            "source": source,
            "source_id": source_id,
            "status": "cancelled" if status == "cancelled" else "active",
            "tender": {
                "id": ocid,
                "notice_id": f"{source}:{ocid}" if is_tender else None,
                "title": clean_text(award.get("title")) or clean_text(tender.get("title")) or None,
                "description": clean_text(award.get("description")) or clean_text(tender.get("description")),
                "classifications": codes,
            },
            "buyer": buyer,
            "lot_id": next((clean_text(lot) for lot in _list(award.get("relatedLots"))), None) or None,
            "suppliers": list(by_name.values()),
            "value": money(value.get("amount"), value.get("currency"), "award value", warnings) if value else None,
            "awarded_on": day(award.get("date"), "award date", warnings),
            "contract_signed_on": day(contract.get("dateSigned"), "contract dateSigned", warnings),
            "contract_id": clean_text(contract.get("id")) or None,
            "source_url": url if url.startswith(("http://", "https://")) else None,
        }
        if fields["awarded_on"] is None:  # as eForms and award files do: the signature dates the award then
            fields["awarded_on"] = fields["contract_signed_on"]
        yield finish_award(fields, warnings, ctx, raw_text(award))

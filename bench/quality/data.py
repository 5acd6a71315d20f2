"""AusTender award files -> contract models (SupplierProfile from history, TenderNotice per test award)."""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from contracts import Buyer, Classification, CodeScheme, Item, Money, PastAward, SupplierProfile, TenderNotice

#: The few supplier countries that matter in AusTender, by the names it spells (upper-cased); others become ``ZZ``.
_COUNTRIES = {
    "AUSTRALIA": "AU",
    "UNITED STATES": "US",
    "UNITED KINGDOM": "GB",
    "SINGAPORE": "SG",
    "MALAYSIA": "MY",
    "CANADA": "CA",
    "GERMANY": "DE",
    "UNITED ARAB EMIRATES": "AE",
    "NEW ZEALAND": "NZ",
    "FRANCE": "FR",
    "JAPAN": "JP",
    "INDIA": "IN",
    "CHINA": "CN",
    "NETHERLANDS": "NL",
    "IRELAND": "IE",
}
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]+")


@dataclass(frozen=True)
class Award:
    signed: datetime
    description: str
    unspsc: str
    value: float | None
    agency: str
    supplier_key: str
    supplier_name: str
    country: str
    contract_id: str


def supplier_key(abn: str, name: str) -> str:
    """The evaluation's supplier identity: the ABN where present, else the upper-cased name."""
    return abn.strip() or name.strip().upper()


def read_awards(path: Path) -> Iterator[Award]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    for row in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
        try:
            value = float(row["contract_value_amount"]) if row["contract_value_amount"] else None
        except ValueError:
            value = None
        yield Award(
            signed=datetime.fromisoformat(row["contract_date_signed"].replace("Z", "+00:00")).astimezone(UTC),
            description=row["contract_description"].strip(),
            unspsc=row["contract_unspsc_id"].strip(),
            value=value,
            agency=row["agency_name"].strip() or "unknown agency",
            supplier_key=supplier_key(row["supplier_abn"], row["supplier_name"]),
            supplier_name=row["supplier_name"].strip() or "unnamed supplier",
            country=_COUNTRIES.get(row["supplier_country"].strip().upper(), "ZZ"),
            contract_id=row["contract_id"].strip(),
        )


def _classification(code: str) -> Classification | None:
    if len(code) == 8 and code.isdigit():
        return Classification(scheme=CodeScheme.UNSPSC, code=code)
    return None


def _money(value: float | None) -> Money | None:
    return Money(amount=value, currency="AUD") if value is not None and value >= 0 else None


def supplier_ids(keys: Iterable[str]) -> dict[str, str]:
    """Evaluation identity -> a valid ``SupplierProfile.supplier_id`` (``abn:...`` or ``name:...``), unique."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in keys:
        if key in out:
            continue
        base = f"abn:{key}" if key.isdigit() else "name:" + _ID_UNSAFE.sub("-", key).strip("-")[:100]
        sid, n = base, 1
        while sid in used:
            n += 1
            sid = f"{base}-{n}"
        used.add(sid)
        out[key] = sid
    return out


def build_profiles(history: list[Award], ids: dict[str, str]) -> list[SupplierProfile]:
    """One profile per supplier: declared codes = the distinct codes it won (most frequent first), every award
    as a ``PastAward`` (agency, description, code, value, date)."""
    by_supplier: dict[str, list[Award]] = {}
    for a in history:
        by_supplier.setdefault(a.supplier_key, []).append(a)
    profiles = []
    for key, awards in by_supplier.items():
        counts: dict[str, int] = {}
        for a in awards:
            counts[a.unspsc] = counts.get(a.unspsc, 0) + 1
        declared = [c for code in sorted(counts, key=lambda c: -counts[c]) if (c := _classification(code))]
        profiles.append(
            SupplierProfile(
                supplier_id=ids[key],
                names={"en": awards[-1].supplier_name},
                country=awards[-1].country,
                codes=declared,
                past_awards=[
                    PastAward(
                        agency=a.agency,
                        description=a.description,
                        classification=_classification(a.unspsc),
                        date=a.signed.date(),
                        value=_money(a.value),
                    )
                    for a in awards
                ],
            )
        )
    return profiles


def build_notice(a: Award, index: int) -> TenderNotice:
    cls = _classification(a.unspsc)
    source_id = re.sub(r"[^A-Za-z0-9_.-]", "-", a.contract_id) or str(index)
    return TenderNotice(
        notice_id=f"austender:{source_id}-{index}",
        source="austender",
        source_id=f"{source_id}-{index}",
        title=a.description or "Contract",
        buyer=Buyer(name=a.agency, country="AU"),
        items=[Item(description=a.description or None, classification=cls)] if cls else [],
        estimated_value=_money(a.value),
        published_at=a.signed,
    )


def split_by_date(awards: list[Award], split: date) -> tuple[list[Award], list[Award]]:
    cut = datetime(split.year, split.month, split.day, tzinfo=UTC)
    return [a for a in awards if a.signed < cut], [a for a in awards if a.signed >= cut]


def as_of(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)

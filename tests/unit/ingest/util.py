"""Helpers shared by the ingest unit tests."""

from __future__ import annotations

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

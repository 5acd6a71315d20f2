from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from contracts import CodeScheme, NoticeStatus, NoticeType, TenderNotice
from services.ingest.adapters.files import files_under
from services.ingest.domain import ocds
from services.ingest.domain.model import Context, Rejection
from tests.conftest import shared_data
from tests.unit.ingest.util import notices, rejections, release

pytestmark = pytest.mark.unit

CTX = Context(source="ocds", detect_language=False)


def parse(doc: Any) -> list[TenderNotice | Rejection]:
    return list(ocds.parse(orjson.dumps(doc), CTX))


def test_a_tender_release_becomes_a_normalized_notice() -> None:
    [notice] = notices(parse(release()))
    assert notice.notice_id == "ocds-abc123:ocds-abc123-0001"
    assert notice.title == "Weather radar maintenance"
    assert notice.buyer.name == "Met Office"
    assert notice.buyer.country == "GB"
    assert notice.codes(CodeScheme.CPV) == ["50000000"]
    assert notice.codes(CodeScheme.UNSPSC) == ["72151500"]
    assert notice.items[0].classification is not None
    assert notice.items[0].classification.check_digit == "5"
    assert notice.delivery_countries == ["GB"]
    assert notice.published_at == datetime(2026, 10, 1, 7, 0, tzinfo=UTC)
    assert notice.published_utc_offset == "+02:00"
    assert notice.deadline_at == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert notice.estimated_value is not None
    assert notice.estimated_value.currency == "GBP"
    assert notice.procurement_method == "open"
    assert notice.documents[0].url == "https://example.org/rfp.pdf"
    assert len(notice.content_hash) == 64
    assert notice.warnings == []


@pytest.mark.parametrize(
    ("tag", "tender_status", "expected"),
    [
        (["tender"], "active", NoticeStatus.ACTIVE),
        (["tenderAmendment"], "active", NoticeStatus.AMENDED),
        (["tenderUpdate"], "active", NoticeStatus.AMENDED),
        (["tenderCancellation"], "active", NoticeStatus.CANCELLED),
        (["tender"], "cancelled", NoticeStatus.CANCELLED),
        ("tender", "active", NoticeStatus.ACTIVE),  # OCDS 1.0 publishers sometimes give a string
    ],
)
def test_tags_and_status(tag: Any, tender_status: str, expected: NoticeStatus) -> None:
    doc = release(tag=tag)
    doc["tender"]["status"] = tender_status
    [notice] = notices(parse(doc))
    assert notice.status == expected


@pytest.mark.parametrize("tag", [["award"], ["contract"], ["awardUpdate", "contract"], ["implementation"], []])
def test_award_only_releases_are_rejected_as_not_a_notice(tag: list[str]) -> None:
    [rejection] = rejections(parse(release(tag=tag)))
    assert rejection.reason == "not_a_notice"
    assert rejection.key == "ocds-abc123-0001"
    assert json.loads(rejection.payload)["ocid"] == "ocds-abc123-0001"


def test_planning_release_is_a_prior_information_notice() -> None:
    [notice] = notices(parse(release(tag=["planning"])))
    assert notice.notice_type == NoticeType.PRIOR_INFORMATION


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r.pop("ocid"), "no_ocid"),
        (lambda r: (r.pop("buyer"), r.pop("parties")), "no_buyer"),
        (lambda r: r["tender"].update(title="", description="", items=[]), "no_title"),
    ],
)
def test_unusable_releases_are_rejected_with_a_reason(mutate: Any, reason: str) -> None:
    doc = release()
    mutate(doc)
    [rejection] = rejections(parse(doc))
    assert rejection.reason == reason
    assert rejection.detail


def test_packages_records_and_json_lines() -> None:
    r1, r2 = release(), release(ocid="ocds-abc123-0002")
    assert len(notices(parse({"uri": "x", "releases": [r1, r2]}))) == 2
    compiled = {"records": [{"ocid": r1["ocid"], "releases": [{"url": "x"}], "compiledRelease": r1}]}
    assert len(notices(parse(compiled))) == 1
    merged = {"ocid": r1["ocid"], "releases": [r1, release(date="2026-10-05T00:00:00Z", tag=["tenderAmendment"])]}
    [notice] = notices(parse({"records": [merged]}))
    assert notice.published_at == datetime(2026, 10, 5, tzinfo=UTC)
    lines = b"\n".join(orjson.dumps(r) for r in (r1, r2))
    assert len(notices(list(ocds.parse(lines, CTX)))) == 2


def test_versioned_release_takes_the_latest_value() -> None:
    def history(*values: Any) -> list[dict[str, Any]]:
        return [
            {"releaseID": f"r{i}", "releaseDate": f"2026-10-0{i}T00:00:00Z", "releaseTag": ["tender"], "value": v}
            for i, v in enumerate(values, start=1)
        ]

    record = {
        "ocid": "ocds-abc123-0003",
        "versionedRelease": {
            "ocid": history("ocds-abc123-0003"),
            "buyer": {"name": history("Old name", "New name")},
            "tender": {"id": history("T"), "title": history("First title", "Second title")},
        },
    }
    [notice] = notices(parse({"records": [record]}))
    assert (notice.title, notice.buyer.name) == ("Second title", "New name")


def test_windows_1252_document_is_read_with_a_warning() -> None:
    doc = release()
    doc["buyer"]["name"] = "ALCALDÍA MUNICIPIO DE SIBATÉ"
    data = json.dumps(doc, ensure_ascii=False).encode("cp1252")
    [notice] = notices(list(ocds.parse(data, CTX)))
    assert notice.buyer.name == "ALCALDÍA MUNICIPIO DE SIBATÉ"
    assert "document is not UTF-8; decoded as Windows-1252" in notice.warnings


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"4a6ead3005c0a3f72369463cc24a4f36790b74af",
        b"[1, 2]",
        b"{}",
        b"[" * 5000 + b"]" * 5000,  # deeper than the JSON decoders accept
        b'{"releases": [' + b'{"a": ' * 900 + b"1" + b"}" * 900 + b"]}",  # decodes, but deeper than OCDS nests
    ],
)
def test_non_ocds_documents_are_rejected(data: bytes) -> None:
    outcomes = list(ocds.parse(data, CTX))
    assert outcomes
    assert all(isinstance(o, Rejection) for o in outcomes)


def test_next_page_link() -> None:
    assert ocds.next_page({"links": {"next": "https://api.example/releases?page=2"}, "releases": []}) == (
        "https://api.example/releases?page=2"
    )
    assert ocds.next_page({"releases": []}) is None


def test_every_real_sample_file_becomes_notices_or_rejections() -> None:
    root = shared_data("ocds-samples")
    files = files_under(root)
    assert len(files) == 267
    seen_notices = 0
    for path in files:
        outcomes = list(ocds.parse(path.read_bytes(), CTX))
        assert outcomes, path
        for outcome in outcomes:
            assert isinstance(outcome, TenderNotice | Rejection)
            if isinstance(outcome, Rejection):
                assert outcome.reason
                assert outcome.detail
            else:
                seen_notices += 1
    assert seen_notices > 200

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts import CodeScheme, NoticeStatus, NoticeType, RegistrationLevel
from services.ingest.adapters.files import load_mapping_file
from services.ingest.domain import csvmap, jsonl, ted, ungm
from services.ingest.domain.model import Context, Rejection
from services.ingest.exceptions import SourceConfigError
from tests.conftest import shared_data
from tests.unit.ingest.util import FIXTURES, notices, rejections

pytestmark = pytest.mark.unit


def ctx(source: str) -> Context:
    return Context(source=source, detect_language=False)


def test_ted_search_response() -> None:
    path = shared_data("ted-samples", "api-v3", "search-response-5-notices.json")
    found = notices(list(ted.parse(path.read_bytes(), ctx("ted"))))
    assert [n.notice_id for n in found] == [
        "ted:543796-2026",
        "ted:543798-2026",
        "ted:543803-2026",
        "ted:680448-2026",
        "ted:680535-2026",
    ]
    first, second = found[0], found[1]
    assert first.language == "en"
    assert first.buyer.country == "NO"
    assert len(first.codes(CodeScheme.CPV)) == 19  # the list repeated twice, deduplicated
    assert first.codes(CodeScheme.CPV)[0] == "79000000"  # the main classification first
    assert first.deadline_at == datetime(2026, 8, 18, 23, 59, 59, tzinfo=UTC)
    assert second.buyer.name == "Klinikum Region Hannover GmbH"
    assert second.language == "de"
    assert second.estimated_value is not None
    assert second.estimated_value.amount == 1000.0
    assert second.published_utc_offset == "+02:00"


def test_ted_older_response_without_titles_is_rejected() -> None:
    path = shared_data("ted-samples", "api-v3", "search-response-older-format.json")
    out = rejections(list(ted.parse(path.read_bytes(), ctx("ted"))))
    assert [r.reason for r in out] == ["no_title", "no_title"]


def test_ted_award_notices_are_not_calls() -> None:
    raw = {"publication-number": "1-2026", "notice-type": "can-standard", "title-proc": {"eng": "Award"}}
    [rejection] = rejections([ted.map_notice(raw, ctx("ted"))])
    assert rejection.reason == "not_a_notice"


def test_ungm_search_results_page() -> None:
    path = shared_data("ungm-samples", "notice-search-results-afghanistan.html")
    found = notices(list(ungm.parse(path.read_bytes(), ctx("ungm"))))
    assert len(found) == 5
    by_id = {n.source_id: n for n in found}
    fao = by_id["316822"]
    assert fao.buyer.name == "FAO"
    assert fao.notice_type == NoticeType.ITB
    assert fao.deadline_utc_offset == "+04:30"
    assert fao.beneficiary_countries == ["AF"]
    assert by_id["316874"].beneficiary_countries == []  # "Multiple destinations"
    assert by_id["316814"].deadline_utc_offset == "-04:00"
    assert by_id["316843"].notice_type == NoticeType.CONSULTANT


def test_ungm_detail_page() -> None:
    [notice] = notices(list(ungm.parse((FIXTURES / "ungm-notice-detail.html").read_bytes(), ctx("ungm"))))
    assert notice.notice_id == "ungm:317001"
    assert notice.title == "Supply of solar water pumps for & irrigation schemes"
    assert notice.codes(CodeScheme.UNSPSC) == ["40151500", "26111600"]
    assert notice.required_registration_level == RegistrationLevel.LEVEL_1
    assert notice.notice_type == NoticeType.RFQ
    assert notice.deadline_at == datetime(2026, 10, 22, 11, 30, tzinfo=UTC)
    assert notice.description.startswith("FAO invites quotations for 40 solar-powered")


def test_ungm_export() -> None:
    outcomes = list(ungm.parse((FIXTURES / "ungm-export.csv").read_bytes(), ctx("ungm")))
    found, bad = notices(outcomes), rejections(outcomes)
    assert [n.source_id for n in found] == ["316874", "316843"]
    assert found[0].codes(CodeScheme.UNSPSC) == ["72121400"]
    assert found[1].beneficiary_countries == ["AF", "KE"]
    assert found[1].deadline_utc_offset == "-04:00"
    assert [r.reason for r in bad] == ["no_source_id"]


def test_csv_with_mapping() -> None:
    mapping = csvmap.CsvMapping.from_dict(load_mapping_file(FIXTURES / "mapping.yaml"))
    outcomes = list(csvmap.parse((FIXTURES / "notices.csv").read_bytes(), mapping, ctx("csv-austender")))
    found, bad = notices(outcomes), rejections(outcomes)
    assert [n.notice_id for n in found] == ["csv-austender:CN1001", "csv-austender:CN1002"]
    laptops, cleaning = found
    assert laptops.title == "Laptops for regional offices"
    assert laptops.estimated_value is not None
    assert laptops.estimated_value.amount == 120000.5
    assert laptops.published_at == datetime(2026, 9, 30, 14, 0, tzinfo=UTC)
    assert laptops.buyer.country == "AU"
    assert cleaning.status == NoticeStatus.CANCELLED
    assert cleaning.codes(CodeScheme.UNSPSC) == ["76110000", "76111500"]
    assert any(w.startswith("deadline ignored") for w in cleaning.warnings)
    assert [r.reason for r in bad] == ["no_title"]


def test_csv_mapping_errors_are_clear() -> None:
    with pytest.raises(SourceConfigError, match="source_id"):
        csvmap.CsvMapping.from_dict({"name": "x", "columns": {"title": "T"}})
    with pytest.raises(SourceConfigError, match="invalid CSV mapping"):
        csvmap.CsvMapping.from_dict({"name": "Bad Name", "columns": {}})
    mapping = csvmap.CsvMapping.from_dict({"name": "x", "columns": {"source_id": "id", "title": "missing"}})
    [rejection] = list(csvmap.parse(b"id,other\n1,2\n", mapping, ctx("csv-x")))
    assert rejection.reason == "csv_columns_missing"  # type: ignore[union-attr]


def test_jsonl_takes_notices_as_they_are() -> None:
    good = (
        b'{"notice_id": "demo:1", "source": "demo", "source_id": "1", "version": 4, "status": "amended",'
        b' "title": "Pumps", "buyer": {"name": "UNICEF"}}'
    )
    outcomes = list(jsonl.parse(good + b"\nnot json\n\n{}\n", ctx("demo")))
    [notice] = notices(outcomes)
    assert (notice.notice_id, notice.version, notice.status) == ("demo:1", 1, NoticeStatus.ACTIVE)
    assert notice.content_hash
    assert [r.reason for r in rejections(outcomes)] == ["invalid_json", "invalid_notice"]


def test_ungm_detail_page_in_a_table_layout() -> None:
    data = (FIXTURES / "ungm-notice-detail-table.html").read_bytes()
    [notice] = notices(list(ungm.parse(data, ctx("ungm"), name="https://www.ungm.org/Public/Notice/318000")))
    assert notice.notice_id == "ungm:318000"
    assert notice.buyer.name == "UNICEF"
    assert notice.notice_type == NoticeType.RFP
    assert [(c.code, c.description) for c in notice.classifications] == [("41116100", "Reagents")]
    assert notice.beneficiary_countries == []
    assert notice.deadline_utc_offset is None
    assert "deadline has no time zone; read as UTC" in notice.warnings
    assert notice.description == "Long-term agreements for PCR reagents & consumables."


@pytest.mark.parametrize(
    ("title", "language"),
    [
        ("Solar panels", None),  # too short to tell: langdetect alone would say "ca"
        ("Supply and installation of solar panels for the water pumping stations of the northern district", "en"),
    ],
)
def test_a_ted_title_without_a_language_key_states_a_language_only_when_clear(title: str, language: str | None) -> None:
    raw = {"publication-number": "2-2026", "notice-type": "cn-standard", "title-proc": title, "buyer-name": "City"}
    notice = ted.map_notice(raw, Context(source="ted", detect_language=True))
    assert not isinstance(notice, Rejection), notice
    assert notice.language == language

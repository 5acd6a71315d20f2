"""The demo data generator: seeded, valid against the contracts, varied, and matchable."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.codes import ancestors
from contracts.common import Classification, CodeScheme
from contracts.notice import NoticeType, TenderNotice
from contracts.supplier import AlertFrequency, SupplierProfile
from localrun.demodata.__main__ import app
from localrun.demodata.data import SECTORS, generate_notices, generate_suppliers, showcase_suppliers

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")


@pytest.fixture(scope="module")
def suppliers() -> list[SupplierProfile]:
    return generate_suppliers(600, seed=11)


@pytest.fixture(scope="module")
def notices() -> list[TenderNotice]:
    return generate_notices(400, seed=11, now=NOW)


def _family(c: Classification) -> str:
    """UNSPSC family (4 digits) or CPV group (3 digits): the level at which matching starts to make sense."""
    chain = ancestors(c.scheme, c.code)
    return f"{c.scheme}:{chain[min(1, len(chain) - 1)]}"


def _sector_of(c: Classification) -> str | None:
    for sector in SECTORS:
        if c.code in {line.code for line in sector.lines} | {code for code, _ in sector.broad_codes} | {
            code.split("-")[0] for code, _ in sector.cpv
        }:
            return sector.key
    return None


def test_same_seed_gives_the_same_data_and_another_seed_does_not() -> None:
    a = [p.model_dump_json() for p in generate_suppliers(50, seed=3)]
    b = [p.model_dump_json() for p in generate_suppliers(50, seed=3)]
    c = [p.model_dump_json() for p in generate_suppliers(50, seed=4)]
    assert a == b
    assert a != c
    n1 = [n.model_dump_json() for n in generate_notices(50, seed=3, now=NOW)]
    n2 = [n.model_dump_json() for n in generate_notices(50, seed=3, now=NOW)]
    n3 = [n.model_dump_json() for n in generate_notices(50, seed=3, now=NOW + timedelta(days=1))]
    assert n1 == n2
    assert n1 != n3


def test_a_prefix_of_a_larger_run_is_the_smaller_run() -> None:
    # Operators regenerate with more rows; the first ones must not change under them.
    small = generate_suppliers(30, seed=5)
    large = generate_suppliers(90, seed=5)
    assert [p.supplier_id for p in small] == [p.supplier_id for p in large[:30]]


def test_every_supplier_validates_against_the_contract(suppliers: list[SupplierProfile]) -> None:
    for profile in suppliers:
        again = SupplierProfile.model_validate_json(profile.model_dump_json())
        assert again == profile, profile.supplier_id


def test_every_notice_validates_against_the_contract(notices: list[TenderNotice]) -> None:
    for notice in notices:
        again = TenderNotice.model_validate_json(notice.model_dump_json())
        assert again == notice, notice.notice_id


def test_ids_are_unique_and_emails_use_reserved_domains(
    suppliers: list[SupplierProfile], notices: list[TenderNotice]
) -> None:
    assert len({p.supplier_id for p in suppliers}) == len(suppliers)
    assert len({n.notice_id for n in notices}) == len(notices)
    emails = [e for p in suppliers for e in p.emails]
    assert emails
    assert all(e.endswith(tuple(f".{d}" for d in RESERVED_DOMAINS)) for e in emails)
    assert len(set(emails)) == len(emails)


def test_suppliers_are_spread_across_sectors_countries_and_languages(suppliers: list[SupplierProfile]) -> None:
    sectors = Counter(_sector_of(p.codes[0]) for p in suppliers)
    assert None not in sectors
    assert len(sectors) == len(SECTORS) >= 12
    countries = Counter(p.country for p in suppliers)
    assert countries.most_common(1)[0][0] == "CN"
    assert len(countries) >= 10
    with_zh_name = sum("zh-Hans" in p.names for p in suppliers) / len(suppliers)
    assert 0.35 <= with_zh_name <= 0.7
    assert all("zh-Hans" in p.names and "zh-Hans" in p.description for p in suppliers if p.country == "CN")
    zh_alerts = sum(p.preferences.language == "zh-Hans" for p in suppliers) / len(suppliers)
    assert 0.2 <= zh_alerts <= 0.45
    digest = sum(p.preferences.frequency == AlertFrequency.DAILY_DIGEST for p in suppliers) / len(suppliers)
    assert 0.15 <= digest <= 0.35
    assert {p.preferences.timezone for p in suppliers} >= {"Asia/Shanghai", "Asia/Kolkata", "Africa/Nairobi"}
    schemes = Counter(c.scheme for p in suppliers for c in p.codes)
    assert schemes[CodeScheme.UNSPSC] > schemes[CodeScheme.CPV] > 0
    assert any(p.past_awards for p in suppliers)
    assert any(p.certifications for p in suppliers)
    assert len({p.registration_level for p in suppliers}) == 3


def test_supplier_codes_come_at_mixed_levels(suppliers: list[SupplierProfile]) -> None:
    levels = Counter(len(ancestors(c.scheme, c.code)) for p in suppliers for c in p.codes if c.scheme == "UNSPSC")
    # family (2 ancestors), class (3) and commodity (4) codes all occur, as suppliers really declare them.
    assert {2, 3, 4} <= set(levels)


def test_notices_are_spread_across_sectors_agencies_types_and_languages(notices: list[TenderNotice]) -> None:
    sectors = {_sector_of(n.all_classifications()[0]) for n in notices}
    assert sectors == {s.key for s in SECTORS}
    ungm = [n for n in notices if n.source == "ungm"]
    ted = [n for n in notices if n.source == "ted"]
    assert ungm
    assert ted
    assert all(n.codes(CodeScheme.CPV) and not n.codes(CodeScheme.UNSPSC) for n in ted)
    assert all(n.codes(CodeScheme.UNSPSC) for n in ungm)
    assert {n.notice_type for n in ungm} == {NoticeType.RFQ, NoticeType.ITB, NoticeType.RFP, NoticeType.EOI}
    assert len({n.buyer.name for n in ungm}) >= 6
    chinese = [n for n in notices if n.language == "zh-Hans"]
    assert 0 < len(chinese) < len(notices) / 4
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in n.title) for n in chinese)
    assert {n.estimated_value.currency for n in notices if n.estimated_value} == {"USD", "EUR"}
    assert any(n.eligible_supplier_countries for n in notices)
    assert any(n.required_registration_level for n in notices)
    assert all(n.items and all(i.description and i.classification for i in n.items) for n in notices)


def test_deadlines_are_3_to_40_days_after_now_on_a_round_local_hour(notices: list[TenderNotice]) -> None:
    for n in notices:
        assert n.deadline_at is not None
        assert n.published_at is not None
        assert n.published_at <= NOW
        assert NOW + timedelta(days=3) < n.deadline_at <= NOW + timedelta(days=41)
        assert n.is_open(NOW)
        # The offset the portal published is kept, and the local deadline is on the hour.
        assert n.deadline_utc_offset is not None
        sign = -1 if n.deadline_utc_offset.startswith("-") else 1
        hours, minutes = (int(x) for x in n.deadline_utc_offset[1:].split(":"))
        local = n.deadline_at + sign * timedelta(hours=hours, minutes=minutes)
        assert (local.minute, local.second) == (0, 0), (n.notice_id, n.deadline_utc_offset, n.deadline_at)
    assert len({n.deadline_utc_offset for n in notices}) >= 5


def test_default_now_is_the_current_time() -> None:
    before = datetime.now(UTC)
    (notice,) = generate_notices(1)
    assert notice.deadline_at is not None
    assert notice.deadline_at > before + timedelta(days=3)


def test_every_notice_shares_a_code_family_with_some_supplier() -> None:
    # Even with few suppliers: the first ones are broad distributors, one per sector.
    suppliers = generate_suppliers(len(SECTORS), seed=2)
    families = {_family(c) for p in suppliers for c in p.codes}
    for notice in generate_notices(300, seed=2, now=NOW):
        assert {_family(c) for c in notice.all_classifications()} & families, notice.notice_id


def test_most_notices_have_several_candidate_suppliers(
    suppliers: list[SupplierProfile], notices: list[TenderNotice]
) -> None:
    by_family = Counter(f for p in suppliers for f in {_family(c) for c in p.codes})
    candidates = [max(by_family[_family(c)] for c in n.all_classifications()) for n in notices]
    assert sum(c >= 5 for c in candidates) / len(candidates) > 0.9


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        generate_suppliers(-1)
    with pytest.raises(ValueError, match="n must be >= 0"):
        generate_notices(-1)
    assert generate_suppliers(0) == []


def test_write_command_writes_one_valid_model_per_line(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        ["write", "--out", str(out), "--suppliers", "25", "--notices", "12", "--seed", "3", "--now", NOW.isoformat()],
    )
    assert result.exit_code == 0, result.output
    supplier_lines = (out / "suppliers.jsonl").read_text(encoding="utf-8").splitlines()
    notice_lines = (out / "notices.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(supplier_lines) == 25 + len(showcase_suppliers())
    assert len(notice_lines) == 12
    written = [SupplierProfile.model_validate_json(line) for line in supplier_lines]
    assert written == generate_suppliers(25, seed=3) + showcase_suppliers()
    assert [TenderNotice.model_validate_json(line) for line in notice_lines] == generate_notices(12, seed=3, now=NOW)
    assert json.loads(notice_lines[0])["deadline_at"] > NOW.isoformat()


def test_the_showcase_supplier_describes_itself_in_chinese_only_and_states_no_code(tmp_path: Path) -> None:
    [showcase] = showcase_suppliers()
    assert showcase.codes == []
    assert showcase.past_awards == []
    assert set(showcase.description) == set(showcase.names) == {"zh-Hans"}
    assert showcase.preferences.language == "zh-Hans"
    result = CliRunner().invoke(app, ["write", "--out", str(tmp_path), "--suppliers", "3", "--no-showcase"])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "suppliers.jsonl").read_text(encoding="utf-8").splitlines()) == 3


def test_write_command_refuses_a_now_without_offset(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["write", "--out", str(tmp_path), "--now", "2026-03-10T09:30:00"])
    assert result.exit_code != 0
    assert "time zone offset" in result.output
    assert not (tmp_path / "notices.jsonl").exists()

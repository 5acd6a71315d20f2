from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.ingest.entrypoints.cli import app
from tests.conftest import shared_data
from tests.unit.ingest.util import FIXTURES, notice_xml, package, result_xml

pytestmark = pytest.mark.unit


def test_parse_prints_json_lines_and_a_summary() -> None:
    path = shared_data("ted-samples", "api-v3")
    result = CliRunner().invoke(app, ["parse", str(path), "--source", "ted"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [n["notice_id"] for n in lines][:2] == ["ted:543796-2026", "ted:543798-2026"]
    assert "2 files: 5 notices (ted 5;" in result.stderr
    assert "2 rejections (no_title 2)" in result.stderr


def test_parse_csv_needs_its_mapping() -> None:
    result = CliRunner().invoke(app, ["parse", str(FIXTURES / "notices.csv"), "--source", "csv"])
    assert result.exit_code == 2
    assert "mapping" in result.stderr
    mapped = CliRunner().invoke(
        app, ["parse", str(FIXTURES / "notices.csv"), "--source", "csv", "--mapping", str(FIXTURES / "mapping.yaml")]
    )
    assert mapped.exit_code == 0
    assert "2 notices (csv-austender 2;" in mapped.stderr


def test_parse_names_the_line_the_field_and_the_reason_of_each_bad_json_lines_record(tmp_path: Path) -> None:
    good = {"notice_id": "push:1", "source": "push", "source_id": "1", "title": "Pumps", "buyer": {"name": "U"}}
    lines = [
        json.dumps(good),
        "",
        json.dumps({**good, "notice_id": "push:2", "source_id": "2", "title": None}),
        json.dumps({**good, "notice_id": "push:3", "source_id": "3", "deadline_at": "soon"}),
        "{not json",
    ]
    path = tmp_path / "notices.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["parse", str(path), "--source", "jsonl"], env={"TB_INGEST_DETECT_LANGUAGE": "0"})
    assert result.exit_code == 0, result.output
    bad = [line for line in result.stderr.splitlines() if line.startswith("rejected")]
    assert bad[:2] == [
        f"rejected {path} [push:2]: invalid_notice: line 3: title: Input should be a valid string",
        f"rejected {path} [push:3]: invalid_notice: line 4: deadline_at: Input should be a valid datetime or date, "
        "input is too short",
    ]
    assert bad[2].startswith(f"rejected {path}: invalid_json: line 5: ")
    assert bad[2].endswith(" at column 2")  # the column within the line, not "line 1" of the line alone


def test_parse_names_the_line_and_the_column_of_a_bad_csv_row(tmp_path: Path) -> None:
    path = tmp_path / "notices.csv"
    path.write_text(
        "CN ID,Description,Agency\n"
        'CN1,"Laptops, two\nlines",Health\n'  # a quoted cell over two lines: the next record starts on line 4
        "CN2,,Health\n"
        "CN3,Tents,Health,extra\n"
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("name: t\ncolumns:\n  source_id: CN ID\n  title: Description\n  buyer_name: Agency\n")
    result = CliRunner().invoke(
        app,
        ["parse", str(path), "--source", "csv", "--mapping", str(mapping)],
        env={"TB_INGEST_DETECT_LANGUAGE": "0"},
    )
    assert result.exit_code == 0, result.output
    bad = [line for line in result.stderr.splitlines() if line.startswith("rejected")]
    assert bad == [
        f"rejected {path} [CN2]: no_title: line 4: record CN2 has no title (column 'Description' is empty)",
        f"rejected {path}: csv_row_malformed: line 5: more cells than the header's 3",
    ]


def test_parse_eforms_prints_notices_and_award_records_and_counts_both(tmp_path: Path) -> None:
    (tmp_path / "20240130.tar.gz").write_bytes(package({"n.xml": notice_xml(), "r.xml": result_xml()}))
    (tmp_path / "other.xml").write_bytes(notice_xml(sdk="eforms-sdk-2.0"))
    result = CliRunner().invoke(app, ["parse", str(tmp_path), "--source", "eforms"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("notice_id") or line.get("award_id") for line in lines] == [
        "ted:612681-2024",
        "ted:250000-2024:LOT-0001",
    ]
    assert "2 files: 1 notices (ted 1; 1 with warnings), 1 award records (ted 1; 0 with warnings)" in result.stderr
    assert "2 rejections (no_winner 1, unknown_sdk_version 1)" in result.stderr
    assert "eforms-sdk-2.0" in result.stderr

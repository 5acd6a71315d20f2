from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from services.ingest.entrypoints.cli import app
from tests.conftest import shared_data
from tests.unit.ingest.util import FIXTURES

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

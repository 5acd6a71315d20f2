"""``python -m services.matcher crosswalk``: the closest codes of the other scheme from the shipped table."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from services.matcher.entrypoints.cli import app

pytestmark = pytest.mark.unit


def test_a_cpv_code_lists_unspsc_codes_with_titles_and_scores_as_json() -> None:
    result = CliRunner().invoke(app, ["crosswalk", "CPV:30213100-6", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["code"] == "30213100-6"
    assert answer["title"] == "Portable computers"
    assert answer["closest"]
    assert all(row["scheme"] == "UNSPSC" and row["title"] for row in answer["closest"])
    assert any(row["code"] == "43211503" for row in answer["closest"])  # notebook computers


def test_a_unspsc_code_lists_cpv_codes_written_with_their_check_digit() -> None:
    result = CliRunner().invoke(app, ["crosswalk", "unspsc:42132203"])
    assert result.exit_code == 0, result.output
    assert "CPV 33141420-0" in result.stdout


@pytest.mark.parametrize("code", ["CPV:331", "42132203", "GSIN:N6515"])
def test_what_is_not_a_scheme_and_code_exits_2_saying_how_to_write_one(code: str) -> None:
    result = CliRunner().invoke(app, ["crosswalk", code])
    assert result.exit_code == 2
    assert "CPV:33141411-4" in result.output

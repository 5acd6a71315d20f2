"""``python -m services.matcher suggest-codes``: codes for text in any language, from the shipped data and the real
encoder (no server needed; the model loads from the installed package)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.matcher.entrypoints.cli import app

pytestmark = pytest.mark.integration


def test_a_file_of_texts_gets_one_json_line_each_and_bad_lines_are_named(tmp_path: Path) -> None:
    source = tmp_path / "texts.jsonl"
    source.write_text(
        '{"id": "fr", "text": "Ordinateurs portables pour le personnel du ministère"}\n'
        '{"id": "no text"}\n'
        '{"id": 7, "text": "太阳能光伏组件，单晶硅，550瓦"}\n',
        encoding="utf-8",
    )
    args = ["suggest-codes", "--file", str(source), "--scheme", "cpv", "--top", "3", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2  # one line refused
    assert "texts.jsonl line 2" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["fr", 7]
    laptops, solar = (line["codes"] for line in lines)
    assert len(laptops) == 3
    assert laptops[0]["code"].startswith("30213")  # CPV 30213 computers, written with the check digit
    assert laptops[0]["code"][-2] == "-"
    assert solar[0]["title"] == "Solar photovoltaic modules"
    assert all(c["scheme"] == "CPV" and 0 <= c["score"] <= 1 for c in laptops + solar)


def test_neither_text_nor_file_exits_2_saying_what_to_give() -> None:
    result = CliRunner().invoke(app, ["suggest-codes"])
    assert result.exit_code == 2
    assert "give one TEXT or --file F" in result.output

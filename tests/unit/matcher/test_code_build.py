"""What the code index learns from: history-month awards with a UNSPSC code, never the notices the dev suppliers
were written after (``python -m bench.xling.build_codes``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.xling.__main__ import code_hit
from bench.xling.build_codes import held_out_texts, labelled

pytestmark = pytest.mark.unit

COLUMNS = [
    "contract_date_signed",
    "contract_description",
    "contract_unspsc_id",
    "contract_value_amount",
    "agency_name",
    "supplier_abn",
    "supplier_name",
    "supplier_country",
    "contract_id",
]


def award_file(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for n, (signed, description, code) in enumerate(rows):
            w.writerow([signed, description, code, "1000", "Department of Defence", "", "ACME", "Australia", f"CN{n}"])
    return path


def test_only_coded_history_awards_are_learnt_and_the_dev_notices_are_held_out(tmp_path: Path) -> None:
    dev = tmp_path / "zh-suppliers-dev"
    dev.mkdir()
    (dev / "notices.jsonl").write_text(json.dumps({"id": "CN1", "title": "Canine Food Products"}) + "\n")
    awards = award_file(
        tmp_path / "awards.csv",
        [
            ("2024-01-10T00:00:00Z", "Provision of dog food", "10121800"),
            ("2024-01-11T00:00:00Z", "Canine Food Products", "10121800"),  # a dev notice: held out
            ("2024-05-02T00:00:00Z", "Dog food for June", "10121800"),  # a test month
            ("2024-01-12T00:00:00Z", "Kennel cleaning", "7613"),  # not an 8-digit code
        ],
    )
    assert held_out_texts(tmp_path) == {"Canine Food Products"}
    assert labelled(awards, "2024-05-01", held_out_texts(tmp_path)) == [("10121800", "Provision of dog food")]


def test_without_the_dev_folder_nothing_is_held_out(tmp_path: Path) -> None:
    assert held_out_texts(tmp_path) == set()


@pytest.mark.parametrize(
    ("codes", "label", "level", "hit"),
    [
        (["42132205"], "421322", "class", True),
        (["42132205"], "421321", "class", False),
        (["42132205"], "421321", "family", True),
        # A class given at family level is met by any code of the family, for the class too.
        (["42131601"], "421300", "class", True),
        (["42141601"], "421300", "family", False),
        # One given at segment level by any code of the segment.
        (["86101705"], "860000", "family", True),
        (["86101705"], "860000", "class", True),
        (["85101705"], "860000", "family", False),
        ([], "421322", "family", False),
    ],
)
def test_a_suggestion_meets_a_label_at_the_level_the_label_is_given(
    codes: list[str], label: str, level: str, hit: bool
) -> None:
    assert code_hit(codes, label, level) is hit

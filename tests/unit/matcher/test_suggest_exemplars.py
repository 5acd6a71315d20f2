"""The supplier-style exemplar texts (``bench/xling/supplier-exemplars.jsonl``) that
``python -m bench.xling.build_codes --exemplars`` can add to the code index: every UNSPSC family has one, each under
a code of the shipped list, and a malformed file is refused with its line named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.xling.build_codes import EXEMPLARS_FILE, read_exemplars
from contracts.common import CodeScheme
from services.matcher.adapters.codebook import titles

pytestmark = pytest.mark.unit

#: A Chinese character, or a run of Latin letters and digits (``ISO9001``, ``304``) counted as one.
_CHARACTER = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9.]+")


def test_every_unspsc_family_has_an_exemplar_under_a_known_code() -> None:
    exemplars = read_exemplars(EXEMPLARS_FILE)
    known = titles(CodeScheme.UNSPSC)
    families = {code[:4] for code in known if code.endswith("0000") and not code.endswith("000000")}
    assert len(families) == 452
    assert [code for code, _ in exemplars if code not in known] == []
    assert families - {code[:4] for code, _ in exemplars} == set()


def test_exemplars_are_short_distinct_chinese_self_descriptions() -> None:
    rows = [json.loads(line) for line in EXEMPLARS_FILE.read_text(encoding="utf-8").splitlines()]
    assert {row["lang"] for row in rows} == {"zh"}
    lengths = [len(_CHARACTER.findall(row["text"])) for row in rows]
    assert min(lengths) >= 40
    assert max(lengths) <= 90
    assert len({row["text"] for row in rows}) == len(rows)


def test_blank_lines_are_skipped_and_texts_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "exemplars.jsonl"
    lines = [json.dumps({"code": "42132205", "lang": "zh", "text": " 丁腈手套生产厂 "}), "", "  "]
    path.write_text("\n".join(lines), encoding="utf-8")
    assert read_exemplars(path) == [("42132205", "丁腈手套生产厂")]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", "not JSON"),
        ('["42132205", "手套"]', "expected an object"),
        ('{"code": "4213", "text": "手套"}', "code must be 8 digits"),
        ('{"code": 42132205, "text": "手套"}', "code must be 8 digits"),
        ('{"code": "4213220x", "text": "手套"}', "code must be 8 digits"),
        ('{"code": "42132205", "text": "  "}', "empty text"),
        ('{"code": "42132205"}', "empty text"),
    ],
)
def test_a_malformed_line_is_refused_with_its_file_and_line(tmp_path: Path, line: str, says: str) -> None:
    path = tmp_path / "exemplars.jsonl"
    good = json.dumps({"code": "42132205", "lang": "zh", "text": "丁腈手套生产厂"})
    path.write_text(f"{good}\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"exemplars\.jsonl:2: {says}"):
        read_exemplars(path)

"""``python -m services.matcher import-awards``, ``awards explain`` and ``awards split`` over the local Kafka and
Elasticsearch: award files read through ingest's parse (CSV with a mapping) or as AwardRecord JSON Lines, prospects
stored once however often the file is read, a merge explained and undone by an operator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from services.matcher.domain.resolve import Winner, entity_id_for, normalise_identifier
from tests.conftest import REPO, Endpoints
from tests.integration.matcher.helpers import matcher_cli
from tests.unit.matcher_service.award_builders import Org, Record, abn

pytestmark = pytest.mark.integration

CSV = "\n".join(
    [
        "ocid,contract_id,contract_date_signed,contract_description,contract_unspsc_id,contract_value_amount,"
        "agency_name,supplier_id,supplier_abn,supplier_name,supplier_country,supplier_region,supplier_locality,"
        "supplier_postalCode",
        "prod-1,CN1,2024-03-01T01:00:00Z,Nitrile gloves,42132203,1000.00,Department of Health,x,47001407281,"
        "Hays Specialist Recruitment Pty Ltd,Australia,ACT,CANBERRA,2600",
        "prod-2,CN2,2024-03-02T01:00:00Z,Gloves again,42132203,2000.00,Department of Health,x,47001407281,"
        "TWIGGIT PTY LTD,Australia,ACT,CANBERRA,2600",
        "",
    ]
)
#: The prospect the two rows (one ABN) make: its id derives from the identifier (``resolve.entity_id_for``).
PROSPECT = entity_id_for(Winner("r", "Hays", (normalise_identifier("AU-ABN", "47001407281"),), "AU"))


def test_import_awards_explain_and_split(endpoints: Endpoints, unique: Callable[[str], str], tmp_path: Path) -> None:
    call = matcher_cli(endpoints, unique, "awards-cli")

    awards = tmp_path / "awards.csv"
    awards.write_text(CSV, encoding="utf-8")
    mapping = str(REPO / "services" / "ingest" / "mappings" / "austender-awards.yaml")
    first = call("import-awards", str(awards), "--source", "csv", "--mapping", mapping)
    assert first.returncode == 0, first.stderr
    assert "2 winners read: 1 profiles stored (1 new prospects), 1 merges" in first.stderr
    again = call("import-awards", str(awards), "--source", "csv", "--mapping", mapping)
    assert "2 winners read: 0 profiles stored (0 new prospects)" in again.stderr

    lines = tmp_path / "awards.jsonl"
    record = Record("ocds-x:7", [Org("Glove Works Pty Ltd", abn("11 111 111 111"))])
    lines.write_text(record.model_dump_json() + "\n{broken\n", encoding="utf-8")
    jsonl = call("import-awards", str(lines), "--source", "jsonl")
    assert jsonl.returncode == 1  # one line unreadable, and said so
    assert "line 2" in jsonl.stderr
    assert "1 winners read: 1 profiles stored (1 new prospects)" in jsonl.stderr

    explained = call("awards", "explain", "award-nonexistent")
    assert explained.returncode == 2
    merged = [json.loads(line) for line in call("awards", "explain", PROSPECT, "--json").stdout.splitlines()]
    assert [(m["award_id"], m["matched_by"]) for m in merged] == [
        ("csv-austender:prod-1:CN1", "new"),
        ("csv-austender:prod-2:CN2", "identifier"),
    ]
    supplier_id = merged[0]["supplier_id"]
    split = call("awards", "split", supplier_id, "csv-austender:prod-2:CN2", "--reason", "a different firm")
    assert split.returncode == 0, split.stderr
    assert f"1 awards moved from {supplier_id} (1 left) to the new prospect {supplier_id}-split" in split.stderr
    moved = json.loads(call("awards", "explain", f"{supplier_id}-split", "--json").stdout)
    assert (moved["matched_by"], "a different firm" in moved["explanation"]) == ("operator", True)
    # Read again, the file leaves the split as the operator made it.
    assert "0 profiles stored" in call("import-awards", str(awards), "--source", "csv", "--mapping", mapping).stderr

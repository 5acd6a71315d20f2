"""``python -m services.matcher awards claim`` / ``awards unclaim`` and a claim by an admin's import over the local
Kafka and Elasticsearch: a prospect claimed by name when the firm is imported, given back by an operator, claimed
again explicitly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from services.matcher.domain.resolve import Winner, entity_id_for, normalise_identifier
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import matcher_cli
from tests.unit.matcher_service.award_builders import Org, Record, abn
from tests.unit.matcher_service.builders import supplier

pytestmark = pytest.mark.integration

PROSPECT = entity_id_for(Winner("r", "Glove Works", (normalise_identifier("AU-ABN", "51824753556"),), "AU"))


def test_a_prospect_claimed_by_an_import_is_given_back_and_claimed_again_by_an_operator(
    endpoints: Endpoints, unique: Callable[[str], str], tmp_path: Path
) -> None:
    call = matcher_cli(endpoints, unique, "claims-cli")

    def explain(supplier_id: str) -> list[dict[str, str]]:
        return [json.loads(line) for line in call("awards", "explain", supplier_id, "--json").stdout.splitlines()]

    awards = tmp_path / "awards.jsonl"
    records = [Record(f"ocds-x:{n}", [Org("Glove Works Pty Ltd", abn("51 824 753 556"))]) for n in (1, 2)]
    awards.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    assert call("import-awards", str(awards), "--source", "jsonl").returncode == 0
    firms = tmp_path / "firms.jsonl"
    firms.write_text(supplier("F1", names={"en": "GLOVE WORKS PTY LIMITED"}, country="AU").model_dump_json() + "\n")
    imported = call("import-suppliers", str(firms))
    assert imported.returncode == 0, imported.stderr
    assert {m["matched_by"] for m in explain("F1")} == {"claim"}
    assert call("awards", "explain", PROSPECT).returncode == 2  # the prospect is gone

    back = call("awards", "unclaim", "F1", PROSPECT, "--reason", "another firm of that name")
    assert back.returncode == 0, back.stderr
    assert f"2 awards back from F1 to the prospect {PROSPECT}" in back.stderr
    assert {m["matched_by"] for m in explain(PROSPECT)} == {"operator"}
    assert call("awards", "unclaim", "F1", PROSPECT, "--reason", "again").returncode == 2

    claimed = call("awards", "claim", PROSPECT, "F1", "--reason", "the firm phoned, ABN checked")
    assert claimed.returncode == 0, claimed.stderr
    assert "F1 'GLOVE WORKS PTY LIMITED' claimed" in claimed.stderr
    assert all("the firm phoned, ABN checked" in m["explanation"] for m in explain("F1"))

"""Award records from OCDS awards and contracts and from award CSVs, and their publishing: versioned, never twice
the same, dead letters on the awards' own topic; the OCDS samples and AusTender's file with the shipped mapping."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from contracts import AwardRecord, DeadLetter, TenderNotice
from services.infra.bus import InMemoryPublisher
from services.ingest.adapters.files import load_mapping_file
from services.ingest.adapters.memory import InMemoryStateStore
from services.ingest.adapters.state import SqliteStateStore
from services.ingest.domain.csvmap import CsvMapping
from services.ingest.domain.model import Context, Record, Rejection
from services.ingest.domain.sources import gunzipped, parse_bytes
from services.ingest.exceptions import SourceConfigError
from services.ingest.service import Ingestor
from tests.conftest import shared_data
from tests.unit.ingest.util import release, result_xml

pytestmark = pytest.mark.unit

CTX = Context(source="ocds", detect_language=False)
NOW = datetime(2026, 10, 2, tzinfo=UTC)
AUSTENDER_MAPPING = Path(__file__).resolve().parents[3] / "services" / "ingest" / "mappings" / "austender-awards.yaml"


def award_release(**award: Any) -> dict[str, Any]:
    """An OCDS award release: one active award to a supplier described in ``parties``, and its contract."""
    base = {
        "id": "award-1",
        "status": "active",
        "date": "2026-09-20T10:00:00+04:00",
        "value": {"amount": 1200, "currency": "usd"},
        "suppliers": [{"id": "AF-MOE-77", "name": "Kabul Pumps Ltd"}],
        "items": [{"id": "1", "classification": {"scheme": "UNSPSC", "id": "40151500"}}],
    }
    base.update(award)
    return release(
        id="0001-award",
        tag=["tender", "award", "contract"],
        parties=[
            {"id": "GB-1", "name": "Met Office", "roles": ["buyer"], "address": {"countryName": "GB"}},
            {
                "id": "AF-MOE-77",
                "name": "Kabul Pumps Ltd",
                "roles": ["supplier"],
                "identifier": {"scheme": "AF-MOE", "id": "77"},
                "additionalIdentifiers": [{"scheme": "XI-UNGM", "id": "555"}],
                "address": {"countryName": "Afghanistan", "locality": "Kabul"},
            },
        ],
        awards=[base],
        contracts=[{"id": "C-9", "awardID": base["id"], "dateSigned": "2026-09-25T00:00:00Z"}],
    )


def parsed(kind: str, data: bytes, ctx: Context = CTX, mapping: CsvMapping | None = None) -> list[Record]:
    return list(parse_bytes(kind, data, ctx, mapping))


def awards(outcomes: list[Record]) -> list[AwardRecord]:
    return [o for o in outcomes if isinstance(o, AwardRecord)]


def rejections(outcomes: list[Record]) -> list[Rejection]:
    return [o for o in outcomes if isinstance(o, Rejection)]


# ------------------------------------------------------------------------------------------------------- OCDS


def test_an_ocds_award_names_its_winner_with_identifiers_from_parties_and_the_contract_dates() -> None:
    outcomes = parsed("ocds", orjson.dumps(award_release()))
    [award] = awards(outcomes)
    assert award.award_id == "ocds-abc123:ocds-abc123-0001:award-1"
    [winner] = award.suppliers
    assert (winner.name, winner.country) == ("Kabul Pumps Ltd", "AF")
    assert [(i.scheme, i.id) for i in winner.identifiers] == [("AF-MOE", "77"), ("XI-UNGM", "555")]
    assert award.value is not None
    assert (award.value.amount, award.value.currency) == (1200, "USD")
    assert (award.awarded_on, award.contract_signed_on, award.contract_id) == (
        date(2026, 9, 20),
        date(2026, 9, 25),
        "C-9",
    )
    assert award.buyer is not None
    assert award.buyer.name == "Met Office"
    assert award.tender.classifications[0].code == "40151500"
    # The tender of the same release is a notice too, and the award names it.
    assert award.tender.notice_id == "ocds-abc123:ocds-abc123-0001"
    assert [n.notice_id for n in outcomes if isinstance(n, TenderNotice)] == [award.tender.notice_id]


def test_an_award_only_release_is_no_longer_a_not_a_notice_rejection() -> None:
    doc = {**award_release(), "tag": ["award", "contract"]}
    del doc["tender"]
    outcomes = parsed("ocds", orjson.dumps(doc))
    [award] = awards(outcomes)
    assert award.tender.notice_id is None
    assert rejections(outcomes) == []


@pytest.mark.parametrize(
    ("award", "reason"),
    [
        ({"status": "unsuccessful"}, "not_awarded"),
        ({"status": "pending"}, "not_awarded"),
        ({"suppliers": []}, "no_supplier"),
        ({"suppliers": [{"id": "nobody"}]}, "no_supplier"),
    ],
)
def test_an_award_without_a_winner_is_rejected_on_the_awards_side(award: dict[str, Any], reason: str) -> None:
    [rejection] = rejections(parsed("ocds", orjson.dumps(award_release(**award))))
    assert (rejection.reason, rejection.record, rejection.key) == (reason, "award", "ocds-abc123-0001:award-1")


def test_an_award_listed_twice_in_one_release_is_read_once() -> None:
    doc = award_release()
    doc["awards"] = doc["awards"] * 2
    assert len(awards(parsed("ocds", orjson.dumps(doc)))) == 1


def test_the_ocds_samples_awards() -> None:
    root = shared_data("ocds-samples")
    found: list[AwardRecord] = []
    reasons: list[str] = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        for outcome in parse_bytes("ocds", file.read_bytes(), Context(source="ocds", detect_language=False)):
            if isinstance(outcome, AwardRecord):
                found.append(outcome)
            elif isinstance(outcome, Rejection) and outcome.record == "award":
                reasons.append(outcome.reason)
    assert len(found) >= 100
    assert len({a.award_id for a in found}) >= 70
    assert all(a.suppliers and a.award_id.startswith(f"{a.source}:") for a in found)
    assert sum(bool(s.identifiers) for a in found for s in a.suppliers) >= 50
    # Taiwan publishes ``awards`` as an object: said, not dropped.
    assert set(reasons) <= {"not_ocds", "not_awarded", "no_supplier"}
    assert "not_ocds" in reasons


# -------------------------------------------------------------------------------------------------------- CSV

MAPPING = {
    "name": "awards",
    "records": "awards",
    "columns": {
        "source_id": "Notice",
        "award_id": "Contract",
        "title": "What",
        "buyer_name": "Agency",
        "supplier_name": "Supplier",
        "supplier_id": "ABN",
        "supplier_country": "Country",
        "amount": "Value",
        "signed": "Signed",
    },
    "codes": [{"column": "UNSPSC", "scheme": "UNSPSC"}],
    "constants": {"currency": "AUD", "supplier_id_scheme": "AU-ABN"},
    "timezone": "+10:00",
}
ROWS = (
    "Notice,Contract,What,Agency,Supplier,ABN,Country,Value,Signed,UNSPSC\n"
    "N1,CN1,Catering,Dept A,Doltone Pty Ltd,84636418838,AUSTRALIA,19742.50,2023-07-01T23:17:24Z,90101600\n"
    "N2,CN2,Audit,Dept B,,,AUSTRALIA,10,2023-07-03,84111600\n"
)


def test_an_award_csv_row_becomes_an_award_in_the_mappings_time_zone() -> None:
    outcomes = parsed("csv", ROWS.encode(), Context(source="csv-awards"), CsvMapping.from_dict(MAPPING))
    [award] = awards(outcomes)
    assert award.award_id == "csv-awards:N1:CN1"
    assert [(i.scheme, i.id) for i in award.suppliers[0].identifiers] == [("AU-ABN", "84636418838")]
    assert award.suppliers[0].country == "AU"
    assert award.contract_signed_on == date(2023, 7, 2)  # 23:17 UTC is the next morning in Canberra
    assert award.awarded_on == award.contract_signed_on
    [rejection] = rejections(outcomes)
    assert (rejection.reason, rejection.record) == ("no_supplier", "award")
    assert rejection.detail.startswith("line 3:")
    assert "'Supplier'" in rejection.detail


def test_an_award_mapping_must_name_the_supplier_column() -> None:
    columns = {k: v for k, v in MAPPING["columns"].items() if k != "supplier_name"}  # type: ignore[attr-defined]
    with pytest.raises(SourceConfigError, match="supplier_name"):
        CsvMapping.from_dict({**MAPPING, "columns": columns})


def test_a_gzipped_csv_is_read_as_it_comes() -> None:
    outcomes = parsed("csv", gzip.compress(ROWS.encode()), Context(source="csv-awards"), CsvMapping.from_dict(MAPPING))
    assert [a.award_id for a in awards(outcomes)] == ["csv-awards:N1:CN1"]


def test_austenders_file_reads_whole_with_the_shipped_mapping() -> None:
    path = shared_data("austender", "awards-2023-07_2024-06.csv.gz")
    mapping = CsvMapping.from_dict(load_mapping_file(AUSTENDER_MAPPING))
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        out = io.StringIO()
        csv.writer(out).writerows(itertools.islice(reader, 501))  # the header and 500 records
    head = out.getvalue().encode()
    outcomes = parsed("csv", head, Context(source="csv-austender", detect_language=False), mapping)
    found = awards(outcomes)
    assert (len(found), rejections(outcomes)) == (500, [])
    assert all(a.value is not None and a.value.currency == "AUD" and a.tender.classifications for a in found)
    with_abn = [a for a in found if a.suppliers[0].identifiers]
    assert len(with_abn) >= 400
    assert all(a.suppliers[0].identifiers[0].scheme == "AU-ABN" for a in with_abn)


# ----------------------------------------------------------------------------------------------- publishing


def _ingestor(publisher: InMemoryPublisher, state: InMemoryStateStore | SqliteStateStore) -> Ingestor:
    return Ingestor(
        publisher, state, "notices", "notices.dlq", clock=lambda: NOW, awards_topic="awards", awards_dlq_topic="a.dlq"
    )


def test_awards_are_published_once_and_a_correction_is_the_next_version(tmp_path: Path) -> None:
    publisher = InMemoryPublisher()
    state = SqliteStateStore(tmp_path)
    try:
        stats, _ = _ingestor(publisher, state).ingest(parsed("ocds", orjson.dumps(award_release())), "feed.json")
        assert (stats.awards_published, dict(stats.published)) == (1, {"active": 1})
        again, _ = _ingestor(publisher, state).ingest(parsed("ocds", orjson.dumps(award_release())), "feed.json")
        assert (again.awards_published, again.awards_unchanged) == (0, 1)
        corrected = orjson.dumps(award_release(value={"amount": 1300, "currency": "USD"}))
        third, _ = _ingestor(publisher, state).ingest(parsed("ocds", corrected), "feed.json")
        assert third.awards_published == 1
        assert "award records published 1, unchanged 0" in third.summary()
    finally:
        state.close()
    versions = [(a.award_id, a.version) for a in publisher.on("awards") if isinstance(a, AwardRecord)]
    assert versions == [("ocds-abc123:ocds-abc123-0001:award-1", 1), ("ocds-abc123:ocds-abc123-0001:award-1", 2)]
    assert all(isinstance(n, TenderNotice) for n in publisher.on("notices"))


def test_award_rejections_go_to_the_awards_dead_letter_topic_each_once() -> None:
    publisher, state = InMemoryPublisher(), InMemoryStateStore()
    # Two lots without a winner in one result notice: one document, two dead letters (told apart by their key).
    two_lots_no_winner = result_xml().replace(b"selec-w", b"clos-nw")
    outcomes = list(parse_bytes("eforms", two_lots_no_winner, Context(source="ted", detect_language=False)))
    stats, _ = _ingestor(publisher, state).ingest(outcomes, "notices.xml")
    assert stats.rejected == {"no_winner": 2}
    letters = [v for v in publisher.on("a.dlq") if isinstance(v, DeadLetter)]
    assert sorted(letter.key or "" for letter in letters) == ["250000-2024:LOT-0001", "250000-2024:LOT-0002"]
    assert publisher.on("notices.dlq") == []
    again, _ = _ingestor(publisher, state).ingest(outcomes, "notices.xml")
    assert again.rejections_known == 2
    assert len(publisher.on("a.dlq")) == 2


def test_an_award_too_large_for_the_bus_is_dead_lettered_on_the_awards_side() -> None:
    publisher, state = InMemoryPublisher(), InMemoryStateStore()
    doc = award_release(description="x" * 1_100_000)  # over the 1 MiB a message may take
    stats, _ = _ingestor(publisher, state).ingest(awards(parsed("ocds", orjson.dumps(doc))), "big.json")
    assert stats.rejected == {"message_too_large": 1}
    assert stats.awards_published == 0
    assert state.awards == {}
    [letter] = [v for v in publisher.on("a.dlq") if isinstance(v, DeadLetter)]
    assert letter.key == "ocds-abc123:ocds-abc123-0001:award-1"


def test_a_poorer_reading_of_a_published_award_does_not_replace_it() -> None:
    """A release names the winner by party id only; the record describes the party in full. Read in turn, the
    fuller reading is published once and stays."""
    full = orjson.dumps(award_release())
    bare = award_release()
    bare["parties"] = [p for p in bare["parties"] if "buyer" in p["roles"]]
    poor = orjson.dumps(bare)
    publisher, state = InMemoryPublisher(), InMemoryStateStore()
    runs = [_ingestor(publisher, state).ingest(awards(parsed("ocds", doc)), "f")[0] for doc in (poor, full, poor, full)]
    assert [s.awards_published for s in runs] == [1, 1, 0, 0]
    [latest] = state.awards.values()
    assert latest.version == 2
    assert [(i.scheme, i.id) for i in latest.suppliers[0].identifiers] == [("AF-MOE", "77"), ("XI-UNGM", "555")]
    other_value = orjson.dumps({**bare, "awards": [{**bare["awards"][0], "value": {"amount": 5, "currency": "USD"}}]})
    changed, _ = _ingestor(publisher, state).ingest(awards(parsed("ocds", other_value)), "f")
    assert changed.awards_published == 1  # poorer about the winner but a new value: a change


def test_a_cancelled_award_is_published_as_cancelled_so_consumers_withdraw_it() -> None:
    publisher, state = InMemoryPublisher(), InMemoryStateStore()
    ingestor = _ingestor(publisher, state)
    ingestor.ingest(awards(parsed("ocds", orjson.dumps(award_release()))), "f")
    [cancelled] = awards(parsed("ocds", orjson.dumps(award_release(status="cancelled"))))
    assert cancelled.status == "cancelled"
    stats, _ = ingestor.ingest([cancelled], "f")
    assert stats.awards_published == 1
    assert [(a.version, a.status) for a in state.awards.values()] == [(2, "cancelled")]


def test_a_gzipped_file_that_unpacks_past_the_limit_is_refused_not_unpacked() -> None:
    bomb = gzip.compress(b"0" * 10_000)
    assert gunzipped(bomb, limit=20_000) == b"0" * 10_000
    with pytest.raises(ValueError, match="more than 1,000 bytes"):
        gunzipped(bomb, limit=1_000)
    broken = b"\x1f\x8b" + b"not deflate at all"
    [rejection] = rejections(parsed("csv", broken, mapping=CsvMapping.from_dict(MAPPING)))
    assert (rejection.reason, rejection.record) == ("invalid_gzip", "award")

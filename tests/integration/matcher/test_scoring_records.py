"""What scoring needs of a supplier is stored with its profile in Elasticsearch (an unindexed record), comes back
with the candidates and is used as stored: the matcher's model computes nothing per candidate. A document without
one (written before records) is scored from a record the model computes, the same way, and ``reindex`` adds it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest

from contracts import SupplierProfile
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters import elastic
from services.matcher.bootstrap import Container
from services.matcher.domain.scoring import RECORD_VERSION, supplier_stats
from services.matcher.settings import Settings
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import stack_container
from tests.unit.matcher.conftest import award
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.integration


@pytest.fixture
def es_container(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Container]:
    settings = Settings(
        elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=unique("m"), matcher_encoder="none"
    )
    with stack_container(settings, lambda: NOW, InMemoryPublisher()) as c:
        yield c


def suppliers() -> list[SupplierProfile]:
    gloves = [award("42132203", "Nitrile examination gloves", when=date(2025, 6, 1 + i), value=9000) for i in range(3)]
    return [
        supplier("S1", keywords=("nitrile gloves",), past_awards=gloves),
        supplier("S2", codes=("42131600",), keywords=("surgical masks",)),
        supplier("S3", keywords=("examination gloves", "latex")),
    ]


def test_the_record_is_stored_read_back_with_the_candidates_and_used_without_computing(
    es_container: Container,
) -> None:
    m = es_container.matcher
    names = elastic.IndexNames(es_container.settings.matcher_index_prefix)
    written = suppliers()
    m.profiles.put_many(written)
    # Stored as written, unindexed.
    doc = es_container.es.get(index=names.suppliers, id="S1")["_source"]
    assert doc[elastic.SCORING_FIELD] == supplier_stats(written[0]).to_record()
    assert doc[elastic.SCORING_FIELD]["v"] == RECORD_VERSION
    mapping = es_container.es.indices.get_mapping(index=names.suppliers)
    [fields] = [v["mappings"]["properties"] for v in mapping.values()]
    assert fields[elastic.SCORING_FIELD] == {"type": "object", "enabled": False}

    m.refit()
    model = m.model
    assert model is not None
    candidates = m.profiles.candidates(notice("1"), m.config)
    assert {p.supplier_id for p in candidates} == {"S1", "S2", "S3"}
    for p in candidates:
        assert m.profiles.stored_scoring(p) == supplier_stats(p)  # read back with the candidate
    shortlist = m.handle_notice(notice("1"))
    assert shortlist is not None
    assert [e.supplier_id for e in shortlist.entries][:1] == ["S1"]
    assert model.records_computed == 0  # every candidate came with its record
    assert model.cached() == 3


def test_a_profile_stored_without_a_record_is_scored_alike_and_reindex_adds_it(es_container: Container) -> None:
    m = es_container.matcher
    names = elastic.IndexNames(es_container.settings.matcher_index_prefix)
    m.profiles.put_many(suppliers())
    m.refit()
    with_records = m.handle_notice(notice("1"))
    assert with_records is not None

    # S1 as a document written before records were (no scoring field).
    old = elastic.profile_source(suppliers()[0], datetime.now(UTC))
    del old[elastic.SCORING_FIELD]
    es_container.es.index(index=names.suppliers, id="S1", document=old, refresh=True)
    m.refit()
    model = m.model
    assert model is not None
    without = m.handle_notice(notice("2"))
    assert without is not None
    assert model.records_computed == 1  # S1's, computed by the model; the others read as stored
    assert [(e.supplier_id, e.total_score) for e in without.entries] == [
        (e.supplier_id, e.total_score) for e in with_records.entries
    ]

    elastic.reindex_suppliers(es_container.es, names, datetime.now(UTC))
    doc = es_container.es.get(index=names.suppliers, id="S1")["_source"]
    assert doc[elastic.SCORING_FIELD] == supplier_stats(suppliers()[0]).to_record()

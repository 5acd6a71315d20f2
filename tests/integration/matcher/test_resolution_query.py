"""Profiles found by a store query for entity resolution and claims (``ProfileStore.find_by_keys``) against the
local Elasticsearch, beside the in-memory fake with the same profiles: by identifier, by the resolver's name keys
(legal forms folded, the fuzzy rule's block), by award record, prospects only; an index created before the keys
existed gets them in its mapping; and award records imported through Elasticsearch join the profiles they did
through the fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from contracts import SupplierProfile
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters import elastic
from services.matcher.awards import import_awards
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain.awards import claim_keys, record_keys
from services.matcher.ports import ProfileStore
from services.matcher.settings import Settings
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import stack_container
from tests.unit.matcher_service.award_builders import Org, Record, abn
from tests.unit.matcher_service.builders import NOW, supplier

pytestmark = pytest.mark.integration


@pytest.fixture
def es_container(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Container]:
    settings = Settings(
        elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=unique("rq"), matcher_encoder="none"
    )
    with stack_container(settings, lambda: NOW, InMemoryPublisher()) as c:
        yield c


def stored_base(store: ProfileStore) -> None:
    """Two prospects from award records and a registered firm."""
    c = bootstrap_in_memory(Settings(), clock=lambda: NOW)
    import_awards(
        c.matcher,
        [
            Record("csv-austender:CN1", [Org("Glove Works Pty Ltd", abn("51824753556"))]),
            Record("csv-austender:CN2", [Org("Hays Specialist Recruitment (Aust) P/L", [])]),
        ],
    )
    store.put_many([*c.matcher.profiles.all(), supplier("F1", names={"en": "Ningbo Care Gloves Co., Ltd."})])


def found(store: ProfileStore, keys: list[str], *, prospects_only: bool = False) -> list[str]:
    return [p.supplier_id for p in store.find_by_keys(keys, prospects_only=prospects_only)]


def firm(name: str, **extra: object) -> SupplierProfile:
    return supplier("X", names={"en": name}, country="AU", **extra)


def test_elasticsearch_finds_the_profiles_the_in_memory_store_finds(es_container: Container) -> None:
    memory = bootstrap_in_memory(Settings(), clock=lambda: NOW).matcher.profiles
    stores = [memory, es_container.matcher.profiles]
    for store in stores:
        stored_base(store)
    by_name = {p.display_name: p.supplier_id for p in memory.all() if p.is_prospect}
    gloves, hays = by_name["Glove Works Pty Ltd"], by_name["Hays Specialist Recruitment (Aust) P/L"]
    cases = [
        # The identifier alone, as the public form claims.
        (claim_keys(firm("Another Name", identifiers=["AU-ABN:51824753556"]), by_name=False), False, [gloves]),
        # A name that only the legal form and case set apart.
        (claim_keys(firm("HAYS SPECIALIST RECRUITMENT (AUST) PTY LIMITED"), by_name=True), False, [hays]),
        # The fuzzy rule's block: a name cut at a field width meets its firm.
        (claim_keys(firm("Hays Specialist Recrui"), by_name=True), False, [hays]),
        # A record read again finds the profile it is on; a registered firm by its name.
        (record_keys([Record("csv-austender:CN1", [Org("Someone Else", [])])]), False, [gloves]),
        (record_keys([Record("csv-austender:CN9", [Org("Ningbo Care Gloves Co Ltd", [], "CN")])]), False, ["F1"]),
        (record_keys([Record("csv-austender:CN9", [Org("Ningbo Care Gloves Co Ltd", [], "CN")])]), True, []),
        (claim_keys(firm("Nothing Alike"), by_name=True), False, []),
        ([], False, []),
    ]
    for keys, only, expected in cases:
        answers = [found(store, keys, prospects_only=only) for store in stores]
        assert answers == [sorted(expected), sorted(expected)], keys


def test_an_index_created_before_the_keys_gets_them_in_its_mapping(
    es_container: Container, unique: Callable[[str], str]
) -> None:
    es = es_container.es
    names = elastic.IndexNames(unique("old"))
    before = elastic.profile_mapping()
    for field in elastic.RESOLUTION_MAPPING:
        del before["properties"][field]
    es.indices.create(index=names.suppliers_version(1), mappings=before, aliases={names.suppliers: {}})
    try:
        elastic.ensure_indexes(es, names)
        mapping = es.indices.get_mapping(index=names.suppliers)
        [properties] = [m["mappings"]["properties"] for m in mapping.values()]
        assert {f: properties.get(f) for f in elastic.RESOLUTION_MAPPING} == elastic.RESOLUTION_MAPPING
        store = elastic.ElasticProfileStore(es, names, clock=lambda: NOW)
        store.put(supplier("F1", names={"en": "Ningbo Care Gloves"}))
        assert found(store, claim_keys(firm("NINGBO CARE GLOVES CO LTD"), by_name=True)) == ["F1"]
    finally:
        for index in es.indices.get(index=f"{names.suppliers}*"):
            es.indices.delete(index=index)
        for other in (names.notices, names.shortlists, names.keys):
            if es.indices.exists(index=other):
                es.indices.delete(index=other)


def test_award_records_imported_through_elasticsearch_join_the_profiles_they_join_in_memory(
    es_container: Container,
) -> None:
    memory = bootstrap_in_memory(Settings(), clock=lambda: NOW)
    batches = [
        [Record("csv-austender:CN1", [Org("Glove Works Pty Ltd", abn("51824753556"))])],
        [
            Record("csv-austender:CN2", [Org("GLOVE WORKS PTY LIMITED", [])]),
            Record("csv-austender:CN3", [Org("Other Firm Pty Ltd", abn("33051775556"))]),
        ],
        [Record("csv-austender:CN4", [Org("Glovers Inc", abn("51824753556"))])],
    ]
    for c in (memory, es_container):
        c.matcher.profiles.put(supplier("F1", names={"en": "Other Firm"}, country="AU"))
        for batch in batches:  # one import per batch, as the awards worker does per poll
            import_awards(c.matcher, batch)

    def clusters(c: Container) -> dict[str, list[str]]:
        return {
            p.supplier_id: sorted(a.source.award_id for a in p.past_awards if a.source)
            for p in c.matcher.profiles.all()
        }

    assert clusters(es_container) == clusters(memory)
    assert sorted(clusters(memory).values()) == [
        ["csv-austender:CN1", "csv-austender:CN2", "csv-austender:CN4"],
        ["csv-austender:CN3"],
    ]

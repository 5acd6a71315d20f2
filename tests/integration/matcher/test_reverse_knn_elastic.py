"""Reverse matching by meaning over the local Elasticsearch: English notices stored with their vectors, the Chinese
glove maker of the demo data saved afterwards, the glove notice re-ranked with it on the shortlist; the kNN channel
gives the same notices as the in-process store; an index made before notice vectors gets the field and its open
notices their vectors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from contracts import NoticeStatus
from localrun.demodata.data import generate_notices, generate_suppliers, showcase_suppliers
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters import elastic
from services.matcher.adapters.memory import HashingEncoder, InMemoryNoticeStore
from services.matcher.bootstrap import Container
from services.matcher.documents import NOTICE_MAPPING, NOTICE_VECTOR_FIELD
from services.matcher.domain import ScoringConfig
from services.matcher.domain.semantic import notice_semantic_text, semantic_text
from services.matcher.exceptions import InvalidInput
from services.matcher.settings import Settings
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import matcher_cli, stack_container
from tests.unit.matcher_service.builders import notice, supplier

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, tzinfo=UTC)
OPEN = NOW + timedelta(days=20)
SHOWCASE = showcase_suppliers()[0]  # sup-cn-showcase-gloves: Chinese text only, no codes


@pytest.fixture
def container(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Container]:
    """The matcher over Elasticsearch with the real encoder and the shipped code data (``TB_MATCHER_ENCODER=use``)."""
    publisher = InMemoryPublisher()
    settings = Settings(elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=unique("rk"))
    with stack_container(settings, lambda: NOW, publisher) as c:
        yield c


def test_the_chinese_glove_maker_saved_after_english_notices_joins_the_glove_notice_s_shortlist(
    container: Container,
) -> None:
    matcher = container.matcher
    publisher = matcher.publisher
    assert isinstance(publisher, InMemoryPublisher)
    matcher.profiles.put_many(
        [
            supplier("en-gloves", codes=("42132203",), keywords=("nitrile gloves",)),
            supplier("en-laptops", codes=("43211503",), keywords=("laptops",)),
            supplier("en-tents", codes=("56101500",), keywords=("tents",)),
        ]
    )
    # The glove notice states no code (a code-less portal's): the supplier's suggested codes cannot meet it.
    gloves = notice("gloves", title="Nitrile examination gloves, powder-free, box of 100", codes=(), deadline=OPEN)
    others = [
        notice("laptops", title="Laptop computers for field offices", codes=("43211503",), deadline=OPEN),
        notice("tents", title="Family tents and tarpaulins", codes=("56101500",), deadline=OPEN),
    ]
    for n in [gloves, *others]:
        shortlist = matcher.handle_notice(n)
        assert shortlist is not None
        assert SHOWCASE.supplier_id not in [e.supplier_id for e in shortlist.entries]
    publisher.flush()
    names = elastic.IndexNames(container.settings.matcher_index_prefix)
    stored_doc = container.es.get(index=names.notices, id=gloves.notice_id)["_source"]
    assert len(stored_doc[NOTICE_VECTOR_FIELD]) == 512

    # Found by meaning alone: without its vector, no open notice for the supplier.
    assert gloves.notice_id not in [n.notice_id for n in matcher.notices.open_for_profile(SHOWCASE, NOW, 200)]
    assert matcher.encoder is not None
    vector = matcher.encoder.encode([semantic_text(SHOWCASE)])[0]
    nearest = [n.notice_id for n in matcher.notices.open_for_profile(SHOWCASE, NOW, 200, vector=vector)]
    assert nearest[0] == gloves.notice_id  # its own trade, closest first

    before = len(publisher.published)
    _, changed = matcher.save_profile(SHOWCASE)
    assert changed >= 1
    stored = matcher.shortlists.get(gloves.notice_id, gloves.version)
    assert stored is not None
    entry = next(e for e in stored.entries if e.supplier_id == SHOWCASE.supplier_id)
    assert {c.name: c for c in entry.components}["semantic"].reason_code == "meaning_close"
    assert [v for _, k, v in publisher.published[before:] if k == gloves.notice_id] == [stored]
    # As forward matching ranks it: a full retrieval of the notice gives the same shortlist.
    fresh = matcher._match(gloves, previous_ids=[])
    assert [(e.supplier_id, e.total_score) for e in fresh.entries] == [
        (e.supplier_id, e.total_score) for e in stored.entries
    ]
    for n in others:
        other = matcher.shortlists.get(n.notice_id, n.version)
        assert other is not None
        assert SHOWCASE.supplier_id not in [e.supplier_id for e in other.entries], n.title


@pytest.fixture
def es_prefix(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[tuple[Elasticsearch, str]]:
    es = elastic.make_client(endpoints.elasticsearch_url, 30)
    prefix = unique("rkv")
    try:
        yield es, prefix
    finally:
        for index in es.indices.get(index=f"{prefix}-*"):
            es.indices.delete(index=index)
        es.close()


@pytest.mark.parametrize("limit", [200, 5])
def test_open_notices_by_meaning_are_the_same_in_elasticsearch_as_in_process(
    es_prefix: tuple[Elasticsearch, str], limit: int
) -> None:
    es, prefix = es_prefix
    encoder = HashingEncoder()
    names = elastic.IndexNames(prefix)
    elastic.ensure_indexes(es, names, encoder.dimension)
    config = dataclasses.replace(ScoringConfig(), retrieval_knn_k=8)
    via_es = elastic.ElasticNoticeStore(es, names, config)
    in_process = InMemoryNoticeStore(config)
    notices = generate_notices(40, seed=5, now=NOW)
    vectors = encoder.encode([notice_semantic_text(n.title, n.description) for n in notices])
    for n, v in zip(notices, vectors, strict=True):
        via_es.put(n, v)
        in_process.put(n, v)
    compared = 0
    for p in [*generate_suppliers(12, seed=5), SHOWCASE]:
        v = encoder.encode([semantic_text(p)])[0]
        es_ids = [n.notice_id for n in via_es.open_for_profile(p, NOW, limit, vector=v)]
        memory_ids = [n.notice_id for n in in_process.open_for_profile(p, NOW, limit, vector=v)]
        assert len(es_ids) <= limit
        # Code and keyword hits come in each store's order (score, id); the nearest are the same notices.
        assert sorted(es_ids) == sorted(memory_ids), p.supplier_id
        by_codes = [n.notice_id for n in in_process.open_for_profile(p, NOW, limit)]
        compared += len(set(memory_ids) - set(by_codes))
    assert compared > 0  # the kNN channel added notices the codes and keywords did not find


def test_an_index_made_before_notice_vectors_gets_the_field_and_its_open_notices_their_vectors(
    es_prefix: tuple[Elasticsearch, str],
) -> None:
    es, prefix = es_prefix
    encoder = HashingEncoder()
    names = elastic.IndexNames(prefix)
    config = ScoringConfig()
    es.indices.create(index=names.notices, mappings=NOTICE_MAPPING)  # as an older matcher made it
    elastic.ensure_indexes(es, names)  # no encoder: no field
    old = elastic.ElasticNoticeStore(es, names, config)
    title = "Nitrile examination gloves"
    old.put(notice("open", title=title, codes=(), deadline=OPEN))
    old.put(notice("closed", title=title, codes=(), deadline=NOW - timedelta(days=1)))
    old.put(notice("cancelled", title=title, codes=(), deadline=OPEN, status=NoticeStatus.CANCELLED))
    old.put(notice("amended", title=title, codes=(), deadline=OPEN, version=3))
    profile = supplier("zh", codes=(), keywords=())
    vector = encoder.encode([title])[0]
    assert old.open_for_profile(profile, NOW, 10, vector=vector) == []  # no field: codes and terms only

    elastic.ensure_indexes(es, names, encoder.dimension)
    mapping = es.indices.get_mapping(index=names.notices)[names.notices]["mappings"]["properties"]
    assert mapping[NOTICE_VECTOR_FIELD]["dims"] == encoder.dimension
    assert elastic.backfill_notice_vectors(es, names, config, encoder, NOW) == 2  # the open ones only
    assert elastic.backfill_notice_vectors(es, names, config, encoder, NOW) == 0  # nothing left to do
    found = elastic.ElasticNoticeStore(es, names, config).open_for_profile(profile, NOW, 10, vector=vector)
    assert sorted(n.notice_id for n in found) == ["ungm:amended", "ungm:open"]
    amended = elastic.ElasticNoticeStore(es, names, config).get("ungm:amended")
    assert amended is not None
    assert amended.version == 3  # written back with its own version: a later one is still accepted, an older not
    assert not old.put(notice("amended", title=title, codes=(), deadline=OPEN, version=2))
    assert es.get(index=names.notices, id="ungm:closed")["_source"].get(NOTICE_VECTOR_FIELD) is None

    es.indices.delete(index=names.suppliers_version(1))  # profiles are rebuilt by reindex; notices are not
    with pytest.raises(InvalidInput, match="notice vectors"):
        elastic.ensure_indexes(es, names, encoder.dimension * 2)  # another encoder's dimension: said, not mixed


def test_reindex_gives_the_open_notices_an_older_matcher_stored_their_vectors_and_they_are_found_by_meaning(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    prefix = unique("rkc")
    call = matcher_cli(endpoints, lambda label: prefix if label == "rkc" else unique(label), "rkc")
    settings = Settings(elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=prefix)
    es = elastic.make_client(settings.elasticsearch_url, 30)
    names = elastic.IndexNames(prefix)
    try:
        elastic.ensure_indexes(es, names)  # a matcher without the encoder stored these
        older = elastic.ElasticNoticeStore(es, names, ScoringConfig())
        now = datetime.now(UTC)  # the command's clock
        gloves = notice(
            "gloves", title="Nitrile examination gloves, powder-free", codes=(), deadline=now + timedelta(days=20)
        )
        older.put(gloves)
        older.put(notice("past", title="Nitrile examination gloves", codes=(), deadline=now - timedelta(days=1)))

        done = call("reindex")

        assert done.returncode == 0, done.stderr
        assert f"{names.notices}: 1 open notices given their vectors" in done.stdout, done.stdout
        with stack_container(settings, lambda: now, InMemoryPublisher()) as c:
            assert c.matcher.encoder is not None
            vector = c.matcher.encoder.encode([semantic_text(SHOWCASE)])[0]
            found = c.matcher.notices.open_for_profile(SHOWCASE, now, 10, vector=vector)
            assert [n.notice_id for n in found] == [gloves.notice_id]
    finally:
        for index in es.indices.get(index=f"{prefix}-*"):
            es.indices.delete(index=index)
        es.close()

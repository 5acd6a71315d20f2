"""The matcher's Elasticsearch stores against the local Elasticsearch: the profiles alias and reindex, notice
versions, candidate retrieval that gives the same shortlists as the in-process index (issue 6 relies on it), and
the scoring records stored with the profiles (read back with the candidates, used without computing)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from contracts import NoticeStatus, SupplierProfile
from localrun.demodata.data import generate_notices, generate_suppliers
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters import elastic
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.bootstrap import Container, bootstrap, bootstrap_in_memory
from services.matcher.domain.scoring import RECORD_VERSION, supplier_stats
from services.matcher.domain.semantic import semantic_text
from services.matcher.ports import NoticeFilter
from services.matcher.settings import Settings
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import stack_container
from tests.unit.matcher.conftest import award
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.integration


@pytest.fixture
def encoder() -> HashingEncoder | None:
    """No encoder unless a test parametrizes one (the real one is tested in test_encoder.py)."""
    return None


@pytest.fixture
def es_container(
    endpoints: Endpoints, unique: Callable[[str], str], encoder: HashingEncoder | None
) -> Iterator[Container]:
    settings = Settings(
        elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=unique("m"), matcher_encoder="none"
    )
    with stack_container(settings, lambda: NOW, InMemoryPublisher(), encoder) as c:
        yield c


def test_reindex_swaps_the_alias_and_keeps_every_profile(es_container: Container) -> None:
    c = es_container
    names = elastic.IndexNames(c.settings.matcher_index_prefix)
    for sid in ("S1", "S2", "S3"):
        c.matcher.profiles.put(supplier(sid))
    assert list(c.es.indices.get_alias(name=names.suppliers)) == [names.suppliers_version(1)]

    new, old, copied = elastic.reindex_suppliers(c.es, names, datetime.now(UTC))
    assert (new, old, copied) == (names.suppliers_version(2), names.suppliers_version(1), 3)
    assert list(c.es.indices.get_alias(name=names.suppliers)) == [new]
    # Reads and writes go through the alias to the new index; the old one is kept unless asked.
    c.matcher.profiles.put(supplier("S4"))
    assert sorted(p.supplier_id for p in c.matcher.profiles.all()) == ["S1", "S2", "S3", "S4"]
    assert c.es.count(index=old)["count"] == 3

    third, _, _ = elastic.reindex_suppliers(c.es, names, datetime.now(UTC), delete_old=True)
    assert third == names.suppliers_version(3)
    assert not c.es.indices.exists(index=new)
    got = c.matcher.profiles.get("S4")
    assert got is not None
    assert got.supplier_id == "S4"
    assert [p.supplier_id for p in c.matcher.profiles.candidates(notice("1"), c.matcher.config)] == [
        "S1",
        "S2",
        "S3",
        "S4",
    ]


@pytest.mark.parametrize("encoder", [HashingEncoder()])
def test_reindex_adds_vectors_to_profiles_stored_without_them_and_loses_nothing(
    es_container: Container, encoder: HashingEncoder
) -> None:
    c = es_container
    names = elastic.IndexNames(c.settings.matcher_index_prefix)
    # Written before an encoder was configured: no vectors, so the kNN channel cannot find them.
    plain = elastic.ElasticProfileStore(c.es, names, lambda: NOW)
    zh = supplier("ZH", codes=(), keywords=("nitril glove",))
    plain.put_many([zh, supplier("S2", codes=("43211503",), keywords=("laptops",))])
    before = {p.supplier_id: p for p in c.matcher.profiles.all()}
    query = notice("1", title="bakery", codes=())
    vector = encoder.encode(["Nitrile gloves"])[0]
    assert c.matcher.profiles.candidates(query, c.matcher.config, vector) == []

    elastic.reindex_suppliers(c.es, names, datetime.now(UTC), encoder=encoder)
    assert {p.supplier_id: p for p in c.matcher.profiles.all()} == before
    found = [p.supplier_id for p in c.matcher.profiles.candidates(query, c.matcher.config, vector)]
    assert found[:1] == ["ZH"]


def test_notice_versions_filters_and_open_notices(es_container: Container) -> None:
    store = es_container.matcher.notices
    assert store.put(notice("1", version=2, title="Gloves v2"))
    assert not store.put(notice("1", version=1))  # older: refused
    assert store.put(notice("1", version=2, title="Gloves v2"))  # same version again: idempotent
    stored = store.get("ungm:1")
    assert stored is not None
    assert (stored.version, stored.title) == (2, "Gloves v2")
    store.put(notice("2", agency="WFP", codes=("43211503",), title="Laptops", delivery_countries=["AF"]))
    store.put(notice("3", deadline=NOW - timedelta(days=1)))
    # Notices are stored without a refresh (the worker's hot path): the list is near-real-time, visible after the
    # server's periodic refresh, which this test does at once instead of waiting for it.
    es_container.es.indices.refresh(index=elastic.IndexNames(es_container.settings.matcher_index_prefix).notices)

    def found(**kw: object) -> list[str]:
        items, total = store.find(NoticeFilter(**kw), 0, 10)  # type: ignore[arg-type]
        assert total == len(items)
        return [n.notice_id for n in items]

    assert found(agency="unicef ") == ["ungm:3", "ungm:1"]  # soonest deadline first
    assert found(code="4321") == ["ungm:2"]
    assert found(code="42132203", deadline_from=NOW) == ["ungm:1"]
    assert found(country="AF") == ["ungm:2"]
    open_ids = [n.notice_id for n in store.open_for_profile(supplier("X", codes=("42132205",)), NOW, 10)]
    assert open_ids == ["ungm:1"]  # same class, still open; the closed one and the laptops are not


# A limit above the number of matching profiles takes the store's unscored filter path; a small one makes more
# profiles match than are kept, so the boosted query decides which ones: both must agree with the in-process index.
@pytest.mark.parametrize("encoder", [None, HashingEncoder()], ids=["codes-terms", "with-knn"])
@pytest.mark.parametrize("candidate_limit", [300, 8])
def test_elasticsearch_retrieval_gives_the_same_shortlists_as_the_in_process_index(
    es_container: Container, candidate_limit: int, encoder: HashingEncoder | None
) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    profiles = generate_suppliers(60, seed=11)
    notices = generate_notices(16, seed=11, now=now)
    es_matcher = es_container.matcher
    es_matcher.clock = lambda: now
    es_matcher.config = dataclasses.replace(es_matcher.config, candidate_limit=candidate_limit)
    es_matcher.profiles.put_many(profiles)
    # The same code data on both sides: the crosswalk that the Elasticsearch matcher loads (it expands retrieval).
    code_data = (es_matcher.crosswalk, None)
    memory = bootstrap_in_memory(Settings(), clock=lambda: now, encoder=encoder, code_data=code_data).matcher
    memory.config = es_matcher.config
    for p in profiles:
        memory.profiles.put(p)
    if encoder is not None:
        # The kNN channel is in play: the two indexes return the same nearest profiles beyond codes and terms.
        vector = encoder.encode([notices[0].title])[0]
        via_es = es_matcher.profiles.candidates(notices[0], es_matcher.config, vector)
        in_process = memory.profiles.candidates(notices[0], memory.config, vector)
        assert sorted(p.supplier_id for p in via_es) == sorted(p.supplier_id for p in in_process)
        by_terms = memory.profiles.candidates(notices[0], memory.config)
        assert len(in_process) > len(by_terms)

    compared = 0
    for n in notices:
        via_es = es_matcher.handle_notice(n)
        in_process = memory.handle_notice(n)
        assert via_es is not None
        assert in_process is not None
        assert [(e.supplier_id, e.total_score) for e in via_es.entries] == [
            (e.supplier_id, e.total_score) for e in in_process.entries
        ], n.notice_id
        assert {x.supplier_id for x in via_es.exclusions} == {x.supplier_id for x in in_process.exclusions}
        compared += bool(via_es.entries)
    assert compared >= 8  # most sampled notices have a non-empty shortlist to compare


def test_reverse_matching_through_elasticsearch_equals_a_full_rematch(es_container: Container) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    matcher = es_container.matcher
    matcher.clock = lambda: now
    profiles = generate_suppliers(50, seed=3)
    notices = generate_notices(10, seed=3, now=now)
    matcher.profiles.put_many(profiles[:40])
    for n in notices:
        matcher.handle_notice(n)
    changed = sum(matcher.save_profile(p)[1] for p in profiles[40:])
    assert changed > 0
    for n in notices:
        stored = matcher.shortlists.get(n.notice_id, n.version)
        assert stored is not None
        full = matcher._match(n, previous_ids=[])
        assert [e.supplier_id for e in stored.entries] == [e.supplier_id for e in full.entries], n.notice_id


def test_what_the_worker_stores_without_a_refresh_is_read_back_at_once(es_container: Container) -> None:
    """Reads by id (the notice, its shortlist, the previous version's) and the searches of reverse matching see a
    notice and a shortlist stored a moment ago, although neither write asked for a refresh."""
    m = es_container.matcher
    m.profiles.put(supplier("S1"))
    first = m.handle_notice(notice("7"))
    second = m.handle_notice(notice("7", version=3, title="Nitrile gloves, amended"))
    assert first is not None
    assert second is not None
    assert m.notices.get("ungm:7") == notice("7", version=3, title="Nitrile gloves, amended")
    assert m.shortlists.get("ungm:7", 3) == second
    # The newest earlier version (v2 was never stored): a multi-get by id, not a search.
    assert m.shortlists.latest("ungm:7", before_version=3) == first
    assert m.shortlists.latest("ungm:7", before_version=1) is None
    assert second.previously_shortlisted == ["S1"]
    assert [n.notice_id for n in m.notices.open_for_profile(supplier("S2"), NOW, 10)] == ["ungm:7"]
    assert sorted(s.shortlist_id for s in m.shortlists.with_supplier("S1", 10)) == ["ungm:7@1", "ungm:7@3"]


def test_the_buyer_api_reads_a_shortlist_stored_a_moment_ago(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    from services.matcher.entrypoints.http import create_app

    with warnings.catch_warnings():
        # Starlette prefers the httpx2 package for its test client; plain httpx (installed) works the same.
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from fastapi.testclient import TestClient

    settings = Settings(
        elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=unique("m"), matcher_admin_api_key="adm"
    )
    c = bootstrap(settings, publisher=InMemoryPublisher(), clock=lambda: NOW)
    try:
        c.matcher.profiles.put(supplier("S1"))
        stored = c.matcher.handle_notice(notice("8"))
        assert stored is not None
        with TestClient(create_app(c)) as client:
            response = client.get("/notices/ungm:8/shortlist", headers={"X-API-Key": "adm"})
        assert response.status_code == 200, response.text
        assert [e["supplier_id"] for e in response.json()["entries"]] == ["S1"]
    finally:
        for index in c.es.indices.get(index=f"{settings.matcher_index_prefix}-*"):
            c.es.indices.delete(index=index)
        c.close()


def test_candidates_reuse_parsed_profiles_until_one_changes(es_container: Container) -> None:
    store = es_container.matcher.profiles
    config = es_container.matcher.config
    store.put(supplier("S1"))
    store.put(supplier("S2"))
    first = {p.supplier_id: p for p in store.candidates(notice("1"), config)}
    again = {p.supplier_id: p for p in store.candidates(notice("1"), config)}
    assert set(first) == {"S1", "S2"}
    assert all(again[sid] is first[sid] for sid in first)  # the same parsed objects: not fetched again
    store.put(supplier("S1", names={"en": "Renamed Supplier"}))
    changed = {p.supplier_id: p for p in store.candidates(notice("1"), config)}
    assert changed["S1"].names == {"en": "Renamed Supplier"}  # a new stored version is read, never a stale copy
    assert changed["S2"] is first["S2"]
    store.delete("S2")
    assert [p.supplier_id for p in store.candidates(notice("1"), config)] == ["S1"]


class _CountingEncoder(HashingEncoder):
    """The fake, remembering every text it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.seen.extend(texts)
        return super().encode(texts)


@pytest.mark.parametrize("encoder", [_CountingEncoder()])
def test_ranking_reads_the_vectors_stored_with_the_profiles_instead_of_encoding_them_again(
    es_container: Container, encoder: _CountingEncoder
) -> None:
    m = es_container.matcher
    gloves = supplier("S1", codes=(), keywords=("nitrilegloves",))
    m.profiles.put_many([gloves, supplier("S2", codes=(), keywords=("bakery ovens",))])
    # The objects written are vouched for, with what was written with them, until read again; a copy never is.
    written = m.profiles.stored_vector(gloves)
    assert written is not None
    assert m.profiles.stored_vector(gloves.model_copy()) is None
    stored = m.profiles.page(None, 10)
    assert [p.supplier_id for p in stored] == ["S1", "S2"]
    vector = m.profiles.stored_vector(stored[0])
    assert vector is not None
    assert np.array_equal(vector, encoder.encode([semantic_text(stored[0])])[0])  # what was written, read back
    assert np.array_equal(written, vector)
    assert m.profiles.stored_vector(gloves) is None  # read again since: the object read is the one vouched for
    encoder.seen.clear()
    shortlist = m.handle_notice(notice("2", title="Nitrile gloves", codes=()))
    assert shortlist is not None
    assert [e.supplier_id for e in shortlist.entries][:1] == ["S1"]
    # The notice and the shortlisted entry's phrase were encoded; no profile's whole text was.
    assert semantic_text(gloves) not in encoder.seen
    assert "nitrilegloves" in encoder.seen


@pytest.mark.parametrize("encoder", [_CountingEncoder()])
def test_a_saved_profile_is_encoded_once_and_reverse_matched_with_that_vector(
    es_container: Container, encoder: _CountingEncoder
) -> None:
    m = es_container.matcher
    m.handle_notice(notice("3", title="Nitrile gloves", codes=()))
    encoder.seen.clear()
    gloves = supplier("S9", codes=(), keywords=("nitrilegloves",))
    saved, changed = m.save_profile(gloves)
    # Written with its vector, then ranked against the open notice without encoding its text a second time.
    assert encoder.seen.count(semantic_text(saved)) == 1
    assert changed == 1
    shortlist = m.shortlists.latest("ungm:3")
    assert shortlist is not None
    assert "S9" in [e.supplier_id for e in shortlist.entries]
    stored = m.profiles.stored_scoring(saved)
    assert stored == supplier_stats(saved)  # the record written, kept with the object


def test_open_only_keeps_later_and_missing_deadlines_of_notices_not_cancelled(es_container: Container) -> None:
    store = es_container.matcher.notices
    store.put(notice("open", deadline=NOW + timedelta(minutes=1)))
    store.put(notice("now", deadline=NOW))  # closes at this very instant: closed
    store.put(notice("past", deadline=NOW - timedelta(days=1)))
    store.put(notice("none", deadline_at=None))
    store.put(notice("cancelled", status=NoticeStatus.CANCELLED, deadline=NOW + timedelta(days=1)))  # not open
    es_container.es.indices.refresh(index=elastic.IndexNames(es_container.settings.matcher_index_prefix).notices)
    items, total = store.find(NoticeFilter(open_at=NOW), 0, 10)
    assert ([n.notice_id for n in items], total) == (["ungm:open", "ungm:none"], 2)
    items, total = store.find(NoticeFilter(open_at=NOW, deadline_to=NOW + timedelta(days=1)), 0, 10)
    assert [n.notice_id for n in items] == ["ungm:open"]
    assert store.find(NoticeFilter(), 0, 10)[1] == 5


def test_open_notices_pages_through_every_open_notice_once(es_container: Container) -> None:
    store = es_container.matcher.notices
    assert isinstance(store, elastic.ElasticNoticeStore)
    for n in range(5):
        store.put(notice(f"open-{n}"))
    store.put(notice("none", deadline_at=None))
    store.put(notice("past", deadline=NOW - timedelta(days=1)))
    store.put(notice("cancelled", status=NoticeStatus.CANCELLED))
    # Pages of two: search_after carries on where each page ended, nothing twice, nothing left out.
    got = [n.notice_id for n in store.open_notices(NOW, page=2)]
    assert got == sorted([*(f"ungm:open-{n}" for n in range(5)), "ungm:none"])


# -- scoring records: what scoring needs of a supplier, stored with its profile ------------------------------------


def scored_suppliers() -> list[SupplierProfile]:
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
    written = scored_suppliers()
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
    assert model.cached() == 0  # the store holds the records: the model's cache keeps none of them


def test_a_profile_stored_without_a_record_is_scored_alike_and_reindex_adds_it(es_container: Container) -> None:
    m = es_container.matcher
    names = elastic.IndexNames(es_container.settings.matcher_index_prefix)
    m.profiles.put_many(scored_suppliers())
    m.refit()
    with_records = m.handle_notice(notice("1"))
    assert with_records is not None

    # S1 as a document written before records were (no scoring field).
    old = elastic.profile_source(scored_suppliers()[0], datetime.now(UTC))
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
    assert doc[elastic.SCORING_FIELD] == supplier_stats(scored_suppliers()[0]).to_record()

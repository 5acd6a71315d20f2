"""The product path for a firm tenderbridge exists for: a glove maker that describes itself in Chinese only and
states no code (the demo data's showcase supplier) is shortlisted for a fitting English notice among the demo
suppliers, by the real encoder and the shipped code data over Elasticsearch, and told why in its language."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from contracts import CodeScheme, ShortlistEntry, TenderNotice
from localrun.demodata.data import generate_notices, generate_suppliers, showcase_suppliers
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters import elastic
from services.matcher.adapters.memory import HashingEncoder, InMemoryProfileStore
from services.matcher.bootstrap import Container
from services.matcher.domain import ScoringConfig
from services.matcher.domain.codes import CodeHints
from services.matcher.domain.retrieval import SUGGESTED_FIELD
from services.matcher.domain.text import has_cjk
from services.matcher.settings import Settings
from services.matcher.suggestions import TextCodes
from services.notifier.domain.reasons import render_reason
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import stack_container
from tests.unit.matcher.code_indexes import title_index
from tests.unit.matcher.conftest import notice, supplier

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, tzinfo=UTC)
SHOWCASE = showcase_suppliers()[0]


@pytest.fixture
def container(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Container]:
    settings = Settings(elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=unique("zh"))
    with stack_container(settings, lambda: NOW, InMemoryPublisher()) as c:
        yield c


def test_a_chinese_only_supplier_without_codes_is_shortlisted_for_fitting_english_demo_notices(
    container: Container,
) -> None:
    """What ``make run`` shows: the demo suppliers and the showcase imported, the demo notices ranked as they
    arrive; the showcase is on the shortlists of English notices for gloves (and so gets their alerts)."""
    matcher = container.matcher
    assert SHOWCASE.codes == []
    assert set(SHOWCASE.description) == {"zh-Hans"}
    matcher.import_profiles([*generate_suppliers(300), SHOWCASE])
    matcher.refit()  # as the running matcher does over the imported suppliers

    listed: list[tuple[TenderNotice, ShortlistEntry]] = []
    for demo_notice in generate_notices(200, now=NOW):
        shortlist = matcher.handle_notice(demo_notice)
        assert shortlist is not None
        assert "+semantic:usem3-" in shortlist.algorithm
        listed += [(demo_notice, e) for e in shortlist.entries if e.supplier_id == SHOWCASE.supplier_id]
    english = [(n, e) for n, e in listed if not has_cjk(n.title)]
    assert any("gloves" in n.title for n, _ in english), [n.title for n, _ in listed]
    # Only notices of its trade: medical gloves and apparel (UNSPSC family 4213, CPV 3314 / 1842 / 1814).
    for n, _ in listed:
        assert {c.code[:4] for c in n.all_classifications()} & {"4213", "3314", "1842", "1814"}, n.title
    _, entry = next((n, e) for n, e in english if "gloves" in n.title)
    reasons = {c.name: c for c in entry.components}
    assert reasons["category"].reason_code == "code_suggested"
    assert render_reason(reasons["category"], "zh-Hans").startswith("根据您的描述推荐的类别：UNSPSC 4213")
    assert reasons["semantic"].reason_code == "meaning_close"
    assert has_cjk(str(reasons["semantic"].reason_args["phrase"]))  # its own words, in Chinese

    # Its suggested codes are indexed apart from its own, which stay as it wrote them (none).
    stored = matcher.profiles.get(SHOWCASE.supplier_id)
    assert stored is not None
    assert stored.codes == []
    doc = container.es.get(index=f"{container.settings.matcher_index_prefix}-suppliers", id=SHOWCASE.supplier_id)
    assert any(t.startswith("U:4213") for t in doc["_source"][SUGGESTED_FIELD])


def test_the_suggested_codes_channel_gives_the_same_candidates_in_elasticsearch_as_in_process(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    encoder = HashingEncoder()
    titles = {"42132203": "nitrile examination gloves", "56101500": "tents and tarpaulins"}
    text_codes = TextCodes(lambda scheme: title_index(encoder, titles, scheme=scheme), {CodeScheme.UNSPSC: 1})
    settings = Settings(
        elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=unique("sc"), matcher_encoder="none"
    )
    es = elastic.make_client(settings.elasticsearch_url, 30)
    names = elastic.IndexNames(settings.matcher_index_prefix)
    try:
        elastic.ensure_indexes(es, names, encoder.dimension)
        store = elastic.ElasticProfileStore(es, names, lambda: NOW, encoder=encoder, text_codes=text_codes)
        in_process = InMemoryProfileStore(encoder=encoder, text_codes=text_codes)
        profiles = [
            supplier("gloves", keywords=("nitrile examination gloves",)),
            supplier("tents", keywords=("tents and tarpaulins",)),
            supplier("declared", codes=("42132205",)),
        ]
        store.put_many(profiles)
        in_process.put_many(profiles)
        for n in (notice(title="x"), notice(title="x", codes=("56101504",))):
            hints = CodeHints()
            via_es = [p.supplier_id for p in store.candidates(n, ScoringConfig(), None, hints)]
            assert via_es == [p.supplier_id for p in in_process.candidates(n, ScoringConfig(), None, hints)]
            assert via_es  # found by their suggested codes (no kNN here, no word in common)
            assert [p.supplier_id for p in store.candidates(n, ScoringConfig())] != via_es
    finally:
        for index in es.indices.get(index=f"{settings.matcher_index_prefix}-*"):
            es.indices.delete(index=index)
        es.close()

"""Reverse matching by meaning: a supplier saved after a notice is stored meets the open notices close to it in
meaning, not only those sharing a code or a keyword, and is ranked on them as forward matching would rank it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest

from contracts import NoticeStatus, Shortlist, TenderNotice
from localrun.demodata.data import showcase_suppliers
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters.encoder import UseEncoder, Vectors
from services.matcher.adapters.memory import HashingEncoder, InMemoryNoticeStore
from services.matcher.bootstrap import bootstrap_in_memory
from services.matcher.documents import REVERSE_KNN_FLOOR, reverse_hits
from services.matcher.domain import ScoringConfig
from services.matcher.domain.semantic import Vector, notice_semantic_text, semantic_text
from services.matcher.service import Matcher
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit

SHOWCASE = showcase_suppliers()[0]  # the Ningbo glove maker: Chinese text only, no codes
OPEN = NOW + timedelta(days=20)


def unit(*xs: float) -> Vector:
    v = np.asarray(xs, dtype=np.float32)
    out: Vector = v / np.linalg.norm(v)
    return out


def ids(notices: Sequence[TenderNotice]) -> list[str]:
    return [n.notice_id for n in notices]


# -- the merge rule -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matched", "nearest", "limit", "expected"),
    [
        (["a", "b"], [], 5, ["a", "b"]),
        ([], ["x", "y"], 5, ["x", "y"]),
        (["a", "b"], ["b", "x"], 5, ["a", "b", "x"]),  # in both: listed once, where the code hit is
        (["a", "b", "c"], ["x", "y"], 3, ["a", "x", "y"]),  # the nearest keep their places, codes fill the rest
        (["a", "b", "c"], ["c", "x"], 3, ["a", "c", "x"]),  # a nearest notice also matched takes no second place
        (["a"], ["x", "y", "z"], 2, ["x", "y"]),  # nearest beyond the limit: the closest kept
        (["a", "b"], ["x"], 0, []),
    ],
)
def test_reverse_hits_keep_the_nearest_notices_and_fill_the_limit_with_code_and_keyword_hits(
    matched: list[str], nearest: list[str], limit: int, expected: list[str]
) -> None:
    def notices(names: list[str]) -> list[TenderNotice]:
        return [notice(n) for n in names]

    got = reverse_hits(notices(matched), notices(nearest), limit)
    assert ids(got) == [f"ungm:{n}" for n in expected]


# -- the in-memory store's kNN channel ----------------------------------------------------------------------------


def test_open_notices_are_found_by_meaning_from_the_floor_closest_first_and_closed_ones_never() -> None:
    store = InMemoryNoticeStore(dataclasses.replace(ScoringConfig(), retrieval_knn_k=2))
    profile = supplier("zh", codes=(), keywords=())  # nothing to meet a notice by but its vector
    query = unit(1, 0, 0)
    store.put(notice("near", codes=(), deadline=OPEN), unit(1, 0.2, 0))
    store.put(notice("nearer", codes=(), deadline=OPEN), unit(1, 0.1, 0))
    store.put(notice("third", codes=(), deadline=OPEN), unit(1, 0.5, 0))  # close, but k is 2
    store.put(notice("below-floor", codes=(), deadline=OPEN), unit(REVERSE_KNN_FLOOR / 2, 1, 0))
    store.put(notice("closed", codes=(), deadline=NOW - timedelta(days=1)), query)
    store.put(notice("cancelled", codes=(), deadline=OPEN, status=NoticeStatus.CANCELLED), query)
    store.put(notice("no-vector", codes=(), deadline=OPEN))

    assert store.open_for_profile(profile, NOW, 10) == []  # no code, no keyword: nothing without the vector
    assert ids(store.open_for_profile(profile, NOW, 10, vector=query)) == ["ungm:nearer", "ungm:near"]
    assert ids(store.open_for_profile(profile, NOW, 1, vector=query)) == ["ungm:nearer"]  # within the limit

    wide = InMemoryNoticeStore(dataclasses.replace(ScoringConfig(), retrieval_knn_k=50))
    for n in store.notices.values():
        wide.put(n, store.vectors.get(n.notice_id))
    assert ids(wide.open_for_profile(profile, NOW, 10, vector=query)) == ["ungm:nearer", "ungm:near", "ungm:third"]
    off = InMemoryNoticeStore(dataclasses.replace(ScoringConfig(), retrieval_knn_k=0))  # the channel switched off
    off.put(notice("near", codes=(), deadline=OPEN), unit(1, 0.2, 0))
    assert off.open_for_profile(profile, NOW, 10, vector=query) == []


def test_a_later_version_stored_without_a_vector_is_no_longer_found_by_the_old_one() -> None:
    store = InMemoryNoticeStore(ScoringConfig())
    profile = supplier("zh", codes=(), keywords=())
    store.put(notice("1", codes=(), deadline=OPEN), unit(1, 0))
    store.put(notice("1", codes=(), deadline=OPEN, version=2))
    assert store.open_for_profile(profile, NOW, 10, vector=unit(1, 0)) == []


# -- the matcher: one encoding per notice, the profile's vector to the store ---------------------------------------


@dataclasses.dataclass
class CountingEncoder:
    """The fake encoder, with every text it was asked to encode recorded."""

    inner: HashingEncoder = dataclasses.field(default_factory=HashingEncoder)
    texts: list[str] = dataclasses.field(default_factory=list)

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def model(self) -> str:
        return self.inner.model

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.texts.extend(texts)
        return self.inner.encode(texts)


def test_a_notice_is_encoded_once_and_stored_with_the_vector_it_is_ranked_with() -> None:
    encoder = CountingEncoder()
    matcher = bootstrap_in_memory(Settings(), clock=lambda: NOW, encoder=encoder).matcher
    matcher.profiles.put(supplier("S1", codes=("42132203",), keywords=("gloves",)))
    n = notice("1", title="Nitrile examination gloves", description="Powder-free, sizes S-XL", deadline=OPEN)
    text = notice_semantic_text(n.title, n.description)
    shortlist = matcher.handle_notice(n)
    assert shortlist is not None
    assert [e.supplier_id for e in shortlist.entries] == ["S1"]
    assert encoder.texts.count(text) == 1
    store = matcher.notices
    assert isinstance(store, InMemoryNoticeStore)
    np.testing.assert_allclose(store.vectors[n.notice_id], encoder.inner.encode([text])[0])
    # Cancelled: not open again, nothing to find it by; its vector is not encoded at all.
    matcher.handle_notice(notice("1", title="Nitrile examination gloves", version=2, status=NoticeStatus.CANCELLED))
    assert n.notice_id not in store.vectors
    assert encoder.texts.count(text) == 1


def test_a_saved_profile_meets_a_notice_close_in_meaning_by_the_vector_stored_with_it_without_encoding_again() -> None:
    encoder = CountingEncoder()
    matcher = bootstrap_in_memory(Settings(), clock=lambda: NOW, encoder=encoder).matcher
    # No code and no keyword in common: the fake encoder finds the two texts close by their letters alone.
    matcher.handle_notice(notice("1", title="Tents and tarpaulins", codes=(), deadline=OPEN))
    profile = supplier("S1", codes=(), keywords=(), names={"en": "Tentage, tarpaulinage"})
    reranks = matcher.metrics.reverse_matches._value.get()

    _, changed = matcher.save_profile(profile)

    assert matcher.metrics.reverse_matches._value.get() == reranks + 1
    assert changed == 1
    assert listed(matcher.shortlists.get("ungm:1", 1)) == ["S1"]
    assert encoder.texts.count(semantic_text(profile)) == 1  # by the store when written; reverse matching reuses it
    # Unsubscribed: it can join no shortlist, so no notice is looked for by its meaning.
    quiet = supplier("S2", codes=(), keywords=(), names={"en": "Tentage, tarpaulinage"})
    matcher.save_profile(
        quiet.model_copy(update={"preferences": quiet.preferences.model_copy(update={"unsubscribed": True})})
    )
    assert matcher.metrics.reverse_matches._value.get() == reranks + 1


# -- the real encoder: a Chinese-only supplier meets English notices by meaning alone ------------------------------

ENGLISH_NOTICES = [
    notice("gloves", title="Nitrile examination gloves, powder-free", codes=("42132203",), deadline=OPEN),
    notice("laptops", title="Laptop computers for field offices", codes=("43211503",), deadline=OPEN),
    notice("solar", title="Solar photovoltaic panels and inverters", codes=("26111600",), deadline=OPEN),
    notice("tents", title="Family tents and tarpaulins", codes=("56101500",), deadline=OPEN),
]
ENGLISH_SUPPLIERS = [
    supplier("en-gloves", codes=("42132203",), keywords=("nitrile gloves",)),
    supplier("en-laptops", codes=("43211503",), keywords=("laptops",)),
    supplier("en-solar", codes=("26111600",), keywords=("solar panels",)),
    supplier("en-tents", codes=("56101500",), keywords=("tents",)),
]


@pytest.fixture(scope="module")
def use_encoder() -> UseEncoder:
    return UseEncoder()


def english_market(encoder: UseEncoder) -> tuple[Matcher, InMemoryPublisher]:
    """The matcher over its fakes with the real encoder and no code suggestion (so that only meaning can lead a
    code-less Chinese supplier anywhere), English suppliers, and the English notices ranked as they came."""
    publisher = InMemoryPublisher()
    matcher = bootstrap_in_memory(
        Settings(), clock=lambda: NOW, encoder=encoder, code_data=(None, None), publisher=publisher
    ).matcher
    matcher.profiles.put_many(ENGLISH_SUPPLIERS)
    for n in ENGLISH_NOTICES:
        matcher.handle_notice(n)
    publisher.flush()
    return matcher, publisher


def listed(shortlist: Shortlist | None) -> list[str]:
    assert shortlist is not None
    return [e.supplier_id for e in shortlist.entries]


def test_a_chinese_only_supplier_saved_after_an_english_notice_reaches_it_by_meaning_alone(
    use_encoder: UseEncoder,
) -> None:
    matcher, publisher = english_market(use_encoder)
    assert SHOWCASE.codes == []
    gloves = ENGLISH_NOTICES[0]
    assert SHOWCASE.supplier_id not in listed(matcher.shortlists.get(gloves.notice_id, 1))
    # Neither a code nor a word in common: without its vector no open notice is found for it.
    assert matcher.notices.open_for_profile(SHOWCASE, NOW, 200) == []

    published = len(publisher.published)
    _, changed = matcher.save_profile(SHOWCASE)

    assert changed >= 1
    stored = matcher.shortlists.get(gloves.notice_id, 1)
    assert SHOWCASE.supplier_id in listed(stored)
    entry = next(e for e in stored.entries if e.supplier_id == SHOWCASE.supplier_id)  # type: ignore[union-attr]
    semantic = next(c for c in entry.components if c.name == "semantic")
    assert semantic.reason_code == "meaning_close"
    republished = [v for _, key, v in publisher.published[published:] if key == gloves.notice_id]
    assert republished == [stored]  # the notifier hears of it: the supplier gets the alert
    for other in ENGLISH_NOTICES[1:]:  # laptops, solar panels, tents: not its trade
        assert SHOWCASE.supplier_id not in listed(matcher.shortlists.get(other.notice_id, 1)), other.title


def test_the_shortlists_a_kNN_hit_re_ranks_are_those_forward_matching_gives(use_encoder: UseEncoder) -> None:
    matcher, _ = english_market(use_encoder)
    matcher.import_profiles([SHOWCASE])  # the batch path: re-ranked over the suppliers there plus the newcomer
    for n in ENGLISH_NOTICES:
        stored = matcher.shortlists.get(n.notice_id, n.version)
        assert stored is not None
        fresh = matcher._match(n, previous_ids=[])  # a full retrieval with every channel, as for a new notice
        assert [(e.supplier_id, e.total_score) for e in stored.entries] == [
            (e.supplier_id, e.total_score) for e in fresh.entries
        ], n.title
    assert SHOWCASE.supplier_id in listed(matcher.shortlists.get(ENGLISH_NOTICES[0].notice_id, 1))

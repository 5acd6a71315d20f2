"""The ``semantic`` component and the kNN channel: meaning counts when the vectors are given (a supplier with no
code and no word in common is found, scored, explained in its own words, and can claim a cold-start place), and
without vectors nothing changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from contracts import REASON_CODES
from contracts.codes import CodeScheme
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.bootstrap import bootstrap_in_memory
from services.matcher.domain import COMPONENTS, InMemoryProfileIndex, ScoringConfig, build_candidate_query, rank
from services.matcher.domain.model import SEMANTIC_WEIGHT_FLOOR, floor_semantic
from services.matcher.domain.scoring import supplier_stats, with_suggested, with_vectors
from services.matcher.domain.semantic import ProfileVectors, SemanticInput, Vector, phrases, semantic_text
from services.matcher.domain.suggest import SuggestedCode
from services.matcher.settings import Settings
from tests.unit.matcher.conftest import NOW, notice, supplier
from tests.unit.matcher.test_rank import _veterans

pytestmark = pytest.mark.unit

#: A Ningbo glove maker that says so in Chinese only and declares no code: no term in common with an English notice.
ZH_GLOVES = supplier(
    "zh-gloves",
    names={"zh-Hans": "宁波手套有限公司"},
    keywords=("丁腈手套",),
    description={"zh-Hans": "医用丁腈检查手套，无粉，蓝色"},
)
ZH_TENTS = supplier("zh-tents", names={"zh-Hans": "帐篷厂"}, description={"zh-Hans": "救灾帐篷，防水"})


def _unit(*xs: float) -> Vector:
    v = np.array(xs, dtype=np.float32)
    out: Vector = v / np.linalg.norm(v)
    return out


def _vectors(profile_vector: Vector, profile: object, phrase_vectors: list[Vector]) -> ProfileVectors:
    own = phrases(profile)  # type: ignore[arg-type]
    assert len(own) == len(phrase_vectors)
    return ProfileVectors(profile_vector, own, np.stack(phrase_vectors))


#: Meaning as an encoder would give it: the notice and the glove maker close (cosine 0.8), the tent maker not (0).
NOTICE_VECTOR = _unit(1, 0, 0)
GLOVES_VECTORS = _vectors(
    _unit(0.8, 0.6, 0), ZH_GLOVES, [_unit(0.9, 0.1, 0.1), _unit(0.3, 0, 1), _unit(0.2, 1, 0), _unit(0, 1, 1)]
)
TENTS_VECTORS = _vectors(_unit(0, 0, 1), ZH_TENTS, [_unit(0, 0, 1), _unit(0, 1, 0)])
MEANING = SemanticInput(NOTICE_VECTOR, {"zh-gloves": GLOVES_VECTORS, "zh-tents": TENTS_VECTORS})


def test_a_supplier_close_in_meaning_is_ranked_and_told_which_of_its_phrases_matched() -> None:
    result = rank(notice(), [ZH_TENTS, ZH_GLOVES], ScoringConfig(), NOW, vectors=MEANING)
    assert [e.supplier_id for e in result.entries] == ["zh-gloves"]
    [semantic] = [c for c in result.entries[0].components if c.name == "semantic"]
    assert semantic.score == 1.0  # cosine 0.8 is past ``FULL``
    assert semantic.reason_code == "meaning_close"
    assert set(semantic.reason_args) == set(REASON_CODES["meaning_close"])
    # Its own closest phrase (the first keyword, nearest the notice's vector), in its own language, and the notice's.
    assert semantic.reason_args == {"phrase": "丁腈手套", "notice_words": "Nitrile examination gloves"}
    assert "丁腈手套" in semantic.reason
    assert "Nitrile examination gloves" in semantic.reason


def test_without_vectors_meaning_counts_for_nothing_and_the_ranking_is_the_one_without_the_component() -> None:
    profiles = [*_veterans(3), supplier("kw", keywords=("nitrile gloves",)), ZH_GLOVES]
    plain = rank(notice(), profiles, ScoringConfig(), NOW)
    no_semantic = ScoringConfig(weights={n: w for n, w in ScoringConfig().weights.items() if n != "semantic"})
    before = rank(notice(), profiles, no_semantic, NOW)
    assert [(e.supplier_id, e.total_score) for e in plain.entries] == [
        (e.supplier_id, e.total_score) for e in before.entries
    ]
    for entry in plain.entries:
        [semantic] = [c for c in entry.components if c.name == "semantic"]
        assert (semantic.score, semantic.weight, semantic.reason_code) == (0.0, 0.0, None)


def test_a_code_less_newcomer_that_fits_in_meaning_claims_a_cold_start_place() -> None:
    profiles = [*_veterans(15), ZH_GLOVES]
    history_heavy = dict.fromkeys(COMPONENTS, 0.0) | {"history": 1.0, "activity": 1.0, "semantic": 0.1}
    config = ScoringConfig(weights=history_heavy)
    with_meaning = rank(notice(), profiles, config, NOW, vectors=MEANING)
    assert "zh-gloves" in {e.supplier_id for e in with_meaning.entries}
    assert len(with_meaning.entries) == 10
    # The same supplier when meaning is not known: nothing fits, no place.
    blind = rank(notice(), profiles, config, NOW)
    assert "zh-gloves" not in {e.supplier_id for e in blind.entries}


def test_the_knn_channel_retrieves_a_supplier_sharing_no_code_and_no_word() -> None:
    index = InMemoryProfileIndex()
    index.upsert(ZH_GLOVES, GLOVES_VECTORS.vector)
    index.upsert(ZH_TENTS, TENTS_VECTORS.vector)
    index.upsert(supplier("en", keywords=("nitrile gloves",)))  # matched by a word, no vector
    config = ScoringConfig(retrieval_knn_k=1)
    by_terms = [p.supplier_id for p in index.candidates(build_candidate_query(notice(), config))]
    assert by_terms == ["en"]
    both = [p.supplier_id for p in index.candidates(build_candidate_query(notice(), config, NOTICE_VECTOR))]
    assert both == ["en", "zh-gloves"]  # the nearest one (k=1) after the term matches
    index.remove("zh-gloves")
    after = [p.supplier_id for p in index.candidates(build_candidate_query(notice(), config, NOTICE_VECTOR))]
    assert after == ["en", "zh-tents"]


def test_the_matcher_with_an_encoder_finds_and_explains_a_supplier_with_no_word_in_common() -> None:
    # The fake encoder knows letters, not meaning: "nitrilegloves" shares no term with "Nitrile gloves" but most of
    # its letter trigrams, which is all this needs to show the wiring: vectors, kNN channel, component, reason.
    profile = supplier("near", keywords=("nitrilegloves",))
    far = supplier("far", keywords=("bakery ovens",))
    with_encoder = bootstrap_in_memory(Settings(), clock=lambda: NOW, encoder=HashingEncoder()).matcher
    without = bootstrap_in_memory(Settings(), clock=lambda: NOW).matcher
    for m in (with_encoder, without):
        m.profiles.put_many([profile, far])
    title_only = notice("Nitrile gloves", codes=())
    assert without.handle_notice(title_only) is not None
    assert [e.supplier_id for e in without.shortlists.shortlists["ungm:1@1"].entries] == []
    shortlist = with_encoder.handle_notice(title_only)
    assert shortlist is not None
    assert [e.supplier_id for e in shortlist.entries][:1] == ["near"]
    [semantic] = [c for c in shortlist.entries[0].components if c.name == "semantic"]
    assert semantic.score > 0
    assert semantic.weight > 0
    assert semantic.reason_args == {"phrase": "nitrilegloves", "notice_words": "Nitrile gloves"}


class _CountingEncoder(HashingEncoder):
    """The fake, remembering every text it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.seen.extend(texts)
        return super().encode(texts)


def test_only_a_shortlisted_entry_has_its_phrases_encoded_and_its_reason_still_quotes_one() -> None:
    encoder = _CountingEncoder()
    m = bootstrap_in_memory(Settings(), clock=lambda: NOW, encoder=encoder).matcher
    m.config = ScoringConfig(top_k=1)
    m.profiles.put_many(
        [
            supplier("near", keywords=("nitrilegloves", "latex aprons")),
            supplier("far", keywords=("bakery ovens", "industrial flour mixers")),
        ]
    )
    shortlist = m.handle_notice(notice("Nitrile gloves", codes=()))
    assert shortlist is not None
    assert [e.supplier_id for e in shortlist.entries] == ["near"]
    [semantic] = [c for c in shortlist.entries[0].components if c.name == "semantic"]
    assert semantic.reason_args["phrase"] == "nitrilegloves"
    assert {"nitrilegloves", "latex aprons"} <= set(encoder.seen)
    # The other candidate was scored on its whole text, but no reason of it was written: its phrases never encoded.
    far = m.profiles.get("far")
    assert far is not None
    assert semantic_text(far) in encoder.seen
    assert not {"bakery ovens", "industrial flour mixers"} & set(encoder.seen)


def test_a_learned_semantic_weight_below_the_floor_is_raised_and_the_others_keep_their_proportions() -> None:
    learned = dict.fromkeys(COMPONENTS, 0.0) | {"history": 0.6, "category": 0.39, "semantic": 0.01}
    floored = floor_semantic(learned)
    assert floored["semantic"] == SEMANTIC_WEIGHT_FLOOR
    assert sum(floored.values()) == pytest.approx(1.0)
    assert floored["history"] / floored["category"] == pytest.approx(0.6 / 0.39)
    high = learned | {"history": 0.3, "category": 0.2, "semantic": 0.5}
    assert floor_semantic(high) == high


def test_a_weak_likeness_counts_in_the_score_but_is_not_claimed_in_a_reason() -> None:
    # Cosine 0.18 with the notice, for the whole text and every phrase: above ``FLOOR``, below ``SHOWN``.
    weak = _unit(0.18, (1 - 0.18**2) ** 0.5, 0)
    vectors = SemanticInput(NOTICE_VECTOR, {"zh-tents": _vectors(weak, ZH_TENTS, [weak, weak])})
    [entry] = rank(notice(), [ZH_TENTS], ScoringConfig(), NOW, vectors=vectors).entries
    [semantic] = [c for c in entry.components if c.name == "semantic"]
    assert semantic.score > 0
    assert (semantic.reason_code, semantic.reason) == (None, "")


def test_ranking_reads_the_vector_the_store_wrote_with_a_profile_instead_of_encoding_it_again() -> None:
    encoder = _CountingEncoder()
    m = bootstrap_in_memory(Settings(), clock=lambda: NOW, encoder=encoder).matcher
    near = supplier("near", keywords=("nitrilegloves",))
    m.profiles.put_many([near])
    assert semantic_text(near) in encoder.seen  # encoded once, when written
    encoder.seen.clear()
    shortlist = m.handle_notice(notice("Nitrile gloves", codes=()))
    assert shortlist is not None
    assert [e.supplier_id for e in shortlist.entries] == ["near"]
    assert semantic_text(near) not in encoder.seen
    # A profile object the store did not hand out is not vouched for: its vector is not taken on trust.
    assert m.profiles.stored_vector(supplier("near", keywords=("nitrilegloves",))) is None


def test_vectors_and_suggested_codes_are_attached_to_a_copy_and_the_held_statistics_stay_as_they_were() -> None:
    held = supplier_stats(ZH_GLOVES)
    gloves = SuggestedCode(CodeScheme.UNSPSC, "42132203", "Medical exam or non surgical procedure gloves", 0.6)
    attached = with_suggested(with_vectors(held, GLOVES_VECTORS), [gloves])
    assert attached.vectors is GLOVES_VECTORS
    assert attached.suggested is not None
    assert "U:42132203" in attached.suggested.own
    assert (held.vectors, held.suggested, held.suggested_codes) == (None, None, {})
    assert dataclasses.replace(attached, vectors=None, suggested=None, suggested_codes={}) == held
    assert with_vectors(held, None) is held
    assert with_suggested(held, []) is held


def test_the_matcher_takes_the_phrases_split_when_the_profile_was_written_from_its_record() -> None:
    m = bootstrap_in_memory(Settings(), clock=lambda: NOW, encoder=_CountingEncoder()).matcher
    near = supplier("near", keywords=("nitrilegloves", "latex aprons"))
    m.profiles.put_many([near])
    split = m.profile_vectors([near])[near.supplier_id]
    assert split.phrases == phrases(near)
    record = dataclasses.replace(supplier_stats(near), phrases=("as written",))
    assert m.profile_vectors([near], {near.supplier_id: record})[near.supplier_id].phrases == ["as written"]

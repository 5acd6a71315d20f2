"""The fitted model holds no per-supplier state: what scoring needs of a supplier is a record made when the profile
is written (``SupplierStats.to_record``), and the model computes it only for candidates that come without one,
keeping those in a bounded cache. The TF-IDF cosine made from a record and the model's IDF is scikit-learn's."""

from __future__ import annotations

import json
import pickle
import random
import threading
from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from contracts import Money, PastAward, SupplierProfile
from services.matcher.domain import ScoringConfig, fit_model, rank, text
from services.matcher.domain.model import MatchModel
from services.matcher.domain.retrieval import notice_text
from services.matcher.domain.scoring import RECORD_VERSION, SupplierStats, fingerprint, supplier_stats
from services.matcher.domain.semantic import phrases
from tests.unit.matcher.conftest import NOW, award, notice, supplier, unspsc

pytestmark = pytest.mark.unit

_VOCABULARY = (
    "nitrile gloves examination surgical masks syringes needles vaccine cold chain refrigerator solar pump water "
    "tablets laptops printers toner tents blankets buckets soap chlorine generator diesel cables steel pipes "
    "cement trucks tyres motorcycles fuel rice flour oil beans salt sugar"
)
WORDS = tuple(_VOCABULARY.split())
CHINESE = ("手套", "医用口罩", "注射器", "疫苗冷链", "太阳能水泵", "帐篷", "发电机")


def random_profile(rng: random.Random, sid: str, unique_name: bool = True) -> SupplierProfile:
    """A profile of words drawn from ``WORDS`` (some Chinese), a few repeated, with some award history."""
    words = [rng.choice(WORDS) for _ in range(rng.randint(0, 12))]
    description = {"en": " ".join(words)}
    if rng.random() < 0.3:
        description["zh-Hans"] = "、".join(rng.choice(CHINESE) for _ in range(rng.randint(1, 4)))
    awards = [
        PastAward(
            agency=rng.choice(("UNICEF", "WFP", "UNHCR")),
            description=" ".join(rng.choice(WORDS) for _ in range(3)),
            classification=unspsc(rng.choice(("42132203", "42131600", "43211503", "25101503"))),
            date=date(2025, 1, 1) + timedelta(days=rng.randint(0, 300)),
            value=Money(amount=rng.choice((1500.0, 20000.0, 750000.0)), currency=rng.choice(("USD", "EUR"))),
        )
        for _ in range(rng.randint(0, 4))
    ]
    return supplier(
        sid,
        codes=tuple(rng.sample(("42132203", "42130000", "43211500", "25101500"), rng.randint(0, 2))),
        keywords=tuple(rng.sample(WORDS, rng.randint(0, 3))),
        names={"en": f"Supplier {sid}" if unique_name else "Trading company"},
        description=description,
        past_awards=awards,
    )


def profiles(n: int, seed: int = 3, unique_names: bool = True, prefix: str = "S") -> list[SupplierProfile]:
    rng = random.Random(seed)
    return [random_profile(rng, f"{prefix}{i:05d}", unique_names) for i in range(n)]


def doc(p: SupplierProfile) -> str:
    """The profile's text as the model reads it (``documents.profile_text``: Latin, then CJK)."""
    from services.matcher.domain.documents import profile_text

    latin, cjk = profile_text(p)
    return latin + "\n" + cjk


# -- the record --------------------------------------------------------------------------------------------------


def test_a_record_survives_json_and_reads_back_as_the_statistics_it_was_made_from() -> None:
    for p in profiles(60):
        stats = supplier_stats(p)
        record = json.loads(json.dumps(stats.to_record()))  # plain JSON types only, or this fails
        assert SupplierStats.from_record(record, fingerprint(p)) == stats


def test_a_record_of_another_version_is_not_read_and_a_malformed_one_is_refused() -> None:
    p = supplier("a", codes=("42132203",), past_awards=[award("42132203", "gloves")])
    record = supplier_stats(p).to_record()
    assert SupplierStats.from_record({**record, "v": RECORD_VERSION + 1}, fingerprint(p)) is None
    assert SupplierStats.from_record(None, fingerprint(p)) is None
    broken = {**record, "tags": {"U42132203": ["three", "2025-12-01"]}}
    with pytest.raises(ValueError, match=f"scoring record of version {RECORD_VERSION}"):
        SupplierStats.from_record(broken, fingerprint(p))
    with pytest.raises(ValueError, match="phrases must be a list"):
        SupplierStats.from_record({**record, "phrases": "gloves, masks"}, fingerprint(p))


def test_the_record_holds_the_phrases_a_reason_quotes_and_one_written_before_them_is_computed_again() -> None:
    p = supplier("a", keywords=("nitrile gloves",), description={"zh-Hans": "医用丁腈检查手套，无粉，蓝色"})
    stats = supplier_stats(p)
    assert stats.phrases == ("nitrile gloves", "医用丁腈检查手套", "无粉", "蓝色") == tuple(phrases(p))
    # A record as version 1 wrote it (no phrases): not read, so the model computes the statistics, phrases too.
    former = {k: v for k, v in stats.to_record().items() if k != "phrases"} | {"v": 1}
    assert SupplierStats.from_record(former, fingerprint(p)) is None
    model = fit_model(profiles(20), learn=False)
    assert model.stats_for(p).phrases == stats.phrases
    assert model.records_computed == 1


# -- the TF-IDF cosine --------------------------------------------------------------------------------------------


def test_idf_and_cosines_equal_scikit_learns_vectorizer_over_the_same_profiles() -> None:
    fitted = profiles(300)
    model = fit_model(fitted, learn=False)
    reference = TfidfVectorizer(analyzer=text.terms, sublinear_tf=True, min_df=1, dtype=np.float32)
    reference.fit([doc(p) for p in fitted])
    assert model.vocabulary.keys() == reference.vocabulary_.keys()
    ours = np.array([model.idf[model.vocabulary[t]] for t in reference.vocabulary_])
    theirs = np.array([reference.idf_[c] for c in reference.vocabulary_.values()])
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)

    # Candidates fitted on and profiles written after the fit (terms outside the vocabulary ignored, as transform).
    candidates = [*fitted[:150], *profiles(50, seed=11, prefix="N")]
    rng = random.Random(5)
    for _ in range(20):
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) + rng.choice(("", " 医用手套"))
        n = notice(title)
        expected = reference.transform([doc(p) for p in candidates]) @ reference.transform([notice_text(n)]).T
        expected_sims = np.asarray(expected.todense()).ravel()
        stored = {p.supplier_id: supplier_stats(p) for p in candidates[::2]}  # half with a record, half without
        sims = model.text_similarities(n, candidates, stored)
        np.testing.assert_allclose(np.array(sims, dtype=np.float64), expected_sims, rtol=1e-5, atol=1e-6)
    assert any(s > 0.1 for s in sims), "the notices share words with some candidates"


def test_each_cosine_is_the_whole_rows_product_bit_for_bit_whether_the_norm_was_kept_or_not() -> None:
    # The straightforward computation: every candidate's whole TF-IDF row, multiplied with the notice's column by
    # column (float32 products summed in double, in column order, as the sparse product of the rows).
    # One profile of 200 distinct words, some repeated: a row longer than numpy's pairwise-summation block (128).
    long = supplier("long", description={"en": " ".join(f"part{i} " * (1 + i % 3) for i in range(200))})
    fitted = [*profiles(300), long]
    model = fit_model(fitted, learn=False)
    candidates = [*fitted[:200], long, *profiles(60, seed=11, prefix="N")]
    stored = {p.supplier_id: supplier_stats(p) for p in candidates[::3]}
    rng = random.Random(9)
    for round_ in range(30):
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))) + rng.choice(("", " 医用手套 帐篷"))
        title += rng.choice(("", " part7 part150"))
        n = notice(title)
        qcols, qvalues = model.tfidf_row(Counter(text.terms(notice_text(n))))
        query = dict(zip(qcols.tolist(), qvalues, strict=True))
        expected = []
        for p in candidates:
            cols, values = model.tfidf_row(supplier_stats(p).term_counts)
            products = [float(v * query[c]) for c, v in zip(cols.tolist(), values, strict=True) if c in query]
            expected.append(sum(products, 0.0))
        # The first round computes the norms (kept on the stored statistics and the cached ones), the others read them.
        assert model.text_similarities(n, candidates, stored) == expected, f"round {round_}: {title}"
    assert any(s > 0.1 for s in expected), "the notices share words with some candidates"


def test_a_norm_kept_on_statistics_under_one_model_is_not_read_by_another() -> None:
    p = profiles(1, seed=5)[0]
    stats = supplier_stats(p)
    n = notice(" ".join(WORDS[:12]))
    small, large = fit_model(profiles(30), learn=False), fit_model(profiles(400, seed=8), learn=False)
    under_small = small.text_similarities(n, [p], {p.supplier_id: stats})
    under_large = large.text_similarities(n, [p], {p.supplier_id: stats})  # the same statistics object
    assert under_large == large.text_similarities(n, [p], {p.supplier_id: supplier_stats(p)})  # a fresh one
    assert under_small == small.text_similarities(n, [p], {p.supplier_id: supplier_stats(p)})
    assert under_small != under_large, "another IDF, another cosine"
    # A model read back from a pickle (a replica's copy) keys its norms apart too, and agrees with its original.
    clone: MatchModel = pickle.loads(pickle.dumps(small))
    assert clone.text_similarities(n, [p], {p.supplier_id: stats}) == under_small


def test_the_model_does_not_grow_with_the_profiles_it_is_fitted_over() -> None:
    # The same words in every profile, no name of its own: the vocabulary is the same over 100 and 2,000.
    small = fit_model(profiles(100, unique_names=False), learn=False)
    large = fit_model(profiles(2000, unique_names=False), learn=False)
    assert small.vocabulary.keys() == large.vocabulary.keys()
    assert large.fitted_profiles == 2000
    assert len(pickle.dumps(large)) < 1.05 * len(pickle.dumps(small))
    assert not [k for k, v in vars(large).items() if isinstance(v, dict | list) and len(v) >= 2000]


# -- the cache of computed records ---------------------------------------------------------------------------------


def bounded(n: int, cache_size: int) -> tuple[list[SupplierProfile], MatchModel]:
    """``n`` profiles and a model fitted over them that caches at most ``cache_size`` candidates."""
    fitted = profiles(n)
    model = fit_model(fitted, learn=False)
    model.cache_size = cache_size
    return fitted, model


def test_records_computed_for_candidates_without_one_are_cached_up_to_the_bound() -> None:
    fitted, model = bounded(40, 10)
    n = notice("nitrile gloves and masks")
    first = model.text_similarities(n, fitted)
    assert model.records_computed == 40
    assert model.cached() == 10  # the 10 most recently used
    assert model.text_similarities(n, fitted[-10:]) == first[-10:]
    assert model.records_computed == 40  # all ten still cached: none computed again
    model.text_similarities(n, fitted[:5])
    assert model.records_computed == 45  # evicted before: computed again
    assert model.cached() == 10

    # Records stored with the profiles are used as given: nothing computed, the cache still bounded.
    stored = {p.supplier_id: supplier_stats(p) for p in fitted}
    again = model.text_similarities(n, fitted, stored)
    assert model.records_computed == 45
    assert again == pytest.approx(first)
    assert model.cached() == 10


def test_a_changed_profile_is_not_scored_from_the_cached_record_of_its_former_self_an_equal_one_is() -> None:
    model = fit_model(profiles(20), learn=False)
    before = supplier("x", keywords=("printers",))
    after = supplier("x", keywords=("nitrile gloves",), updated_at=NOW)
    n = notice("nitrile gloves")
    assert model.text_similarities(n, [before]) == [0.0]
    assert (model.text_similarities(n, [after])[0] or 0.0) > 0.5
    assert model.stats_for(after).terms == supplier_stats(after).terms
    assert model.records_computed == 2
    # The same content read again as another object (a store parsing it anew): its cached record still applies.
    assert model.text_similarities(n, [after.model_copy(deep=True)]) == model.text_similarities(n, [after])
    assert model.records_computed == 2


def test_threads_ranking_at_once_share_the_cache_within_its_bound() -> None:
    fitted, model = bounded(200, 50)
    n = notice("solar pump water tablets")
    expected = model.text_similarities(n, fitted)
    results: list[list[float]] = []
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(20):
                chosen = rng.sample(range(len(fitted)), 60)
                sims = model.text_similarities(n, [fitted[i] for i in chosen])
                results.append([(s or 0.0) - (expected[i] or 0.0) for s, i in zip(sims, chosen, strict=True)])
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 80
    assert max(abs(d) for r in results for d in r) < 1e-6
    assert model.cached() <= 50


def test_a_pickled_model_ranks_as_the_original_and_starts_with_an_empty_cache() -> None:
    fitted = profiles(30)
    model = fit_model(fitted, learn=False)
    first = rank(notice(), fitted, ScoringConfig(), NOW, model=model)
    clone: MatchModel = pickle.loads(pickle.dumps(model))
    assert clone.cached() == 0
    second = rank(notice(), fitted, ScoringConfig(), NOW, model=clone)
    assert first.entries == second.entries
    assert first.entries, "the notice fits some of them"

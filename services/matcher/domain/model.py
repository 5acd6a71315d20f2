"""A fitted matching model: the vocabulary and IDF of the TF-IDF over profile text, and component weights learned
from the profiles' own award history. It holds nothing per profile: what scoring needs of a supplier (its
statistics and term counts, ``scoring.SupplierStats``) is stored with the profile when it is written and comes back
with the candidate, or is computed when it does not and kept in a bounded cache.

``fit_model`` learns without labels from outside: it cuts the profiles' award history at a date, rebuilds the
profiles as they were before it, treats every later award as a notice whose winner is known, and fits the
component weights that put the winners first (a listwise softmax loss with non-negative weights, so the learned
ranking stays a weighted sum that the explanation shows exactly). Nothing after the history it is given is seen.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import math
import random
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import optimize

from contracts.notice import Buyer, Item, TenderNotice
from contracts.supplier import PastAward, SupplierProfile
from services.matcher.domain import codes, text
from services.matcher.domain.candidates import Candidate, without_record
from services.matcher.domain.config import COMPONENTS, DEFAULT_WEIGHTS, ScoringConfig
from services.matcher.domain.documents import profile_text
from services.matcher.domain.retrieval import InMemoryProfileIndex, build_candidate_query, notice_text
from services.matcher.domain.scoring import (
    NoticeView,
    SupplierStats,
    component_values,
    fingerprint,
    supplier_stats,
    with_vectors,
)
from services.matcher.domain.semantic import ProfileVectors, notice_semantic_text, semantic_text

log = logging.getLogger(__name__)

#: Fewer awards than this after the cut: too little to learn from, keep the default weights.
MIN_TRAINING_NOTICES = 50
#: The least share of the learned weights that ``semantic`` keeps when an encoder is given. Learned on AusTender
#: history alone it gets 0.026 (a supplier with awards is found by its codes, words and buyers), which would leave
#: it almost nothing for the suppliers it exists for: those without history or codes, described in another language
#: than the notice. Measured (``bench/xling/README.md``): bench.quality --limit 2000 HR@10 0.575 without encoder,
#: 0.573 learned (0.026), 0.564 at 0.10, 0.386 at 0.33; bench.xling with the weights floored at 0.10, Chinese HR@10
#: 0.955, English 0.989.
SEMANTIC_WEIGHT_FLOOR = 0.10
#: Whether the floor holds only for candidates without award history (those it exists for), candidates with history
#: keeping the learned weights (``MatchModel.history_weights``). Measured in ``bench/xling/README.md``.
FLOOR_COLD_ONLY = True

#: The most profiles component weights are learned from: learning holds a second index, model and (with an
#: encoder) a vector per profile it learns from, so at a national supplier base (a million profiles) it learns from a
#: sample. 20,000 is above the 11,111 profiles of ``bench.quality``, whose figures are therefore unchanged.
LEARNING_SAMPLE = 20_000


def floor_semantic(weights: Mapping[str, float], floor: float = SEMANTIC_WEIGHT_FLOOR) -> dict[str, float]:
    """``weights`` (summing to 1) with ``semantic`` raised to ``floor`` if below it, the others scaled down to keep
    the sum."""
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"the semantic weight floor must be in [0, 1), got {floor}")
    sem = weights.get("semantic", 0.0)
    if sem >= floor:
        return dict(weights)
    rest = sum(v for k, v in weights.items() if k != "semantic") or 1.0
    scale = (1.0 - floor) / rest
    return {k: floor if k == "semantic" else v * scale for k, v in weights.items()}


class _Encoder(Protocol):
    """What fitting needs of the matcher's ``Encoder`` port (the domain imports no port)."""

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


def _doc(profile: SupplierProfile) -> str:
    latin, cjk = profile_text(profile)
    return latin + "\n" + cjk


#: Candidates without a stored record whose statistics a model computed and keeps, the most recently used, whatever
#: the number of profiles: ~10 KB each (generated profiles), ~200 MB at the bound. A profile outside it is computed
#: again when next a candidate (``supplier_stats``, ~150 us). Candidates with a record (a store's) are not kept here:
#: the store holds them.
SCORING_CACHED = 20_000

FloatArray32 = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class _Computed:
    """Statistics the model computed for a candidate that came without a record."""

    stats: SupplierStats
    #: The profile object they were made for (not kept alive by the cache): the same object needs no fingerprint.
    profile: weakref.ReferenceType[SupplierProfile]


@dataclass
class MatchModel:
    """Everything ``rank`` can use beyond the profiles, and nothing per profile: the component weights, the
    vocabulary and IDF of the TF-IDF text similarity (smooth idf, sublinear tf, l2 norm, as scikit-learn's
    ``TfidfVectorizer`` over the same profiles), what fitting measured. Its size does not grow with the profiles
    (the vocabulary aside). What scoring needs per supplier comes with the candidate: the statistics a store kept
    with the profile when it was written (``SupplierStats.to_record``), else computed here and kept in a bounded,
    thread-safe cache (``SCORING_CACHED``). Picklable (the cache is left out).

    The TF-IDF cosine of a candidate is made from the notice's few terms: its row's weights at the terms it shares
    with the notice, divided by the l2 norm of its whole row. That norm, the one thing the cosine needs of the whole
    row, is computed once per statistics object and model and kept on the statistics (``SupplierStats.tfidf_norm``),
    so a candidate whose statistics a store or this cache still holds costs a few lookups per notice."""

    weights: dict[str, float]
    #: Term -> column of ``idf``.
    vocabulary: dict[str, int]
    idf: FloatArray32
    algorithm: str
    #: How many profiles the vocabulary and IDF were fitted over.
    fitted_profiles: int = 0
    #: What fitting measured on its own held-back slice (hit rate at 10 with learned and default weights...).
    training_report: dict[str, Any] = field(default_factory=dict)
    #: The weights of candidates with award history, when they differ from ``weights``: the learned ones before
    #: the semantic floor (``fit_model``), which is for the suppliers history says nothing about. ``None``: every
    #: candidate is weighted by ``weights``.
    history_weights: dict[str, float] | None = None
    #: The most candidates kept in the cache.
    cache_size: int = SCORING_CACHED
    #: Candidates' statistics this model computed itself (no record stored with the profile): a store that keeps
    #: the records makes this stay 0.
    records_computed: int = 0
    _cache: OrderedDict[str, _Computed] = field(default_factory=OrderedDict, repr=False, compare=False)
    #: The worker and the buyer API's threads rank at once: the cache is read and written under this lock.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    #: What a norm kept on statistics (``SupplierStats.tfidf_norm``) is marked with: this model's vocabulary and IDF
    #: (a new one for each model, and for each copy unpickled).
    _norm_key: object = field(default_factory=object, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        del state["_lock"], state["_norm_key"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._norm_key = object()

    def cached(self) -> int:
        """How many candidates the cache holds now (at most ``cache_size``)."""
        with self._lock:
            return len(self._cache)

    def stats_for(self, profile: SupplierProfile, stored: SupplierStats | None = None) -> SupplierStats:
        """The statistics of ``profile``: ``stored`` (a store's record of it) when given, else from the cache or
        computed now."""
        return self._stats([profile], {profile.supplier_id: stored} if stored is not None else None)[0]

    def text_similarities(
        self,
        notice: TenderNotice,
        profiles: Sequence[SupplierProfile],
        stored: Mapping[str, SupplierStats] | None = None,
    ) -> list[float | None]:
        """TF-IDF cosine between the notice and each profile (terms: words, character bigrams for Chinese)."""
        return list(self.candidate_features(notice, profiles, stored)[1])

    def _weighted(self, counts: Sequence[int] | FloatArray32, cols: npt.NDArray[np.integer[Any]]) -> FloatArray32:
        """Sublinear tf times idf (``1 + ln(count)`` times the column's idf), in float32 as scikit-learn computes
        it: the row's weights before the l2 norm, for a whole row or the few columns a notice shares with it."""
        values = np.log(np.asarray(counts, dtype=np.float32))
        values += np.float32(1)
        values *= self.idf[cols]
        return values

    def _known(self, counts: Mapping[str, int]) -> tuple[IntArray, list[int]]:
        """The columns of the counted terms in the vocabulary, sorted (the order a row is summed in), and their
        counts (terms outside the vocabulary ignored, as ``TfidfVectorizer.transform``)."""
        vocab = self.vocabulary
        known = sorted((col, n) for t, n in counts.items() if (col := vocab.get(t)) is not None)
        return np.fromiter((c for c, _ in known), dtype=np.int32, count=len(known)), [n for _, n in known]

    @staticmethod
    def _l2(values: FloatArray32) -> float:
        """The l2 norm as scikit-learn's normalisation computes it: float32 squares summed in double."""
        return math.sqrt(float(np.sum((values * values).astype(np.float64))))

    def tfidf_row(self, counts: Mapping[str, int]) -> tuple[IntArray, FloatArray32]:
        """The TF-IDF row of a text's term counts as (sorted columns, values): what ``TfidfVectorizer.transform``
        computes (sublinear tf, idf, l2 norm, float32; terms outside the vocabulary ignored), without its per-call
        validation, which costs more than the arithmetic for one short text."""
        cols, known = self._known(counts)
        values = self._weighted(known, cols)
        norm = self._l2(values)
        if norm > 0:
            # As scikit-learn's l2 normalisation: a double division.
            values = (values.astype(np.float64) / norm).astype(np.float32)
        return cols, values

    def _norms(self, stats: Sequence[SupplierStats]) -> list[float]:
        """The l2 norm of each candidate's TF-IDF row under this model, kept on its statistics
        (``SupplierStats.tfidf_norm``): computed once while they are held (a store's record, or this model's cache),
        those not known yet together: the weights of all their rows at once, each row then summed on its own, as
        ``tfidf_row`` sums one (the same bits)."""
        key = self._norm_key
        todo = [st for st in stats if st.tfidf_norm is None or st.tfidf_norm[0] is not key]
        if todo:
            # Every term of every row at once: its column (-1 outside the vocabulary), count and row (``map`` over
            # the chained terms: the lookups run in C, not a Python loop per term).
            rows_counts = [st.term_counts for st in todo]
            sizes = [len(tc) for tc in rows_counts]
            size = sum(sizes)
            terms = itertools.chain.from_iterable(rows_counts)
            cols = np.fromiter(map(self.vocabulary.get, terms, itertools.repeat(-1)), dtype=np.int64, count=size)
            tf = itertools.chain.from_iterable(tc.values() for tc in rows_counts)
            counts = np.fromiter(tf, dtype=np.float32, count=size)
            rows = np.repeat(np.arange(len(todo)), sizes)
            known = cols >= 0
            # Each row in column order, the order ``tfidf_row`` sums a row in.
            order = np.lexsort((cols[known], rows[known]))
            cols, counts, rows = cols[known][order], counts[known][order], rows[known][order]
            values = self._weighted(counts, cols)
            squares = (values * values).astype(np.float64)
            # Each row's squares summed on its own: ``np.add.reduceat`` runs, for each row's slice, the pairwise sum
            # ``np.sum`` runs for a whole row (the same bits: ``test_scoring_fast_path``), in one call for all rows.
            starts = np.searchsorted(rows, np.arange(len(todo)))
            filled = np.flatnonzero(np.diff(np.append(starts, len(rows))))
            sums = np.zeros(len(todo))
            if len(filled):
                sums[filled] = np.add.reduceat(squares, starts[filled])
            for st, norm in zip(todo, np.sqrt(sums).tolist(), strict=True):
                st.tfidf_norm = (key, norm)
        return [st.tfidf_norm[1] if st.tfidf_norm is not None else 0.0 for st in stats]

    def _stats(
        self, candidates: Sequence[Candidate], stored: Mapping[str, SupplierStats] | None
    ) -> list[SupplierStats]:
        """Each candidate's statistics: ``stored`` (a store's record, by supplier id) when given, else the model's
        (``_computed``, from the whole profile: a compact candidate always comes with its record)."""
        given = stored or {}
        missing = without_record(candidates, given)
        computed = self._computed(missing) if missing else {}
        return [st if (st := given.get(p.supplier_id)) is not None else computed[p.supplier_id] for p in candidates]

    def _computed(self, profiles: Sequence[SupplierProfile]) -> dict[str, SupplierStats]:
        """The statistics of profiles that came without a record, by supplier id: from the cache while they still
        apply (the same profile object, or one of the same ``fingerprint``), else computed, and cached."""
        sids = [p.supplier_id for p in profiles]
        with self._lock:
            get = self._cache.get
            hits = [get(sid) for sid in sids]
        out: dict[str, SupplierStats] = {}
        fresh: dict[str, _Computed] = {}
        computed = 0
        for p, hit in zip(profiles, hits, strict=True):
            if hit is not None and hit.profile() is p:
                out[p.supplier_id] = hit.stats
                continue
            if hit is not None and hit.stats.fingerprint == fingerprint(p):
                # The same content in another object (read again from a store): the same statistics.
                entry = _Computed(hit.stats, weakref.ref(p))
            else:
                entry = _Computed(supplier_stats(p), weakref.ref(p))
                computed += 1
            fresh[p.supplier_id] = entry
            out[p.supplier_id] = entry.stats
        with self._lock:
            self.records_computed += computed
            cache = self._cache
            cache.update(fresh)
            for sid in sids:
                if sid in cache:
                    cache.move_to_end(sid)
            while len(cache) > self.cache_size:
                cache.popitem(last=False)
        return out

    def candidate_features(
        self,
        notice: TenderNotice,
        profiles: Sequence[Candidate],
        stored: Mapping[str, SupplierStats] | None = None,
    ) -> tuple[list[SupplierStats], list[float | None]]:
        """For each profile, its statistics (``stored``: those a store kept with the profile, by supplier id; the
        others from the cache or computed) and its TF-IDF cosine with the notice."""
        if not profiles:
            return [], []
        stats = self._stats(profiles, stored)
        counts = Counter(text.terms(notice_text(notice)))
        qcols, qvalues = self.tfidf_row(counts)
        if not len(qcols):
            return stats, [0.0] * len(profiles)
        # Only the notice's terms in the vocabulary add to a cosine: each candidate's weights at those it shares,
        # in column order (the order a whole row's products are summed in), divided by its row's norm. The
        # candidates' counts of the notice's terms (0: not shared) are read as one candidates x terms table, the
        # terms in column order: no set of shared terms made and sorted for each candidate.
        vocab = self.vocabulary
        column = {t: col for t in counts if (col := vocab.get(t)) is not None}
        ordered = sorted(column, key=column.__getitem__)  # the order of ``qcols``
        table = shared_counts(stats, ordered, by_lookup=len(ordered) <= LOOKUP_TERMS)
        shared = table > 0
        sharing = np.flatnonzero(shared.any(axis=1))
        if not len(sharing):
            return stats, [0.0] * len(profiles)
        norms = np.ones(len(stats))
        norms[sharing] = self._norms([stats[j] for j in sharing.tolist()])
        # Row by row, each row's shared columns in order: the candidates' terms as the sum needs them.
        owner, at = np.nonzero(shared)
        values = (self._weighted(table[owner, at], qcols[at]).astype(np.float64) / norms[owner]).astype(np.float32)
        products = values * qvalues[at]
        sims = np.bincount(owner, weights=products, minlength=len(stats))
        return stats, [float(x) for x in sims.tolist()]


#: Up to this many distinct notice terms (in the vocabulary), ``candidate_features`` looks each of them up in every
#: candidate's counts; beyond, it intersects each candidate's terms with them. Measured over the same 300
#: candidates (20,000 profiles): at ~30 terms (a generated notice) the lookups take 20% less CPU than the
#: intersections, at ~180 (a long description) 70% more.
LOOKUP_TERMS = 64


def shared_counts(stats: Sequence[SupplierStats], ordered: Sequence[str], *, by_lookup: bool) -> FloatArray32:
    """Each candidate's counts of the terms ``ordered`` (0 for a term it does not have), candidates x terms: with
    ``by_lookup``, every term looked up in every candidate's counts (one ``map`` each, the loop in C); without, each
    candidate's terms intersected with them and only the shared ones written (fewer steps for many terms)."""
    if by_lookup:
        zeros = itertools.repeat(0)
        found = itertools.chain.from_iterable(map(st.term_counts.get, ordered, zeros) for st in stats)
        return np.fromiter(found, dtype=np.float32, count=len(stats) * len(ordered)).reshape(len(stats), len(ordered))
    position = {t: k for k, t in enumerate(ordered)}
    query = frozenset(position)
    rows: list[int] = []
    at: list[int] = []
    tfs: list[int] = []
    for j, st in enumerate(stats):
        tc = st.term_counts
        for t in query & st.terms:
            rows.append(j)
            at.append(position[t])
            tfs.append(tc[t])
    table = np.zeros((len(stats), len(ordered)), dtype=np.float32)
    table[rows, at] = tfs
    return table


class _Frequencies:
    """Document frequencies of the terms of profiles streamed through ``add``, one profile at a time."""

    def __init__(self) -> None:
        self.df: Counter[str] = Counter()
        self.n = 0

    def add(self, profile: SupplierProfile) -> None:
        self.df.update(set(text.terms(_doc(profile))))
        self.n += 1

    def vocabulary(self) -> tuple[dict[str, int], FloatArray32]:
        """The vocabulary (terms in sorted order, as scikit-learn's) and its IDF, smooth as scikit-learn's
        (``ln((1 + n) / (1 + df)) + 1``, in float32 as it computes it for a float32 vectorizer)."""
        terms = sorted(self.df)
        df = np.fromiter((self.df[t] for t in terms), dtype=np.float32, count=len(terms))
        df += np.float32(1)
        idf = np.full_like(df, fill_value=self.n + 1, dtype=np.float32)
        idf /= df
        np.log(idf, out=idf)
        idf += np.float32(1)
        return {t: i for i, t in enumerate(terms)}, idf


def _assemble(
    frequencies: _Frequencies,
    weights: Mapping[str, float],
    report: dict[str, Any],
    cache_size: int = SCORING_CACHED,
) -> MatchModel:
    vocabulary, idf = frequencies.vocabulary()
    digest = hashlib.sha256(
        (";".join(f"{k}={weights[k]:.4f}" for k in sorted(weights)) + f";n={frequencies.n}").encode()
    ).hexdigest()[:10]
    return MatchModel(
        dict(weights),
        vocabulary,
        idf,
        f"model={digest}",
        fitted_profiles=frequencies.n,
        training_report=report,
        cache_size=cache_size,
    )


def award_notice(supplier_id: str, index: int, award: PastAward) -> TenderNotice:
    """A past award seen as the notice it answered (used to learn from history)."""
    title = award.description.strip() or (award.classification.description if award.classification else None) or "award"
    items = [Item(description=award.description or None, classification=award.classification)]
    return TenderNotice(
        notice_id=f"history:{index}",
        source="history",
        source_id=str(index),
        title=title,
        buyer=Buyer(name=award.agency),
        items=items if award.classification else [],
        estimated_value=award.value,
        published_at=datetime.combine(award.date, time(), tzinfo=UTC),
    )


def truncate(profile: SupplierProfile, cut: date) -> SupplierProfile:
    """The profile as it was before ``cut``: later awards dropped, and declared codes first evidenced by a later
    award dropped too (otherwise a learned ranking would see the future through them)."""
    before = [a for a in profile.past_awards if a.date < cut]
    if len(before) == len(profile.past_awards):
        return profile
    later_tags = {codes.tag_of(a.classification) for a in profile.past_awards if a.date >= cut and a.classification}
    earlier_tags = {codes.tag_of(a.classification) for a in before if a.classification}
    kept_codes = [c for c in profile.codes if codes.tag_of(c) not in later_tags or codes.tag_of(c) in earlier_tags]
    return profile.model_copy(update={"past_awards": before, "codes": kept_codes})


FloatArray = npt.NDArray[np.float64]


def _fit_listwise(groups: list[tuple[FloatArray, int]], l2: float = 1e-3) -> FloatArray:
    """Non-negative weights maximising the mean log-softmax probability of each group's winner."""
    k = groups[0][0].shape[1]
    x_all = np.vstack([g[0] for g in groups])
    bounds = np.cumsum([0] + [g[0].shape[0] for g in groups])
    winners = np.array([bounds[i] + g[1] for i, g in enumerate(groups)])
    seg = np.repeat(np.arange(len(groups)), np.diff(bounds))

    def loss(w: FloatArray) -> tuple[float, FloatArray]:
        s = x_all @ w
        mx = np.maximum.reduceat(s, bounds[:-1])
        e = np.exp(s - mx[seg])
        z = np.add.reduceat(e, bounds[:-1])
        lse = np.log(z) + mx
        val = float(np.mean(lse - s[winners])) + l2 * float(w @ w)
        p = e / z[seg]
        grad = (x_all * p[:, None]).sum(axis=0) - x_all[winners].sum(axis=0)
        return val, grad / len(groups) + 2 * l2 * w

    w0 = np.full(k, 1.0)
    res = optimize.minimize(loss, w0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * k)
    return np.asarray(res.x, dtype=np.float64)


def _hit_rate(groups: list[tuple[FloatArray, int]], w: FloatArray, k: int = 10) -> float:
    hits = 0
    for x, win in groups:
        s = x @ w
        hits += int((s > s[win]).sum() < k)
    return hits / len(groups) if groups else 0.0


def fit_model(
    profiles: Iterable[SupplierProfile],
    *,
    config: ScoringConfig | None = None,
    learn: bool = True,
    components: Iterable[str] | None = None,
    holdout_fraction: float = 0.2,
    max_training_notices: int = 3000,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
    encoder: _Encoder | None = None,
    semantic_floor: float = SEMANTIC_WEIGHT_FLOOR,
    floor_history: bool = FLOOR_COLD_ONLY,
    learning_limit: int = LEARNING_SAMPLE,
) -> MatchModel:
    """Fit the TF-IDF vocabulary and IDF over ``profiles``, streamed once (one profile held at a time, besides the
    learning sample); with ``learn``, also learn component weights from their
    award history (the most recent ``holdout_fraction`` of award dates plays the notices). Falls back to the
    configured weights when there is too little history. ``components`` restricts the components used (the others
    get weight 0), for ablations. ``encoder``: learn the ``semantic`` weight too (its scores computed for the
    training notices), kept at least ``semantic_floor``; without one, meaning scores 0 and learns no weight.
    ``floor_history``: the floor holds only for candidates without award history (``MatchModel.history_weights``:
    the learned weights for the others); ``False``: for every candidate.
    Beyond ``learning_limit`` profiles, the weights are learned from ``learning_sample`` of them; the vocabulary
    and IDF are always fitted over all."""
    config = config or ScoringConfig()
    use = set(components) if components is not None else set(COMPONENTS)
    weights: dict[str, float] = {
        n: float(config.weights.get(n, DEFAULT_WEIGHTS[n])) if n in use else 0.0 for n in COMPONENTS
    }
    report: dict[str, Any] = {"learned": False}
    history_weights: dict[str, float] | None = None
    # One pass over the profiles: the terms' document frequencies, and the sample to learn from.
    frequencies = _Frequencies()
    sampler = _Sampler(learning_limit)
    for p in profiles:
        frequencies.add(p)
        if learn:
            sampler.add(p)
    sample = sampler.sample()
    dates = sorted(a.date for p in sample for a in p.past_awards)
    if learn and len(dates) >= MIN_TRAINING_NOTICES * 4:
        cut = dates[int(len(dates) * (1 - holdout_fraction))]
        learned = _learn(sample, cut, config, max_training_notices, seed, progress, use, encoder)
        if learned is not None:
            weights, report = learned
            if encoder is not None and "semantic" in use:
                report["weights_learned"] = report.get("weights", {})
                learned_weights = weights
                weights = floor_semantic(weights, semantic_floor)
                report["weights_floored"] = {k: round(v, 4) for k, v in weights.items()}
                # The floor holds for suppliers without award history; those with history keep what was learned.
                if floor_history and learned_weights != weights:
                    history_weights = dict(learned_weights)
    if sampler.seen > len(sample) and learn:
        report["learning_sample"] = len(sample)
    model = _assemble(frequencies, weights, report)
    if history_weights is not None:
        model.history_weights = history_weights
        model.algorithm += f"/floor-cold={semantic_floor}"
    return model


def _recency(p: SupplierProfile) -> tuple[date, str]:
    """What ``learning_sample`` keeps the largest of: the latest award date, then the supplier id."""
    return max((a.date for a in p.past_awards), default=date.min), p.supplier_id


class _Sampler:
    """``learning_sample`` over profiles streamed through ``add``: they are kept as they come while there are at
    most ``limit``, then the ``limit`` largest by ``_recency`` (a heap), so at most ``limit`` are held."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the learning sample must hold at least one profile, got {limit}")
        self.limit = limit
        self.seen = 0
        self._first: list[SupplierProfile] = []
        #: (recency, minus the arrival, profile): of equal recency (a supplier id twice), the first kept.
        self._heap: list[tuple[tuple[date, str], int, SupplierProfile]] = []

    def add(self, profile: SupplierProfile) -> None:
        self.seen += 1
        if not self._heap and len(self._first) < self.limit:
            self._first.append(profile)
            return
        if not self._heap:
            self._heap = [(_recency(p), -i, p) for i, p in enumerate(self._first)]
            heapq.heapify(self._heap)
            self._first = []
        item = (_recency(profile), -self.seen, profile)
        if item[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, item)

    def sample(self) -> list[SupplierProfile]:
        """The profiles in the order given when there were at most ``limit``; else the sample by supplier id."""
        if not self._heap:
            return list(self._first)
        return [p for _, _, p in sorted(self._heap, key=lambda item: item[0][1])]


def learning_sample(profiles: Sequence[SupplierProfile], limit: int = LEARNING_SAMPLE) -> Sequence[SupplierProfile]:
    """``profiles`` as they are when there are at most ``limit``; else the ``limit`` with the most recent awards
    (latest award date, ties to the highest supplier id; those without awards last), by supplier id: those whose
    history the learning notices (the latest awards) are drawn from, and those they compete with."""
    sampler = _Sampler(limit)
    if len(profiles) <= limit:
        return profiles
    for p in profiles:
        sampler.add(p)
    return sampler.sample()


def _learn(
    profiles: Sequence[SupplierProfile],
    cut: date,
    config: ScoringConfig,
    max_notices: int,
    seed: int,
    progress: Callable[[int, int], None] | None,
    use: set[str],
    encoder: _Encoder | None = None,
) -> tuple[dict[str, float], dict[str, Any]] | None:
    before = [truncate(p, cut) for p in profiles]
    with_history = {p.supplier_id for p in before if p.past_awards}
    pairs = [
        (p.supplier_id, a) for p in profiles for a in p.past_awards if a.date >= cut and p.supplier_id in with_history
    ]
    if len(pairs) < MIN_TRAINING_NOTICES:
        return None
    random.Random(seed).shuffle(pairs)
    pairs = pairs[:max_notices]
    index = InMemoryProfileIndex()
    frequencies = _Frequencies()
    for p in before:
        index.upsert(p)
        frequencies.add(p)
    # Every profile learnt from stays cached: each one's statistics computed once.
    interim = _assemble(frequencies, dict.fromkeys(COMPONENTS, 1.0), {}, cache_size=max(len(before), 1))
    notices = [award_notice(winner, i, award) for i, (winner, award) in enumerate(pairs)]
    # Meaning: every profile's and training notice's vector, encoded in two batches (no phrases: no reasons here).
    profile_vectors: dict[str, ProfileVectors] = {}
    notice_vectors: npt.NDArray[np.float32] | None = None
    if encoder is not None and "semantic" in use:
        rows = encoder.encode([semantic_text(p) for p in before])
        empty = np.zeros((0, rows.shape[1]), dtype=np.float32)
        profile_vectors = {p.supplier_id: ProfileVectors(rows[j], [], empty) for j, p in enumerate(before)}
        notice_vectors = encoder.encode([notice_semantic_text(n.title, n.description) for n in notices])
    groups: list[tuple[FloatArray, int]] = []
    for i, (winner, _award) in enumerate(pairs):
        if progress is not None:
            progress(i, len(pairs))
        notice = notices[i]
        when = datetime.combine(_award.date, time(), tzinfo=UTC)
        cands = index.candidates(build_candidate_query(notice, config))
        ids = [c.supplier_id for c in cands]
        if winner not in ids or len(ids) < 2:
            continue
        nv = NoticeView.of(notice, when, None if notice_vectors is None else notice_vectors[i])
        plain, sims = interim.candidate_features(notice, cands)
        stats = [with_vectors(st, profile_vectors.get(c.supplier_id)) for st, c in zip(plain, cands, strict=True)]
        columns = component_values(nv, stats, config, sims)
        x = np.array([[score for score, _ in values] for values in columns]).T
        groups.append((x, ids.index(winner)))
    if len(groups) < MIN_TRAINING_NOTICES:
        return None
    mask = np.array([1.0 if n in use else 0.0 for n in COMPONENTS])
    groups = [(x * mask, win) for x, win in groups]
    split = int(len(groups) * 0.8)
    w = _fit_listwise(groups[:split])
    default = np.array([DEFAULT_WEIGHTS[n] for n in COMPONENTS]) * mask
    report = {
        "learned": True,
        "cut": cut.isoformat(),
        "training_notices": len(pairs),
        "usable_groups": len(groups),
        "validation_hr10_learned": _hit_rate(groups[split:], w),
        "validation_hr10_default": _hit_rate(groups[split:], default),
    }
    w = _fit_listwise(groups)  # refit on all groups for the shipped model
    total = float(w.sum()) or 1.0
    weights = {n: float(v) / total for n, v in zip(COMPONENTS, w, strict=True)}
    report["weights"] = {k: round(v, 4) for k, v in weights.items()}
    log.info("learned matching weights %s", report)
    if not all(math.isfinite(v) for v in weights.values()):
        return None
    return weights, report

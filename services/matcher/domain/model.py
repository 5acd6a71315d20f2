"""A fitted matching model: TF-IDF over profile text, per-supplier statistics, and component weights learned from
the profiles' own award history.

``fit_model`` learns without labels from outside: it cuts the profiles' award history at a date, rebuilds the
profiles as they were before it, treats every later award as a notice whose winner is known, and fits the
component weights that put the winners first (a listwise softmax loss with non-negative weights, so the learned
ranking stays a weighted sum that the explanation shows exactly). Nothing after the history it is given is seen.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import random
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import optimize, sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from contracts.notice import Buyer, Item, TenderNotice
from contracts.supplier import PastAward, SupplierProfile
from services.matcher.domain import codes, text
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


@dataclass
class MatchModel:
    """Everything ``rank`` can use beyond the profiles: picklable (plain data, a scikit-learn vectorizer and a
    SciPy sparse matrix)."""

    weights: dict[str, float]
    vectorizer: TfidfVectorizer
    matrix: sparse.csr_matrix
    #: The same matrix by columns (terms), for fast similarity of one query against chosen rows.
    columns: sparse.csc_matrix
    rows: dict[str, int]
    stats: dict[str, SupplierStats]
    algorithm: str
    #: The profiles fitted on, by id: an identical object skips the fingerprint check.
    profiles: dict[str, SupplierProfile]
    #: What fitting measured on its own held-back slice (hit rate at 10 with learned and default weights...).
    training_report: dict[str, Any] = field(default_factory=dict)
    #: The weights of candidates with award history, when they differ from ``weights``: the learned ones before
    #: the semantic floor (``fit_model``), which is for the suppliers history says nothing about. ``None``: every
    #: candidate is weighted by ``weights``.
    history_weights: dict[str, float] | None = None

    def _current(self, profile: SupplierProfile) -> SupplierStats | None:
        st = self.stats.get(profile.supplier_id)
        if st is None:
            return None
        if self.profiles.get(profile.supplier_id) is profile or st.fingerprint == fingerprint(profile):
            return st
        return None

    def stats_for(self, profile: SupplierProfile) -> SupplierStats:
        st = self._current(profile)
        if st is None:
            # A profile created or changed since the model was fitted: compute it now (not cached, stays pure).
            return supplier_stats(profile)
        return st

    def text_similarities(self, notice: TenderNotice, profiles: Sequence[SupplierProfile]) -> list[float | None]:
        """TF-IDF cosine between the notice and each profile (terms: words, character bigrams for Chinese)."""
        return list(self.candidate_features(notice, profiles)[1])

    def _query_vector(self, doc: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """The TF-IDF row of ``doc`` as (sorted columns, values): what ``vectorizer.transform`` computes (sublinear
        tf, idf, l2 norm, float32), without its per-call validation, which costs more than the arithmetic for one
        short notice."""
        vocab = self.vectorizer.vocabulary_
        counts: dict[int, int] = {}
        for t in text.terms(doc):
            col = vocab.get(t)
            if col is not None:
                counts[col] = counts.get(col, 0) + 1
        if not counts:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        cols = np.fromiter(sorted(counts), dtype=np.int32, count=len(counts))
        values = np.log(np.array([counts[c] for c in cols.tolist()], dtype=np.float32))
        values += np.float32(1)
        values *= self._idf32()[cols]
        # As scikit-learn's l2 normalisation: float32 squares summed in double, one by one, then a double division.
        norm = math.sqrt(sum(float(x) for x in (values * values).tolist()))
        if norm > 0:
            values = (values.astype(np.float64) / norm).astype(np.float32)
        return cols, values

    def _idf32(self) -> npt.NDArray[np.float32]:
        idf = self.__dict__.get("_idf32_cache")
        if idf is None:
            idf = np.asarray(self.vectorizer.idf_, dtype=np.float32)
            self.__dict__["_idf32_cache"] = idf
        return idf

    def candidate_features(
        self, notice: TenderNotice, profiles: Sequence[SupplierProfile]
    ) -> tuple[list[SupplierStats], list[float | None]]:
        """For each profile, its statistics (precomputed when the profile is the fitted one) and its TF-IDF cosine
        with the notice: one lookup per candidate."""
        if not profiles:
            return [], []
        cols, qdata = self._query_vector(notice_text(notice))
        out: list[float | None] = [0.0] * len(profiles)
        stats_out: list[SupplierStats] = []
        known: list[int] = []
        known_at: list[int] = []
        fitted, all_stats, rows = self.profiles, self.stats, self.rows
        for i, p in enumerate(profiles):
            sid = p.supplier_id
            st = all_stats.get(sid)
            if st is not None and (fitted.get(sid) is p or st.fingerprint == fingerprint(p)):
                stats_out.append(st)
                row = rows.get(sid)
                if row is not None:
                    known.append(row)
                    known_at.append(i)
                    continue
            else:
                # A profile created or changed since the model was fitted: computed now (not cached, stays pure).
                stats_out.append(supplier_stats(p))
            if len(cols):
                v = self.vectorizer.transform([_doc(p)])
                q = sparse.csr_matrix((qdata, cols, [0, len(cols)]), shape=(1, v.shape[1]))
                out[i] = float((v @ q.T).toarray()[0, 0])
        if known and len(cols):
            # Either gather the candidates' rows or slice the query terms' columns, whichever touches fewer
            # stored values: columns win for rare terms, rows for common terms over many profiles.
            col_cost = int((self.columns.indptr[cols + 1] - self.columns.indptr[cols]).sum())
            rows_arr = np.asarray(known)
            row_cost = int((self.matrix.indptr[rows_arr + 1] - self.matrix.indptr[rows_arr]).sum())
            if col_cost <= row_cost:
                sims_all = self.columns[:, cols] @ qdata
                sims = sims_all[rows_arr]
            else:
                q = sparse.csr_matrix((qdata, cols, [0, len(cols)]), shape=(1, self.matrix.shape[1]))
                sims = np.asarray((self.matrix[rows_arr] @ q.T).todense()).ravel()
            for i, sim in zip(known_at, sims.tolist(), strict=True):
                out[i] = float(sim)
        return stats_out, out


def _vectorize(profiles: Sequence[SupplierProfile]) -> tuple[TfidfVectorizer, sparse.csr_matrix, dict[str, int]]:
    vec = TfidfVectorizer(analyzer=text.terms, sublinear_tf=True, min_df=1, dtype=np.float32)
    docs = [_doc(p) for p in profiles]
    if not any(text.terms(d) for d in docs):
        docs = [*docs, "empty"]
    matrix = vec.fit_transform(docs).tocsr()
    return vec, matrix, {p.supplier_id: i for i, p in enumerate(profiles)}


def _interned(stats: SupplierStats) -> SupplierStats:
    """``stats`` with its terms interned: the same word in many profiles is then one string, not one each (a
    quarter of the statistics' memory over generated profiles)."""
    stats.terms = frozenset(map(sys.intern, stats.terms))
    return stats


def _assemble(profiles: Sequence[SupplierProfile], weights: Mapping[str, float], report: dict[str, Any]) -> MatchModel:
    vec, matrix, rows = _vectorize(profiles)
    stats = {p.supplier_id: _interned(supplier_stats(p)) for p in profiles}
    digest = hashlib.sha256(
        (";".join(f"{k}={weights[k]:.4f}" for k in sorted(weights)) + f";n={len(profiles)}").encode()
    ).hexdigest()[:10]
    by_id = {p.supplier_id: p for p in profiles}
    return MatchModel(dict(weights), vec, matrix, matrix.tocsc(), rows, stats, f"model={digest}", by_id, report)


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
    """Fit TF-IDF and statistics over ``profiles``; with ``learn``, also learn component weights from their
    award history (the most recent ``holdout_fraction`` of award dates plays the notices). Falls back to the
    configured weights when there is too little history. ``components`` restricts the components used (the others
    get weight 0), for ablations. ``encoder``: learn the ``semantic`` weight too (its scores computed for the
    training notices), kept at least ``semantic_floor``; without one, meaning scores 0 and learns no weight.
    ``floor_history``: the floor holds only for candidates without award history (``MatchModel.history_weights``:
    the learned weights for the others); ``False``: for every candidate.
    Beyond ``learning_limit`` profiles, the weights are learned from ``learning_sample`` of them; the vocabulary,
    IDF and statistics are always fitted over all."""
    config = config or ScoringConfig()
    profiles = list(profiles)
    use = set(components) if components is not None else set(COMPONENTS)
    weights: dict[str, float] = {
        n: float(config.weights.get(n, DEFAULT_WEIGHTS[n])) if n in use else 0.0 for n in COMPONENTS
    }
    report: dict[str, Any] = {"learned": False}
    history_weights: dict[str, float] | None = None
    sample = learning_sample(profiles, learning_limit) if learn else profiles
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
    if len(sample) < len(profiles):
        report["learning_sample"] = len(sample)
    model = _assemble(profiles, weights, report)
    if history_weights is not None:
        model.history_weights = history_weights
        model.algorithm += f"/floor-cold={semantic_floor}"
    return model


def learning_sample(profiles: Sequence[SupplierProfile], limit: int = LEARNING_SAMPLE) -> Sequence[SupplierProfile]:
    """``profiles`` as they are when there are at most ``limit``; else the ``limit`` with the most recent awards
    (latest award date, ties to the highest supplier id; those without awards last), by supplier id: those whose
    history the learning notices (the latest awards) are drawn from, and those they compete with."""
    if limit < 1:
        raise ValueError(f"the learning sample must hold at least one profile, got {limit}")
    if len(profiles) <= limit:
        return profiles

    def recency(p: SupplierProfile) -> tuple[date, str]:
        return max((a.date for a in p.past_awards), default=date.min), p.supplier_id

    return sorted(heapq.nlargest(limit, profiles, key=recency), key=lambda p: p.supplier_id)


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
    for p in before:
        index.upsert(p)
    interim = _assemble(before, dict.fromkeys(COMPONENTS, 1.0), {})
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
        sims = interim.text_similarities(notice, cands)
        stats = [with_vectors(interim.stats_for(c), profile_vectors.get(c.supplier_id)) for c in cands]
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

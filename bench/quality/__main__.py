"""Matching quality on real award data: ``python -m bench.quality --history H (--test T | --split-date D)``.

Builds supplier profiles from the history awards (through the contract models), fits the matcher's model on them
(TF-IDF, statistics, weights learned from the history alone), then for every test award whose supplier appears in
history builds the TenderNotice and runs the matcher's own retrieval (``InMemoryProfileIndex``, the in-process twin
of the Elasticsearch query) and ``rank``. Reports HR@1/5/10, MRR@10, catalogue coverage and n, beside two
popularity baselines computed in the same run. ``--json`` prints one JSON object as the last line.

With ``--encoder use`` (the default, as the matcher's ``TB_MATCHER_ENCODER``), profiles and notices are embedded
with the multilingual USE: the ``semantic`` component is learned and scored and the kNN channel adds candidates;
``--encoder none`` is the ablation without both.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from bench.quality.data import Award, as_of, build_notice, build_profiles, read_awards, split_by_date, supplier_ids
from bench.quality.product import DEFAULT_MAPPING, profiles_through_import
from contracts import SupplierProfile
from services.matcher.domain import (
    COMPONENTS,
    InMemoryProfileIndex,
    ScoringConfig,
    build_candidate_query,
    fit_model,
    rank,
)
from services.matcher.domain.model import FLOOR_COLD_ONLY, SEMANTIC_WEIGHT_FLOOR
from services.matcher.domain.semantic import ProfileVectors, SemanticInput, notice_semantic_text, semantic_text
from services.matcher.ports import Encoder

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FILE = REPO.parent / "shared" / "data" / "austender" / "awards-2023-07_2024-06.csv.gz"


class Metrics:
    def __init__(self, k: int) -> None:
        self.k = k
        self.n = 0
        self.hits: Counter[int] = Counter()
        self.rr = 0.0
        self.shown: set[str] = set()

    def add(self, ranked: list[str], winner: str) -> None:
        self.n += 1
        top = ranked[: self.k]
        self.shown.update(top)
        if winner in ranked[:10]:
            self.rr += 1.0 / (ranked.index(winner) + 1)
        pos = top.index(winner) + 1 if winner in top else None
        for cut in {1, 5, 10, self.k}:
            if pos is not None and pos <= cut:
                self.hits[cut] += 1

    def result(self, catalogue: int) -> dict[str, Any]:
        n = max(self.n, 1)
        out = {
            "n": self.n,
            "hr@1": round(self.hits[1] / n, 4),
            "hr@5": round(self.hits[5] / n, 4),
            "hr@10": round(self.hits[10] / n, 4),
            "mrr@10": round(self.rr / n, 4),
            "coverage": round(len(self.shown) / max(catalogue, 1), 4),
        }
        if self.k not in (1, 5, 10):
            out[f"hr@{self.k}"] = round(self.hits[self.k] / n, 4)
        return out


def popularity(history: list[Award], key_of: Any) -> dict[str, list[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for a in history:
        counts[key_of(a)][a.supplier_key] += 1
    return {k: [s for s, _ in sorted(c.items(), key=lambda x: (-x[1], x[0]))[:100]] for k, c in counts.items()}


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def evaluate(
    history: list[Award],
    test: list[Award],
    *,
    k: int = 10,
    learn: bool = True,
    components: tuple[str, ...] | None = None,
    console: Console | None = None,
    limit: int | None = None,
    training_notices: int = 3000,
    wording_floor: float | None = None,
    profiles_from: tuple[list[SupplierProfile], dict[str, str]] | None = None,
    encoder: Encoder | None = None,
    semantic_floor: float = SEMANTIC_WEIGHT_FLOOR,
    floor_history: bool = FLOOR_COLD_ONLY,
) -> dict[str, Any]:
    """``profiles_from``: the profiles to rank and each one's evaluation identity (``supplier_key``) by supplier
    id; None: built from ``history`` in process (``build_profiles``)."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    keys = {a.supplier_key for a in history}
    if profiles_from is None:
        ids = supplier_ids(a.supplier_key for a in history)
        key_of_id = {v: k for k, v in ids.items()}
        profiles = build_profiles(history, ids)
    else:
        profiles, key_of_id = profiles_from
    cases = [a for a in test if a.supplier_key in keys]
    if limit is not None:
        cases = cases[:limit]
    config = ScoringConfig(top_k=max(k, 10))
    if wording_floor is not None:
        config = dataclasses.replace(config, wording_floor=wording_floor)
    with _progress(console) as bar:
        task = bar.add_task("learning weights from history", total=None)

        def tick(i: int, n: int) -> None:
            bar.update(task, completed=i + 1, total=n)

        model = fit_model(
            profiles,
            config=config,
            learn=learn,
            components=components,
            progress=tick,
            max_training_notices=training_notices,
            encoder=encoder,
            semantic_floor=semantic_floor,
            floor_history=floor_history,
        )
        bar.update(task, completed=bar.tasks[0].total or 0)
        index = InMemoryProfileIndex()
        vectors: dict[str, ProfileVectors] = {}
        if encoder is not None:
            rows = encoder.encode([semantic_text(p) for p in profiles])
            no_phrases = rows[:0]  # reasons are not read here: no phrase vectors
            vectors = {p.supplier_id: ProfileVectors(rows[j], [], no_phrases) for j, p in enumerate(profiles)}
        for p in profiles:
            v = vectors.get(p.supplier_id)
            index.upsert(p, None if v is None else v.vector)
        fam = popularity(history, lambda a: a.unspsc[:4])
        exact = popularity(history, lambda a: a.unspsc)
        ours, m_fam, m_exact = Metrics(k), Metrics(k), Metrics(k)
        recall = 0
        task = bar.add_task("matching test awards", total=len(cases))
        for i, a in enumerate(cases):
            notice = build_notice(a, i)
            nvec = None
            if encoder is not None:
                nvec = encoder.encode([notice_semantic_text(notice.title, notice.description)])[0]
            candidates = index.candidates(build_candidate_query(notice, config, nvec))
            recall += any(key_of_id[c.supplier_id] == a.supplier_key for c in candidates)
            meaning = None if nvec is None else SemanticInput(nvec, vectors)
            result = rank(notice, candidates, config, as_of(a.signed.date()), model=model, vectors=meaning)
            ours.add([key_of_id[e.supplier_id] for e in result.entries], a.supplier_key)
            m_fam.add(fam.get(a.unspsc[:4], [])[:k], a.supplier_key)
            m_exact.add(exact.get(a.unspsc, [])[:k], a.supplier_key)
            bar.advance(task)
    out = ours.result(len(keys))
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["candidate_recall"] = round(recall / max(len(cases), 1), 4)
    out["profiles"] = len(profiles)
    out["history_rows"] = len(history)
    out["test_rows"] = len(test)
    out["weights"] = {c: round(w, 4) for c, w in model.weights.items()}
    out["training"] = {k_: v for k_, v in model.training_report.items() if k_ != "weights"}
    out["baselines"] = {
        "family_popularity": m_fam.result(len(keys)),
        "exact_code_popularity": m_exact.result(len(keys)),
    }
    return out


def _table(result: dict[str, Any]) -> Table:
    t = Table(title=f"Matching quality (n={result['n']}, {result['seconds']} s)")
    for col in ("method", "hr@1", "hr@5", "hr@10", "mrr@10", "coverage"):
        t.add_column(col)
    rows = [("tenderbridge", result), *((name, r) for name, r in result["baselines"].items())]
    for name, r in rows:
        t.add_row(name, *(f"{r[c]:.3f}" for c in ("hr@1", "hr@5", "hr@10", "mrr@10", "coverage")))
    return t


def _encoder(name: str) -> Encoder | None:
    if name == "none":
        return None
    from services.matcher.adapters.encoder import UseEncoder

    return UseEncoder(cache_size=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=Path, default=DEFAULT_FILE, help="award file (CSV, gzipped or not)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--test", type=Path, help="award file whose rows play the notices")
    group.add_argument("--split-date", type=date.fromisoformat, help="split --history at this date (YYYY-MM-DD)")
    ap.add_argument("--until", type=date.fromisoformat, help="ignore test awards signed on or after this date")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--no-learn", action="store_true", help="use the hand-set weights instead of learning them")
    ap.add_argument(
        "--components",
        help=f"comma-separated subset of components to use (ablation); all: {','.join(COMPONENTS)}",
    )
    ap.add_argument("--limit", type=int, help="evaluate only the first N test awards (quick checks)")
    ap.add_argument(
        "--wording-floor", type=float, help="ScoringConfig.wording_floor (least token-set ratio that counts)"
    )
    ap.add_argument("--training-notices", type=int, default=3000, help="history awards used to learn the weights")
    ap.add_argument(
        "--profiles-from",
        choices=("build", "import"),
        default="build",
        help="build: profiles built in process from the history rows (ABN, else the name, is the supplier); import:"
        " the product path, the history's award records read by ingest's parse with --mapping and imported by the"
        " matcher's import_awards (entity resolution, prospects) on the in-memory bootstrap",
    )
    ap.add_argument(
        "--mapping", type=Path, default=DEFAULT_MAPPING, help="CSV column mapping for --profiles-from import"
    )
    ap.add_argument(
        "--encoder",
        choices=("use", "none"),
        default="use",
        help="sentence encoder of the semantic component and kNN channel (none: the ablation without both)",
    )
    ap.add_argument(
        "--semantic-floor",
        type=float,
        default=SEMANTIC_WEIGHT_FLOOR,
        help=f"least learned weight share of the semantic component (default {SEMANTIC_WEIGHT_FLOOR})",
    )
    ap.add_argument(
        "--semantic-floor-for",
        choices=("cold", "all"),
        default="cold" if FLOOR_COLD_ONLY else "all",
        help="the candidates the semantic floor holds for: without award history (cold) or every one (all)",
    )
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    if not args.history.exists():
        console.print(f"[red]no such award file: {args.history}[/red]")
        return 2
    awards = list(read_awards(args.history))
    if args.test is not None:
        history, test = awards, list(read_awards(args.test))
    else:
        split = args.split_date or date(2024, 5, 1)
        history, test = split_by_date(awards, split)
    if args.until is not None:
        test = [a for a in test if a.signed.date() < args.until]
    components = tuple(c.strip() for c in args.components.split(",")) if args.components else None
    if components and set(components) - set(COMPONENTS):
        console.print(f"[red]unknown components: {sorted(set(components) - set(COMPONENTS))}[/red]")
        return 2
    profiles_from = None
    if args.profiles_from == "import":
        profiles_from = profiles_through_import(args.history, args.mapping, history, console)
    result = evaluate(
        history,
        test,
        k=args.k,
        learn=not args.no_learn,
        components=components,
        console=console,
        limit=args.limit,
        training_notices=args.training_notices,
        wording_floor=args.wording_floor,
        profiles_from=profiles_from,
        encoder=_encoder(args.encoder),
        semantic_floor=args.semantic_floor,
        floor_history=args.semantic_floor_for == "cold",
    )
    result["semantic_floor_for"] = args.semantic_floor_for
    result["profiles_from"] = args.profiles_from
    result["encoder"] = args.encoder
    Console().print(_table(result))
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

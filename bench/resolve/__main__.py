"""Entity resolution on real award data: ``python -m bench.resolve [--file F] [--limit N] [--json]``.

Reads AusTender's award file, hides the ABN, resolves every award's supplier by name (and country) alone with the
matcher's ``Resolver``, and scores the clusters against ABN identity on the awards that have an ABN: pairwise
precision / recall / F1 (over pairs of awards) and B-cubed precision / recall (per award, averaged). The baseline,
in the same run, clusters awards by their exact lower-cased supplier name. ``--json`` prints one JSON object as the
last line.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from services.matcher.domain.resolve import Resolver, ResolverConfig, Winner

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
DEFAULT_FILE = REPO.parent / "shared" / "data" / "austender" / "awards-2023-07_2024-06.csv.gz"


@dataclass(frozen=True)
class Row:
    record_id: str
    name: str
    country: str
    abn: str
    signed: str


def read_rows(path: Path, limit: int | None = None, since: str = "", before: str = "") -> list[Row]:
    """The file's awards with a supplier name, signed in [``since``, ``before``) when given (ISO dates)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    rows: list[Row] = []
    for n, rec in enumerate(csv.DictReader(io.StringIO(raw.decode("utf-8")))):
        if limit is not None and n >= limit:
            break
        name = (rec.get("supplier_name") or "").strip()
        if not name:
            continue
        signed = (rec.get("contract_date_signed") or "")[:10]
        if (since and signed < since) or (before and signed >= before):
            continue
        country = (rec.get("supplier_country") or "").strip()
        rows.append(Row(f"{rec['contract_id']}#{n}", name, country, rec["supplier_abn"].strip(), signed))
    return rows


@dataclass(frozen=True)
class Scores:
    clusters: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def score(predicted: dict[str, str], truth: dict[str, str]) -> Scores:
    """``predicted``: record -> cluster; ``truth``: record -> true identity, for the records that have one (only
    those are scored; a record without truth still belongs to its predicted cluster, it is just not counted)."""
    cells: Counter[tuple[str, str]] = Counter((predicted[r], t) for r, t in truth.items())
    pred_sizes: Counter[str] = Counter()
    true_sizes: Counter[str] = Counter()
    for (p, t), n in cells.items():
        pred_sizes[p] += n
        true_sizes[t] += n
    same = sum(_pairs(n) for n in cells.values())
    pred_pairs = sum(_pairs(n) for n in pred_sizes.values())
    true_pairs = sum(_pairs(n) for n in true_sizes.values())
    precision = same / pred_pairs if pred_pairs else 1.0
    recall = same / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = sum(cells.values())
    b_precision = sum(n * n / pred_sizes[p] for (p, _), n in cells.items()) / total
    b_recall = sum(n * n / true_sizes[t] for (_, t), n in cells.items()) / total
    return Scores(len(set(predicted.values())), precision, recall, f1, b_precision, b_recall)


def baseline(rows: Iterable[Row]) -> dict[str, str]:
    """Exact lower-cased names."""
    return {r.record_id: r.name.lower() for r in rows}


def resolved(rows: Iterable[Row], config: ResolverConfig) -> tuple[dict[str, str], Resolver]:
    resolver = Resolver(config)
    out = {r.record_id: resolver.resolve(Winner(r.record_id, r.name, (), r.country or None)).entity_id for r in rows}
    return out, resolver


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.process_time()
    value = fn()
    return value, time.process_time() - start


def _rounded(result: tuple[Scores, float]) -> dict[str, float]:
    scores, seconds = result
    return {**{k: round(v, 4) for k, v in vars(scores).items()}, "cpu_seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resolve", description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="AusTender award CSV (gzipped or not)")
    parser.add_argument("--limit", type=int, default=None, help="read only the first N rows")
    parser.add_argument("--since", default="", help="only awards signed on or after this date (YYYY-MM-DD)")
    parser.add_argument("--before", default="", help="only awards signed before this date (YYYY-MM-DD)")
    parser.add_argument("--threshold", type=float, default=ResolverConfig.threshold, help="fuzzy name threshold 0-100")
    parser.add_argument("--explain", type=int, default=0, help="print N fuzzy merges and N refusals, as explained")
    parser.add_argument("--errors", type=int, default=0, help="print N wrongly merged name pairs (different ABNs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if not args.file.exists():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    rows = read_rows(args.file, args.limit, args.since, args.before)
    truth = {r.record_id: r.abn for r in rows if r.abn}
    base, base_s = _timed(lambda: baseline(rows))
    config = ResolverConfig(threshold=args.threshold)
    (ours, resolver), ours_s = _timed(lambda: resolved(rows, config))
    grouped = dataclasses.replace(config, generic_words=config.generic_words | {"australia"})
    (by_group, _), by_group_s = _timed(lambda: resolved(rows, grouped))
    results = {
        "exact lower-cased name (baseline)": (score(base, truth), base_s),
        "tenderbridge resolver": (score(ours, truth), ours_s),
        "resolver, 'australia' generic": (score(by_group, truth), by_group_s),
    }
    print(
        f"{len(rows)} awards, {len(truth)} with an ABN ({len(set(truth.values()))} ABNs) scored; ABN hidden from both"
    )
    header = f"{'method':36} {'clusters':>8} {'pw P':>7} {'pw R':>7} {'pw F1':>7} {'B3 P':>7} {'B3 R':>7} {'cpu s':>6}"
    print(header)
    for label, (s, seconds) in results.items():
        print(
            f"{label:36} {s.clusters:8d} {s.pairwise_precision:7.4f} {s.pairwise_recall:7.4f} {s.pairwise_f1:7.4f}"
            f" {s.bcubed_precision:7.4f} {s.bcubed_recall:7.4f} {seconds:6.1f}"
        )
    rules = Counter(d.rule for d in resolver.decisions)
    print("decisions by rule:", dict(rules))
    if args.explain:
        fuzzy = [d for d in resolver.decisions if d.rule == "name_fuzzy"][: args.explain]
        refused = [d for d in resolver.decisions if d.refused is not None][: args.explain]
        for d in [*fuzzy, *refused]:
            print(" ", d.explain())
    if args.errors:
        abn_of = {r.record_id: r.abn for r in rows}
        shown = 0
        for d in resolver.merges:
            entity = resolver.entities[d.entity_id]
            first = entity.records[0]
            if abn_of[d.record_id] and abn_of[first] and abn_of[d.record_id] != abn_of[first]:
                print(f"  wrong: {d.explain()}  [{abn_of[d.record_id]} vs {abn_of[first]}]")
                shown += 1
                if shown >= args.errors:
                    break
    if args.json:
        out = {
            "awards": len(rows),
            "scored": len(truth),
            "abns": len(set(truth.values())),
            "threshold": args.threshold,
            "rules": dict(rules),
            "baseline": _rounded(results["exact lower-cased name (baseline)"]),
            "resolver": _rounded(results["tenderbridge resolver"]),
            "resolver_australia_generic": _rounded(results["resolver, 'australia' generic"]),
        }
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Do buyers' marks improve the ranking? Replays the test awards in date order with a simulated buyer and prints
HR@10 and MRR@10 with and without feedback, in the same run.

The data, the profiles and the model are ``bench.quality``'s (history before the split date, test after it, only
test awards whose supplier is in history). Each test award plays a notice of its agency. Both rankings of a notice
read only the marks made on earlier notices; the simulated buyer marks after the ranking: on a share of notices
(``--share``, chosen by a seeded draw) the true winner ``relevant`` and the top ``--not-relevant`` non-winners of the
feedback ranking ``not_relevant`` (no reason). Marks are read as the matcher reads them (``Matcher._adjustments``):
the latest ``FEEDBACK_MARKS_READ`` of the notice's agency (of all with ``--pooled``), weighted by
``notice_similarity``, turned into adjustments by ``explained_adjustments``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import deque
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.quality.__main__ import DEFAULT_FILE, Metrics, _progress
from bench.quality.data import as_of, build_notice, build_profiles, read_awards, split_by_date, supplier_ids
from contracts.feedback import FeedbackMark, ShortlistFeedback, feedback_id
from contracts.notice import TenderNotice
from services.matcher.domain import InMemoryProfileIndex, ScoringConfig, build_candidate_query, fit_model, rank
from services.matcher.domain.feedback import explained_adjustments, notice_similarity
from services.matcher.keys import notice_agencies
from services.matcher.service import FEEDBACK_MARKS_READ


class Marks:
    """The marks made so far, latest last, per agency (and all together for pooling), as the store keeps them:
    one per agency, notice and supplier."""

    def __init__(self) -> None:
        self.by_agency: dict[str, deque[ShortlistFeedback]] = {}
        self.every: deque[ShortlistFeedback] = deque(maxlen=FEEDBACK_MARKS_READ)
        self.notices: dict[str, TenderNotice] = {}

    def add(self, notice: TenderNotice, mark: ShortlistFeedback) -> None:
        self.notices[notice.notice_id] = notice
        self.by_agency.setdefault(mark.agency, deque(maxlen=FEEDBACK_MARKS_READ)).append(mark)
        self.every.append(mark)

    def read(self, agencies: frozenset[str], pooled: bool) -> list[ShortlistFeedback]:
        if pooled:
            return list(self.every)
        return [m for a in sorted(agencies) for m in self.by_agency.get(a, ())]


def replay(
    history: list[Any],
    test: list[Any],
    *,
    share: float,
    not_relevant: int,
    pooled: bool,
    seed: int,
    limit: int | None,
    console: Console,
) -> dict[str, Any]:
    started = time.perf_counter()
    keys = {a.supplier_key for a in history}
    ids = supplier_ids(a.supplier_key for a in history)
    key_of_id = {v: k for k, v in ids.items()}
    profiles = build_profiles(history, ids)
    cases = sorted((a for a in test if a.supplier_key in keys), key=lambda a: a.signed)
    if limit is not None:
        cases = cases[:limit]
    config = ScoringConfig(top_k=10)
    draw = random.Random(seed)
    marks = Marks()
    without, with_marks = Metrics(10), Metrics(10)
    touched_without, touched_with = Metrics(10), Metrics(10)
    moved = marked = 0
    with _progress(console) as bar:
        task = bar.add_task("learning weights from history", total=None)
        model = fit_model(profiles, config=config, learn=True, max_training_notices=3000)
        bar.update(task, completed=1, total=1)
        index = InMemoryProfileIndex()
        for p in profiles:
            index.upsert(p)
        task = bar.add_task("replaying test awards", total=len(cases))
        for i, a in enumerate(cases):
            notice = build_notice(a, i)
            now = as_of(a.signed.date())
            candidates = index.candidates(build_candidate_query(notice, config))
            agencies = frozenset(notice_agencies(notice))
            seen = marks.read(agencies, pooled)
            similarity = {m.notice_id: notice_similarity(notice, marks.notices[m.notice_id]) for m in seen}
            adjustments = explained_adjustments(seen, notice.notice_id, agencies, similarity, pooled=pooled)
            base = [e.supplier_id for e in rank(notice, candidates, config, now, model=model).entries]
            fed = [
                e.supplier_id
                for e in rank(notice, candidates, config, now, model=model, adjustments=adjustments).entries
            ]
            winner = ids[a.supplier_key]
            without.add([key_of_id[s] for s in base], a.supplier_key)
            with_marks.add([key_of_id[s] for s in fed], a.supplier_key)
            if any(c.supplier_id in adjustments for c in candidates):
                touched_without.add([key_of_id[s] for s in base], a.supplier_key)
                touched_with.add([key_of_id[s] for s in fed], a.supplier_key)
            moved += base != fed
            if draw.random() < share:
                marked += 1
                agency = min(agencies)
                chosen = [(winner, FeedbackMark.RELEVANT)] if any(c.supplier_id == winner for c in candidates) else []
                chosen += [(s, FeedbackMark.NOT_RELEVANT) for s in fed if s != winner][:not_relevant]
                for supplier, kind in chosen:
                    marks.add(
                        notice,
                        ShortlistFeedback(
                            feedback_id=feedback_id(agency, notice.notice_id, supplier),
                            notice_id=notice.notice_id,
                            notice_version=1,
                            supplier_id=supplier,
                            agency=agency,
                            mark=kind,
                            marked_at=a.signed,
                        ),
                    )
            bar.advance(task)
    return {
        "n": len(cases),
        "share": share,
        "pooled": pooled,
        "seed": seed,
        "notices_marked": marked,
        "rankings_moved": moved,
        "without_feedback": without.result(len(keys)),
        "with_feedback": with_marks.result(len(keys)),
        "touched": {
            "n": touched_with.n,
            "without_feedback": touched_without.result(len(keys)),
            "with_feedback": touched_with.result(len(keys)),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def _table(result: dict[str, Any]) -> Table:
    t = Table(title=f"Buyers' marks (n={result['n']}, share {result['share']}, {result['seconds']} s)")
    for col in ("notices", "ranking", "n", "hr@10", "mrr@10"):
        t.add_column(col)
    rows = [("all", result), ("with a marked candidate", result["touched"])]
    for label, part in rows:
        for name in ("without_feedback", "with_feedback"):
            r = part[name]
            t.add_row(label, name.replace("_", " "), str(r["n"]), f"{r['hr@10']:.4f}", f"{r['mrr@10']:.4f}")
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.feedback", description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=Path, default=DEFAULT_FILE, help="award file (CSV, gzipped or not)")
    ap.add_argument("--split-date", type=date.fromisoformat, default=date(2024, 5, 1), help="history before it")
    ap.add_argument("--until", type=date.fromisoformat, default=date(2024, 6, 21), help="test awards before it")
    ap.add_argument("--share", type=float, default=0.3, help="share of notices the simulated buyer marks (0..1)")
    ap.add_argument("--not-relevant", type=int, default=3, help="top-ranked non-winners marked not relevant")
    ap.add_argument("--pooled", action="store_true", help="every agency's marks count (TB_MATCHER_FEEDBACK_POOLING)")
    ap.add_argument("--seed", type=int, default=15, help="seed of the draw of marked notices")
    ap.add_argument("--limit", type=int, help="replay only the first N test awards (quick checks)")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    if not args.history.exists():
        console.print(f"[red]no such award file: {args.history}[/red]")
        return 2
    if not 0.0 <= args.share <= 1.0:
        console.print(f"[red]--share must be between 0 and 1, got {args.share}[/red]")
        return 2
    if args.not_relevant < 0 or (args.limit is not None and args.limit < 1):
        console.print("[red]--not-relevant must be at least 0 and --limit at least 1[/red]")
        return 2
    history, test = split_by_date(list(read_awards(args.history)), args.split_date)
    test = [a for a in test if a.signed.date() < args.until]
    result = replay(
        history,
        test,
        share=args.share,
        not_relevant=args.not_relevant,
        pooled=args.pooled,
        seed=args.seed,
        limit=args.limit,
        console=console,
    )
    Console().print(_table(result))
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""OCDS releases per second for parse + normalize on one core, beside a naive baseline measured in the same run.

    python -m bench.ingest [--data ../shared/data] [--seconds 3] [--rounds 5]

The corpus is every release in ``<data>/ocds-samples`` (each serialized on its own, as a push or a JSON Lines
feed delivers it). Ingest's path, as ``python -m services.ingest parse --source ocds`` runs it: the release
decoded into the fields the mapper reads (``msgspec``; the rest is skipped unparsed) + nesting check of those +
mapping + normalization (codes, CPV check digits, instants, currencies, HTML) + ``TenderNotice`` validation +
content hash, with the service's default settings (language detection on; every sample release states its
language, so langdetect is never asked). Baseline: ``json.loads`` + full JSON Schema validation (``jsonschema``,
Draft 4 with format checks) of a compact OCDS release schema (``release-schema.json`` beside this file) and nothing
else. Both are measured in CPU time of this process, pinned to one core, in alternating rounds (baseline, ingest,
baseline, ...) so that a slow spell of a shared machine falls on both; each figure is the median of the rounds,
with their range. The load average is printed beside them, as other processes on a shared machine slow a core down
(caches, hyper-threads) even in CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema
import orjson

from services.ingest.bootstrap import base_context
from services.ingest.domain import ocds
from services.ingest.settings import Settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def corpus(data: Path) -> list[bytes]:
    releases: list[bytes] = []
    for path in sorted((data / "ocds-samples").rglob("*.json")):
        try:
            doc, _ = ocds.decode(path.read_bytes())
        except ValueError:
            continue
        for release, _, _ in ocds.releases_of(doc, []):
            if release is not None:
                releases.append(orjson.dumps(release))
    return releases


def rate(run_once: Callable[[], int], seconds: float) -> float:
    """Releases per second of CPU time of this process: on a shared machine, time spent waiting for the core
    would otherwise count against whichever contender ran while a neighbour was busy."""
    done, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        done += run_once()
    return done / elapsed


def rounds(contenders: list[Callable[[], int]], seconds: float, n: int) -> list[list[float]]:
    """Each contender's rate in ``n`` alternating rounds of ``seconds / n`` (after one warm-up run each: imports,
    caches, compiled validators)."""
    for run_once in contenders:
        run_once()
    rates: list[list[float]] = [[] for _ in contenders]
    for _ in range(n):
        for run_once, found in zip(contenders, rates, strict=True):
            found.append(rate(run_once, seconds / n))
    return rates


def shown(rates: list[float]) -> str:
    return f"{statistics.median(rates):10,.0f} releases/s  (rounds {min(rates):,.0f}-{max(rates):,.0f})"


def calibration() -> float:
    """Microseconds for ``sum(range(1000))`` (about 8-10 us on a 2023 laptop core with CPython 3.11)."""
    start = time.process_time()
    for _ in range(2000):
        sum(range(1000))
    return (time.process_time() - start) / 2000 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per contender")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds the measuring time is split into")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    releases = corpus(args.data)
    if not releases:
        raise SystemExit(f"no OCDS releases under {args.data / 'ocds-samples'}")
    ctx = base_context(Settings())  # what ``parse --source ocds`` gets (TB_* environment, service defaults)
    schema = json.loads((HERE / "release-schema.json").read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)

    def ours(batch: list[bytes]) -> Callable[[], int]:
        def run() -> int:
            for data in batch:
                for _ in ocds.parse(data, ctx):
                    pass
            return len(batch)

        return run

    def baseline(batch: list[bytes]) -> Callable[[], int]:
        def run() -> int:
            for data in batch:
                for _ in validator.iter_errors(json.loads(data)):
                    pass
            return len(batch)

        return run

    # Paraguay's releases carry up to 154 items (90 KiB); most notices carry a few. Both are shown.
    small = [r for r in releases if len(_items(r)) <= 10]
    print(
        f"one core, {args.seconds:.0f} s of CPU time per contender in {args.rounds} alternating rounds (medians "
        "shown); targets: >= 10,000 releases/s, >= 3x baseline"
    )
    print(f"machine: sum(range(1000)) takes {calibration():.1f} us here (about 8-10 us on a 2023 laptop core)")
    if hasattr(os, "getloadavg"):
        print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    detection = "on" if ctx.detect_language else "off"
    print(f"language detection {detection}, official CPV list: {len(ctx.cpv_check_digits)} codes")
    for label, batch in (("all releases", releases), ("releases with <= 10 items", small)):
        size = sum(len(r) for r in batch) / len(batch)
        base, mine = rounds([baseline(batch), ours(batch)], args.seconds, args.rounds)
        print(f"{label}: {len(batch)} real OCDS releases, mean {size / 1024:.1f} KiB")
        print(f"  baseline  json + jsonschema (Draft 4, formats): {shown(base)}")
        ratio = statistics.median(mine) / statistics.median(base)
        print(f"  ingest    parse + normalize + validate + hash:  {shown(mine)}   ({ratio:.1f}x)")


def _items(release: bytes) -> list[object]:
    tender = orjson.loads(release).get("tender")
    items = tender.get("items") if isinstance(tender, dict) else None
    return items if isinstance(items, list) else []


if __name__ == "__main__":
    main()

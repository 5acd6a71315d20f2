"""Soak: the whole pipeline (``make demo``'s harness) at scale, with the same counted JSON summary.

    python -m bench.soak                                  # 10,000 notices, 5,000 suppliers
    python -m bench.soak --notices 2000 --suppliers 1000  # smaller
    python -m bench.soak --baseline-fraction 0        # skip the baseline run

Before the full run it runs the same pipeline at a fraction of the size (``--baseline-fraction``, 0.1 by default)
as the baseline measured in the same run, and prints notices/s and emails/s for both: a pipeline that keeps its
rate as the stream grows ten times does not degrade under load. The last line is the full run's JSON summary
``{"notices": N, "dead_lettered": N, "shortlists": N, "emails": N, "duplicate_emails": N, "lost": N, "seconds": S}``;
the exit status is 0 only when nothing was lost or duplicated in either run.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from localrun.demo import SHARED_DATA, Summary, run_pipeline
from localrun.pipeline import exit_on_sigterm


def rates(summary: Summary | None) -> str:
    if summary is None or summary.seconds <= 0:
        return "no summary"
    return (
        f"{summary.shortlists / summary.seconds:7.1f} notices/s  {summary.emails / summary.seconds:7.1f} emails/s  "
        f"({summary.shortlists} shortlists, {summary.emails} emails in {summary.seconds:.0f}s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=10_000, help="demo notices to publish (10,000)")
    parser.add_argument("--suppliers", type=int, default=5_000, help="demo suppliers to import (5,000)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds the full run may take")
    parser.add_argument(
        "--baseline-fraction", type=float, default=0.1, help="size of the baseline run relative to the full one"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DATA,
        help="reference data directory (../shared/data); its ocds-samples are added with --with-ocds",
    )
    parser.add_argument("--with-ocds", action="store_true", help="also publish <data>/ocds-samples")
    parser.add_argument("--work-dir", type=Path, default=Path(".data/soak"), help="Maildir, data and logs")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)  # a stopped soak stops the services and servers it started
    ocds = args.data / "ocds-samples" if args.with_ocds else None

    baseline: Summary | None = None
    status = 0
    if args.baseline_fraction > 0:
        print(f"== baseline: {args.baseline_fraction:g} of the size", flush=True)
        status, baseline = run_pipeline(
            max(1, int(args.suppliers * args.baseline_fraction)),
            max(1, int(args.notices * args.baseline_fraction)),
            args.timeout * args.baseline_fraction + 120,
            ocds,
            args.work_dir / "baseline",
            "soak-baseline",
        )
    print(f"== soak: {args.notices} notices, {args.suppliers} suppliers", flush=True)
    full_status, full = run_pipeline(args.suppliers, args.notices, args.timeout, ocds, args.work_dir / "full", "soak")
    print()
    print(f"baseline  {rates(baseline)}")
    print(f"soak      {rates(full)}")
    if full is not None:
        print(full.json_line(), flush=True)
    return status or full_status


if __name__ == "__main__":
    sys.exit(main())

"""The matcher process runs numpy's BLAS on one thread (``worker.one_native_thread``, called where
``python -m services.matcher`` starts): a notice's small products spread over every core cost twice the CPU for
no gain in latency."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

# The real entry point, asked for its help; at exit, the thread count of every native pool it loaded.
_PROBE = """
import atexit, json, runpy, sys
import threadpoolctl
atexit.register(lambda: print("POOLS", json.dumps([p["num_threads"] for p in threadpoolctl.threadpool_info()])))
sys.argv = ["python -m services.matcher", "--help"]
runpy.run_module("services.matcher", run_name="__main__")
"""


def test_the_matcher_process_starts_with_one_blas_thread() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=False)
    pools = [line for line in out.stdout.splitlines() if line.startswith("POOLS")]
    assert pools, out.stderr
    counts = json.loads(pools[-1].removeprefix("POOLS "))
    assert counts  # numpy's BLAS is loaded by then
    assert set(counts) == {1}


def test_without_the_limit_the_same_pools_use_more_threads_on_this_machine() -> None:
    """The check above can fail: here, without the call, BLAS takes every core (skipped on a one-core machine)."""
    probe = "import json, numpy, threadpoolctl as t; print(json.dumps([p['num_threads'] for p in t.threadpool_info()]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    counts = json.loads(out.stdout)
    if max(counts, default=1) <= 1:
        pytest.skip("one core: BLAS uses one thread anyway")
    assert max(counts) > 1

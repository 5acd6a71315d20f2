"""``python -m localrun run|demo``: ``make run`` and ``make demo``."""

from __future__ import annotations

import signal
import sys

from localrun.pipeline import exit_on_sigterm
from localrun.run import EXIT_INTERRUPTED, run


def demo() -> int:
    from localrun.demo import run_demo

    signal.signal(signal.SIGTERM, exit_on_sigterm)
    return run_demo()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    if command not in ("run", "demo"):
        print("usage: python -m localrun run|demo", file=sys.stderr)
        return 2
    try:
        return run() if command == "run" else demo()
    except RuntimeError as exc:
        print(f"tenderbridge {command} failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before anything was started (``run`` says "stopped." once it has started)
        print("\nstopped (nothing had been started).", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

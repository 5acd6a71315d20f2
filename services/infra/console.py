"""Rich consoles for command output that a script or a pipe reads as well as a person."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

#: Width of the output when it is not a terminal (a pipe, a file, cron): wide enough that a table keeps its cells
#: whole (rich would otherwise lay it out for 80 columns and cut the cells with "…").
PIPE_WIDTH = 10_000


def output_console(**options: Any) -> Console:
    """A ``Console`` for stdout (or stderr with ``stderr=True``): the terminal's width on a terminal; elsewhere no
    width limit, unless ``COLUMNS`` asks for one, so that ``keys list | cat`` or ``make dlq > file`` print every
    cell in full."""
    console = Console(**options)
    if "width" not in options and not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console.width = PIPE_WIDTH
    return console

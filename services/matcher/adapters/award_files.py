"""Award record files for ``import-awards``: JSON Lines of ``contracts.award.AwardRecord``, read as they are or as
``python -m services.ingest parse`` prints them.

Services never import each other (they talk over Kafka and HTTP), so the matcher does not read OCDS, eForms or
CSV itself: it runs ingest's ``parse`` command, the one reader of those formats, as a child process and reads the
JSON Lines it prints. ``parse`` prints notices too (an OCDS release carries its tender and its awards): a line is an
award record when it has an ``award_id``; the others are counted and left out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from contracts.award import AwardRecord
from services.matcher.exceptions import AwardFileError

#: The formats ``python -m services.ingest parse --source`` reads award records from.
INGEST_SOURCES = ("ocds", "eforms", "csv")


@dataclass(frozen=True)
class BadLine:
    """A line that is not an award record, with why (``invalid_json``, ``invalid_award``)."""

    line: int
    reason: str
    detail: str


@dataclass
class LineCounts:
    """What the lines held besides award records: notices left out."""

    notices: int = 0


def read_award_lines(lines: Iterable[str], counts: LineCounts | None = None) -> Iterator[AwardRecord | BadLine]:
    """Award records from JSON Lines, in order; a line that is not JSON, or an award record that does not validate,
    is a ``BadLine``; a notice (a line without ``award_id``) is counted in ``counts`` and left out."""
    counts = counts if counts is not None else LineCounts()
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield BadLine(n, "invalid_json", str(exc))
            continue
        if isinstance(data, dict) and "award_id" not in data and "notice_id" in data:
            counts.notices += 1
            continue
        try:
            yield AwardRecord.model_validate(data)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors()[:3])
            yield BadLine(n, "invalid_award", detail)


def ingest_parse_command(path: Path, source: str, mapping: Path | None = None) -> list[str]:
    """The command line of ingest's ``parse`` for ``path`` (this interpreter, so the same installation)."""
    if source not in INGEST_SOURCES:
        raise ValueError(f"--source must be one of {', '.join(INGEST_SOURCES)} or jsonl, got {source!r}")
    command = [sys.executable, "-m", "services.ingest", "parse", str(path), "--source", source]
    if mapping is not None:
        command += ["--mapping", str(mapping)]
    return command


def lines_of_ingest_parse(path: Path, source: str, mapping: Path | None = None) -> Iterator[str]:
    """The JSON Lines ingest's ``parse`` prints for ``path``, as they come; its rejections and summary (stderr) go
    to this process's stderr. ``AwardFileError`` when it ends with another status than 0 (a bad mapping, a missing
    file), after the lines it printed."""
    command = ingest_parse_command(path, source, mapping)
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, encoding="utf-8") as child:
        yield from child.stdout or ()
        status = child.wait()
    if status != 0:
        raise AwardFileError(f"`{' '.join(command[1:])}` ended with status {status} (its messages are above)")

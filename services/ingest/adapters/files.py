"""Reading sources from the file system: a file, or every file under a directory (sorted, recursive)."""

from __future__ import annotations

import csv
from pathlib import Path

from services.ingest.exceptions import SourceConfigError


def files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    raise SourceConfigError(f"{path} is neither a file nor a directory")


def load_cpv_check_digits(path: Path | None) -> dict[str, str]:
    """Official CPV check digits from a ``code,parent,title`` list (``03000000-1``); empty when no path is set."""
    if path is None:
        return {}
    if not path.exists():
        raise SourceConfigError(f"CPV list {path} does not exist")
    out: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            code = (row.get("code") or "").strip()
            if len(code) == 10 and code[8] == "-":
                out[code[:8]] = code[9]
    return out


def load_mapping_file(path: Path) -> object:
    """A YAML or JSON mapping / configuration file as plain data."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SourceConfigError(f"cannot read {path}: {exc}") from exc

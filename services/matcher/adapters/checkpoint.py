"""``Checkpoints`` in a JSON file: a backfill's progress beside the operator's data, on the machine that runs it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class FileCheckpoints:
    """The state in one JSON file, replaced whole at each save (written aside, then renamed over the old one: a
    kill mid-save leaves the previous state, never half of one)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        state = json.loads(text)
        if not isinstance(state, dict):
            raise ValueError(f"{self.path} holds no checkpoint (a JSON object was expected)")
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        aside = self.path.with_name(self.path.name + ".tmp")
        aside.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(aside, self.path)

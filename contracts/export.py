"""Write (or check) the JSON Schemas of every contract model.

``python -m contracts.export`` rewrites ``contracts/schemas/``; ``--check`` exits 1 and names the files that
differ from the models (schema drift).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from contracts.registry import SCHEMAS, schema_version

SCHEMA_DIR = Path(__file__).parent / "schemas"


def render() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, model in SCHEMAS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://tenderbridge.dev/schemas/{name}.v{schema_version(model)}.json"
        out[f"{name}.v{schema_version(model)}.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return out


def drift() -> list[str]:
    """File names whose content on disk differs from the models."""
    wanted = render()
    return [
        name
        for name, text in wanted.items()
        if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text(encoding="utf-8") != text
    ]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        bad = drift()
        for name in bad:
            print(f"schema drift: contracts/schemas/{name} (run: python -m contracts.export)", file=sys.stderr)
        return 1 if bad else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in render().items():
        (SCHEMA_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote contracts/schemas/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

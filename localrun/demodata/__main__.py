"""``python -m localrun.demodata write --out DIR --suppliers N --notices N [--seed S] [--now ISO-8601]``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel

from localrun.demodata.data import generate_notices, generate_suppliers, showcase_suppliers

app = typer.Typer(help="Seeded demo data: supplier profiles and tender notices as JSON Lines.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Seeded demo data for tenderbridge."""


def _write_jsonl(path: Path, models: Iterable[BaseModel]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for model in models:
            out.write(model.model_dump_json())
            out.write("\n")
            count += 1
    return count


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise typer.BadParameter(f"give a time zone offset (e.g. {value}+00:00), got {value!r}")
    return parsed.astimezone(UTC)


@app.command()
def write(
    out: Annotated[Path, typer.Option(help="Directory to write suppliers.jsonl and notices.jsonl into.")],
    suppliers: Annotated[int, typer.Option(min=0, help="Number of supplier profiles.")] = 300,
    notices: Annotated[int, typer.Option(min=0, help="Number of tender notices.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
    now: Annotated[
        str | None,
        typer.Option(help="Reference instant for published dates and deadlines (ISO 8601 with offset); default now."),
    ] = None,
    showcase: Annotated[
        bool,
        typer.Option(help="Also write the hand-written suppliers (a Chinese-only glove maker without codes)."),
    ] = True,
) -> None:
    """Write ``suppliers.jsonl`` and ``notices.jsonl`` (one contract model JSON per line) into OUT."""
    reference = _parse_now(now)
    out.mkdir(parents=True, exist_ok=True)
    profiles = generate_suppliers(suppliers, seed=seed) + (showcase_suppliers() if showcase else [])
    n_suppliers = _write_jsonl(out / "suppliers.jsonl", profiles)
    n_notices = _write_jsonl(out / "notices.jsonl", generate_notices(notices, seed=seed, now=reference))
    typer.echo(
        f"wrote {n_suppliers} suppliers to {out / 'suppliers.jsonl'} and {n_notices} notices to {out / 'notices.jsonl'}"
    )


if __name__ == "__main__":
    app()

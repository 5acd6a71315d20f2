"""What the services set aside: the dead-letter topics, read back for an operator.

    python -m services.infra.dlq                      # counts by topic, service, reason (every dead-letter topic)
    python -m services.infra.dlq show [--reason R] [--topic T] [--since 2026-11-01] [--limit 20] [--json]

Each ingest rejection, unreadable shortlist and parked email is a ``DeadLetter`` (reason, detail, key and the raw
payload) on ``tenders.notices.dlq``, ``matches.shortlists.dlq`` or ``notifications.dlq`` (names from the ``TB_TOPIC_*``
settings). This reads them from the beginning up to the end offsets seen at start, without a consumer group (nothing
is committed, nothing consumed for anyone else). ``show --json`` writes one JSON object per letter, payload whole,
for a script that fixes and re-submits them. A record that is not a ``DeadLetter`` is shown as unreadable, never
skipped.

A letter must fit in a Kafka message itself: ``services.infra.limits.cut_payload`` cuts a long payload by bytes
(UTF-8, never inside a character) and ends it with a ``CUT_MARKER`` line that says how many bytes were left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contracts import DeadLetter
from services.infra.bus import records_to_end
from services.infra.console import output_console
from services.infra.settings import CommonSettings, load_settings

UNREADABLE = "(unreadable)"


@dataclass(frozen=True)
class Letter:
    """One record of a dead-letter topic: the ``DeadLetter`` it holds, or why it could not be read as one."""

    topic: str
    partition: int
    offset: int
    key: str | None
    letter: DeadLetter | None
    raw: str = ""
    problem: str = ""

    @property
    def reason(self) -> str:
        return self.letter.reason if self.letter is not None else UNREADABLE

    @property
    def service(self) -> str:
        return self.letter.service if self.letter is not None else "?"

    def as_json(self) -> dict[str, Any]:
        where = {"topic": self.topic, "partition": self.partition, "offset": self.offset, "key": self.key}
        if self.letter is None:
            return {**where, "reason": UNREADABLE, "problem": self.problem, "raw": self.raw}
        return {**where, **self.letter.model_dump(mode="json")}


def parse_record(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Letter:
    text_key = key.decode("utf-8", "replace") if key is not None else None
    raw = (value or b"").decode("utf-8", "replace")
    try:
        return Letter(topic, partition, offset, text_key, DeadLetter.model_validate_json(value or b""))
    except ValidationError as exc:
        first = exc.errors()[0]
        problem = f"{'.'.join(str(p) for p in first['loc']) or 'record'}: {first['msg']}"
        return Letter(topic, partition, offset, text_key, None, raw=raw, problem=problem)


def selected(
    letters: Iterable[Letter], reason: str | None = None, since: datetime | None = None, service: str | None = None
) -> list[Letter]:
    """The letters that match every filter given (an unreadable record has no time: ``since`` keeps it)."""
    out = []
    for x in letters:
        if reason is not None and x.reason != reason:
            continue
        if service is not None and x.service != service:
            continue
        if since is not None and x.letter is not None and x.letter.occurred_at < since:
            continue
        out.append(x)
    return out


def summary(letters: Iterable[Letter]) -> list[tuple[str, str, str, int, str]]:
    """(topic, service, reason, count, latest occurrence) rows, the most frequent first."""
    counts: Counter[tuple[str, str, str]] = Counter()
    latest: dict[tuple[str, str, str], str] = {}
    for x in letters:
        group = (x.topic, x.service, x.reason)
        counts[group] += 1
        if x.letter is not None:
            latest[group] = max(latest.get(group, ""), x.letter.occurred_at.isoformat(timespec="seconds"))
    return [(*group, n, latest.get(group, "")) for group, n in counts.most_common()]


def read_to_end(bootstrap_servers: str, topics: list[str], timeout_s: float = 30.0) -> Iterator[Letter]:
    """Every record of ``topics`` up to (at least) the end offsets observed at start (topics that do not exist are
    skipped)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        allow_auto_create_topics=False,
    )
    try:
        known = consumer.topics()
        parts = [
            TopicPartition(t, p) for t in topics if t in known for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if not parts:
            return
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        for r in records_to_end(consumer, parts, timeout_s, ", ".join(topics)):
            yield parse_record(r.topic, r.partition, r.offset, r.key, r.value)
    finally:
        consumer.close()


def dlq_topics(settings: CommonSettings) -> list[str]:
    return [
        settings.topic_notices_dlq,
        settings.topic_shortlists_dlq,
        settings.topic_notifications_dlq,
        settings.topic_awards_dlq,
        settings.topic_feedback_dlq,
    ]


app = typer.Typer(add_completion=False, help="Read the dead-letter topics: what was set aside, and why.")
err = Console(stderr=True)

TopicOption = Annotated[
    list[str] | None, typer.Option("--topic", help="a topic to read (repeatable); default: every dead-letter topic")
]


def _load(topics: list[str] | None) -> list[Letter]:
    settings = load_settings(CommonSettings)
    return list(read_to_end(settings.kafka_bootstrap_servers, topics or dlq_topics(settings)))


@app.callback(invoke_without_command=True)
def counts(ctx: typer.Context, topic: TopicOption = None) -> None:
    """Counts by topic, service and reason, with the latest occurrence (the default command)."""
    if ctx.invoked_subcommand is not None:
        return
    letters = _load(topic)
    if not letters:
        err.print("no dead letters")
        return
    table = Table("topic", "service", "reason", "count", "latest (UTC)")
    for row_topic, service, reason, n, latest in summary(letters):
        table.add_row(row_topic, service, reason, str(n), latest)
    output_console().print(table)
    err.print(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'}")


@app.command()
def show(
    topic: TopicOption = None,
    reason: Annotated[str | None, typer.Option(help="only this reason (as in the counts)")] = None,
    service: Annotated[str | None, typer.Option(help="only letters from this service")] = None,
    since: Annotated[str | None, typer.Option(help="only letters from this date or instant on (ISO 8601, UTC)")] = None,
    limit: Annotated[int, typer.Option(min=0, help="at most this many, the latest first (0: all)")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, payload whole")] = False,
) -> None:
    """The letters themselves, latest first: reason, detail, key and (shortened) payload."""
    try:
        start = _instant(since) if since else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from exc
    chosen = selected(_load(topic), reason=reason, since=start, service=service)
    chosen.sort(key=lambda x: x.letter.occurred_at if x.letter is not None else datetime.max.replace(tzinfo=UTC))
    chosen.reverse()
    if limit:
        chosen = chosen[:limit]
    out = output_console(highlight=False, soft_wrap=True)
    for x in chosen:
        if as_json:
            print(orjson.dumps(x.as_json()).decode())
            continue
        out.print(heading(x))
        if x.letter is None:
            out.print(f"  {_short(x.raw)}", markup=False)
            continue
        out.print(f"  {x.letter.detail}", markup=False)
        out.print(f"  {_short(x.letter.payload)}", markup=False)
    if not as_json:
        err.print(f"{len(chosen)} shown")


def heading(x: Letter) -> str:
    """The first line ``show`` prints for a letter (rich markup, values escaped). Its ``key`` is the one ``--json``
    gives: the letter's own (the record's id, when one could be read), left out when there is none; the Kafka record
    key, which falls back to the origin for partitioning, only for a record that is not a letter."""
    if x.letter is None:
        return f"[bold]{escape(x.topic)}[/bold] #{x.offset} key={escape(str(x.key))} [red]{UNREADABLE}[/red] " + escape(
            x.problem
        )
    d = x.letter
    key = f" key={escape(d.key)}" if d.key is not None else ""
    return (
        f"[bold]{escape(x.topic)}[/bold] #{x.offset} {d.occurred_at.isoformat(timespec='seconds')} "
        f"{escape(d.service)} [red]{escape(d.reason)}[/red]{key} origin={escape(d.origin)} attempts={d.attempts}"
    )


def _instant(text: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or instant (UTC when it has no zone)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or instant: {text!r}") from None
    if len(text) <= 10:
        value = datetime.combine(date.fromisoformat(text), datetime.min.time())
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _short(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[:limit]}... ({len(text)} characters)"


if __name__ == "__main__":
    app()

"""``python -m services.ingest``: parse (no Kafka), publish (one shot), run (pollers + push endpoint)."""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from kafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from contracts import AwardRecord
from services.infra.exceptions import PublishError, TransientPublishError
from services.infra.http import listening_socket_or_exit
from services.infra.logs import setup_logging
from services.infra.net import any_port_open
from services.infra.settings import load_settings
from services.ingest.adapters.files import files_under, load_mapping_file
from services.ingest.bootstrap import base_context, bootstrap
from services.ingest.domain.csvmap import CsvMapping
from services.ingest.domain.model import Context, Record, Rejection
from services.ingest.domain.sources import context_for, parse_bytes
from services.ingest.exceptions import IngestError, SourceConfigError
from services.ingest.service import Stats
from services.ingest.settings import Settings

log = logging.getLogger(__name__)
app = typer.Typer(help="Ingest public procurement notices into Kafka.", no_args_is_help=True)
err = Console(stderr=True)


class Kind(StrEnum):
    ocds = "ocds"
    ted = "ted"
    eforms = "eforms"
    ungm = "ungm"
    csv = "csv"
    jsonl = "jsonl"


PathArg = Annotated[Path, typer.Argument(exists=True, help="A file or a directory (read recursively).")]
SourceOpt = Annotated[Kind, typer.Option("--source", "-s", help="Record format of the files.")]
MappingOpt = Annotated[Path | None, typer.Option("--mapping", help="CSV column mapping (YAML or JSON).")]
NameOpt = Annotated[
    str | None,
    typer.Option("--name", help="notice.source for these files (default: ocds-<ocid prefix>, ted, ungm, csv-<name>)."),
]
_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def _context(
    kind: Kind, mapping: Path | None, settings: Settings, name: str | None = None
) -> tuple[Context, CsvMapping | None]:
    if name is not None and not _SOURCE_NAME.match(name):
        raise SourceConfigError(f"--name {name!r} must match {_SOURCE_NAME.pattern}")
    csv_mapping = CsvMapping.from_dict(load_mapping_file(mapping)) if mapping is not None else None
    ctx = context_for(kind.value, csv_mapping)
    base = base_context(settings)
    return Context(name or ctx.source, base.cpv_check_digits, base.detect_language), csv_mapping


def _progress(total: int) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=total < 20 or not err.is_terminal,
        transient=True,
    )


@app.command()
def parse(path: PathArg, source: SourceOpt, mapping: MappingOpt = None, name: NameOpt = None) -> None:
    """Print normalized notices and award records as JSON Lines on stdout; on stderr a line per rejected record
    (file, record id, reason, detail) and a summary line last. Needs no Kafka."""
    settings = load_settings(Settings)
    setup_logging(settings.log_level, settings.log_json)
    try:
        ctx, csv_mapping = _context(source, mapping, settings, name)
        files = files_under(path)
    except IngestError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    notices = 0
    warned = 0
    awards = 0
    awards_warned = 0
    sources: Counter[str] = Counter()
    award_sources: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    out = sys.stdout
    with _progress(len(files)) as progress:
        task = progress.add_task("parsing", total=len(files))
        for file in files:
            for outcome in parse_bytes(source.value, file.read_bytes(), ctx, csv_mapping, str(file)):
                if isinstance(outcome, Rejection):
                    reasons[outcome.reason] += 1
                    _print_rejection(file, outcome)
                elif isinstance(outcome, AwardRecord):
                    awards += 1
                    award_sources[outcome.source] += 1
                    awards_warned += bool(outcome.warnings)
                    out.write(outcome.model_dump_json(exclude_none=True) + "\n")
                else:
                    notices += 1
                    sources[outcome.source] += 1
                    warned += bool(outcome.warnings)
                    out.write(outcome.model_dump_json(exclude_none=True) + "\n")
            progress.advance(task)
    rejected = sum(reasons.values())
    by_reason = ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "none"
    by_source = ", ".join(f"{k} {v}" for k, v in sources.most_common()) or "none"
    award_part = ""
    if awards:
        by_award_source = ", ".join(f"{k} {v}" for k, v in award_sources.most_common())
        award_part = f"{awards} award records ({by_award_source}; {awards_warned} with warnings), "
    err.print(
        f"{len(files)} files: {notices} notices ({by_source}; {warned} with warnings), {award_part}"
        f"{rejected} rejections ({by_reason})",
        highlight=False,
        soft_wrap=True,
    )


def rejection_line(file: Path, rejection: Rejection, limit: int = 200) -> str:
    """One stderr line per rejected record, for finding it: ``rejected <file> [<record id>]: <reason>: <detail>``
    (the detail names the line of a JSON Lines file), shortened to one line."""
    detail = " ".join(rejection.detail.split())
    if len(detail) > limit:
        detail = f"{detail[:limit]}..."
    key = f" [{rejection.key}]" if rejection.key else ""
    return f"rejected {file}{key}: {rejection.reason}: {detail}"


def _print_rejection(file: Path, rejection: Rejection) -> None:
    err.print(rejection_line(file, rejection), markup=False, highlight=False, soft_wrap=True)


def _reported(outcomes: Iterable[Record], file: Path) -> Iterator[Record]:
    """``outcomes`` as they are, each rejection said on stderr as it passes (``rejection_line``)."""
    for outcome in outcomes:
        if isinstance(outcome, Rejection):
            _print_rejection(file, outcome)
        yield outcome


@app.command()
def publish(path: PathArg, source: SourceOpt, mapping: MappingOpt = None, name: NameOpt = None) -> None:
    """Publish the notices of PATH to Kafka once (rejections to the dead-letter topic, each also said on stderr as
    ``parse`` says it); a re-run publishes only what changed since."""
    settings = load_settings(Settings)
    setup_logging(settings.log_level, settings.log_json)
    stop = threading.Event()
    # Both signals let the batch in hand finish: flushed to Kafka and recorded in the state, nothing half-done.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        ctx, csv_mapping = _context(source, mapping, settings, name)
        files = files_under(path)
        container = bootstrap(settings)
    except IngestError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except KafkaError as exc:
        err.print(f"[red]error:[/red] Kafka at {settings.kafka_bootstrap_servers} does not answer ({exc})")
        raise typer.Exit(3) from exc
    total = Stats()
    try:
        with _progress(len(files)) as progress:
            task = progress.add_task("publishing", total=len(files))
            for file in files:
                if stop.is_set():
                    total.stopped = True
                    break
                outcomes = parse_bytes(source.value, file.read_bytes(), ctx, csv_mapping, str(file))
                stats, _ = container.ingestor.ingest(_reported(outcomes, file), str(file), should_stop=stop.is_set)
                for refusal in stats.refused:
                    _print_rejection(file, refusal)
                total.add(stats)
                progress.advance(task)
    except PublishError as exc:
        # What was flushed before is committed; the batch in hand is not, so a re-run publishes it again. Kafka
        # away: exit 3, as when it does not answer at start; a dead letter Kafka refuses (an operator's matter,
        # logged at ERROR): exit 1.
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        err.print(total.summary(), highlight=False, soft_wrap=True)
        raise typer.Exit(3 if isinstance(exc, TransientPublishError) else 1) from exc
    finally:
        container.close()
    err.print(("stopped early; " if total.stopped else "") + total.summary(), highlight=False, soft_wrap=True)
    if total.stopped:
        raise typer.Exit(130)


@app.command()
def run() -> None:
    """Run the configured pollers (TB_INGEST_SOURCES_FILE) and the HTTP push endpoint until SIGTERM / Ctrl-C."""
    import uvicorn

    from services.ingest.entrypoints.http import create_app
    from services.ingest.entrypoints.worker import PollerThreads

    settings = load_settings(Settings)
    setup_logging(settings.log_level, settings.log_json)
    # The port first: taken, it ends the command before any poller or Kafka client starts, with its own exit status.
    sock = listening_socket_or_exit(settings.ingest_http_host, settings.ingest_http_port, "TB_INGEST_HTTP_PORT")
    try:
        container = bootstrap(settings, with_pollers=True)
    except IngestError as exc:
        sock.close()
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except KafkaError as exc:
        sock.close()
        err.print(f"[red]error:[/red] Kafka at {settings.kafka_bootstrap_servers} does not answer ({exc})")
        raise typer.Exit(3) from exc
    if not settings.api_keys():
        log.warning("TB_INGEST_API_KEYS is empty: POST /notices refuses every request")
    threads = PollerThreads(container.pollers, settings.ingest_default_interval_s)

    def ready() -> dict[str, bool]:
        state = container.ingestor.state
        ping = getattr(state, "ping", None)
        return {
            "state": bool(ping()) if ping else True,
            "kafka": any_port_open(settings.kafka_bootstrap_servers),
            "pollers": threads.alive(),
        }

    http_app = create_app(container.ingestor, settings.api_keys(), container.base_context, ready)

    class Server(uvicorn.Server):
        """Leaves SIGTERM / SIGINT to us: uvicorn would re-raise them after its shutdown and skip the cleanup."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    server = Server(
        uvicorn.Config(http_app, host=settings.ingest_http_host, port=settings.ingest_http_port, log_config=None)
    )

    def stop(signum: int, frame: object) -> None:
        log.info("signal %s: stopping", signum)
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threads.start()
    try:
        server.run(sockets=[sock])  # returns once ``should_exit`` is set and open requests are answered
    finally:
        threads.stop()  # pollers finish their batch: flushed and checkpointed, nothing half-done
        container.close()
        log.info("ingest stopped")

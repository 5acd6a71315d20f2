"""``python -m services.matcher --help``: run the matcher, import suppliers and award records, create, list and
revoke API keys (``keys``), explain and split the merges of award records (``awards``), re-rank a period's notices
(``backfill``), reindex, match offline, suggest codes for text (``suggest-codes``), and look up the CPV <-> UNSPSC
crosswalk."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from contracts import SupplierProfile, TenderNotice
from contracts.api import ImportRejection
from contracts.award import AwardRecord
from contracts.common import CodeScheme
from services.infra.console import output_console
from services.infra.http import listening_socket_or_exit
from services.infra.logs import setup_logging
from services.infra.settings import load_settings
from services.matcher.exceptions import StoreUnavailable
from services.matcher.imports import parse_file_text, short_error
from services.matcher.settings import Settings

if TYPE_CHECKING:
    from services.matcher.awards import AwardImportReport
    from services.matcher.bootstrap import Container
    from services.matcher.ports import KeyStore
    from services.matcher.service import Matcher

app = typer.Typer(help="tenderbridge matcher: supplier profiles, notice matching, the buyer API.", no_args_is_help=True)
#: Messages for people; in a pipe or a log file one line each, however long (a rejection names every field).
err = output_console(stderr=True)
log = logging.getLogger("services.matcher")


class KeyRole(StrEnum):
    buyer = "buyer"
    supplier = "supplier"
    admin = "admin"


class FileFormat(StrEnum):
    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"


def _settings() -> Settings:
    settings = load_settings(Settings)
    setup_logging(settings.log_level, settings.log_json)
    return settings


@app.command()
def run() -> None:
    """Foreground: the Kafka notice worker, the awards worker (award records -> supplier profiles and prospects),
    the feedback worker (suppliers' own "not relevant for me" -> ranking) and the HTTP API. Ctrl-C / SIGTERM stops
    cleanly."""
    import uvicorn

    from services.matcher.bootstrap import bootstrap
    from services.matcher.entrypoints.awards_worker import AwardsWorker
    from services.matcher.entrypoints.feedback_worker import FeedbackWorker
    from services.matcher.entrypoints.http import create_app
    from services.matcher.entrypoints.worker import NoticeWorker, QuietCollector

    settings = _settings()
    # The port first: taken, it ends the command before the worker or any client starts, with its own exit status.
    sock = listening_socket_or_exit(settings.matcher_http_host, settings.matcher_http_port, "TB_MATCHER_HTTP_PORT")
    container = bootstrap(settings, create_indexes=False)
    try:
        if not _wait_for_indexes(container):
            return
        try:
            container.matcher.refit()
        except StoreUnavailable as exc:
            log.warning("no scoring model yet (Elasticsearch unavailable): %s", exc)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(container),
                host=settings.matcher_http_host,
                port=settings.matcher_http_port,
                log_config=None,
                lifespan="off",
            )
        )
        stop = threading.Event()
        crashed: list[BaseException] = []

        def work(name: str, body: Callable[[], None]) -> None:
            try:
                body()
            except BaseException as exc:
                log.exception("%s crashed; stopping (uncommitted messages are delivered again)", name)
                crashed.append(exc)
                server.should_exit = True

        workers: list[threading.Thread] = []
        if settings.matcher_worker_enabled:
            notices = NoticeWorker(container.matcher, settings, stop, collector=QuietCollector())
            workers.append(threading.Thread(target=work, args=("notice worker", notices.run), name="notice-worker"))
        if settings.matcher_awards_worker_enabled:
            awards = AwardsWorker(container.matcher, settings, stop)
            workers.append(threading.Thread(target=work, args=("awards worker", awards.run), name="awards-worker"))
        if settings.matcher_feedback_worker_enabled:
            marks = FeedbackWorker(container.matcher, settings, stop)
            workers.append(threading.Thread(target=work, args=("feedback worker", marks.run), name="feedback-worker"))
        for worker in workers:
            worker.daemon = True
            worker.start()

        def request_exit(signum: int, frame: object) -> None:
            server.should_exit = True

        # uvicorn re-raises the signal it caught once it has shut down; with these handlers in place that only
        # asks for the exit again, so the worker below still stops, commits what it handled and flushes.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, request_exit)
        log.info("matcher API on http://%s:%d (docs at /docs)", settings.matcher_http_host, settings.matcher_http_port)
        server.run(sockets=[sock])  # returns on SIGINT/SIGTERM or when the worker crashed
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        sock.close()
        container.close()
    if crashed:
        raise typer.Exit(1)


def _wait_for_indexes(container: Container) -> bool:
    """Create the indexes, waiting (with backoff) while Elasticsearch does not answer; ``False`` if stopped."""
    from services.matcher.adapters import elastic

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    delay = 0.5
    try:
        while not stop.is_set():
            try:
                elastic.ensure_indexes(container.es, elastic.IndexNames(container.settings.matcher_index_prefix))
                return True
            except StoreUnavailable as exc:
                log.warning("waiting for Elasticsearch (%s); retrying in %.1fs", exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, container.settings.matcher_max_backoff_seconds)
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _read_profiles(path: Path, fmt: FileFormat) -> list[tuple[int, SupplierProfile | ImportRejection]]:
    kind = fmt.value if fmt != FileFormat.auto else ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    return list(parse_file_text(path.read_text(encoding="utf-8-sig"), kind))


@app.command("import-suppliers")
def import_suppliers(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines of SupplierProfile, or CSV")],
    fmt: Annotated[FileFormat, typer.Option("--format", help="auto: by extension (.csv, else JSON Lines)")] = (
        FileFormat.auto
    ),
) -> None:
    """Store profiles in Elasticsearch, publish each to the profiles topic, re-match open notices. A supplier already
    stored keeps what the file does not state and its own alert choices; a line that changes nothing is skipped."""
    from services.matcher.bootstrap import bootstrap
    from services.matcher.service import ImportCounts

    settings = _settings()
    parsed = _read_profiles(file, fmt)
    rejected = [p for _, p in parsed if isinstance(p, ImportRejection)]
    profiles = [p for _, p in parsed if isinstance(p, SupplierProfile)]
    container = bootstrap(settings)
    try:
        # Open notices are re-ranked as the running matcher ranks them: with a model fitted over the stored profiles
        # (new ones are scored against it as they come). The running matcher refits once it sees the import.
        container.matcher.refit()
        with Progress(
            TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
        ) as progress:
            task = progress.add_task("import", total=len(profiles))
            step = 200
            counts = ImportCounts()
            for start in range(0, len(profiles), step):
                chunk = profiles[start : start + step]
                counts += container.matcher.import_profiles(chunk, batch=step)
                progress.advance(task, len(chunk))
    finally:
        container.close()
    for r in rejected:
        err.print(f"[red]line {r.line}[/red]: {r.reason}", highlight=False)
    # A line refused by the profile limits (too many addresses, too big) was read but not stored: named like the rest.
    line_of = {p.supplier_id: line for line, p in parsed if isinstance(p, SupplierProfile)}
    for supplier_id, reason in counts.refused:
        line = line_of.get(supplier_id)
        where = f"line {line}" if line is not None else "a line"
        err.print(f"[red]{where}[/red]: supplier {supplier_id}: {reason}", highlight=False)
    refused = len(rejected) + len(counts.refused)
    err.print(f"imported {counts.stored}, unchanged {counts.unchanged}, rejected {refused}")
    if refused:
        raise typer.Exit(1)


class AwardSource(StrEnum):
    ocds = "ocds"
    eforms = "eforms"
    csv = "csv"
    jsonl = "jsonl"


@app.command("import-awards")
def import_awards_command(
    path: Annotated[Path, typer.Argument(exists=True, help="an award file, or a directory (read recursively)")],
    source: Annotated[
        AwardSource,
        typer.Option("--source", "-s", help="ocds, eforms, csv (with --mapping): read by ingest; jsonl: AwardRecords"),
    ],
    mapping: Annotated[Path | None, typer.Option(help="CSV column mapping (YAML or JSON), for --source csv")] = None,
) -> None:
    """Build the supplier base from public award records: each award joins the profile entity resolution picks
    (official identifiers first, else the name) with its evidence, or founds a prospect (known only from awards:
    shortlisted with that mark, never emailed). Profiles are stored, published and re-matched as the awards worker
    does; reading the same records again changes nothing.

    How the files are read: the matcher reads no OCDS, eForms or CSV itself (services talk over Kafka and HTTP
    only). For ocds, eforms and csv it runs `python -m services.ingest parse PATH --source ... [--mapping M]` as a
    child process and imports the award records it prints (its notices are left out; its rejections and summary
    show on stderr). --source jsonl reads AwardRecord JSON Lines directly (what that command prints, saved).
    """
    from services.matcher.adapters.award_files import BadLine, LineCounts, lines_of_ingest_parse, read_award_lines
    from services.matcher.awards import import_awards
    from services.matcher.bootstrap import bootstrap
    from services.matcher.exceptions import AwardFileError

    settings = _settings()
    if mapping is not None and source != AwardSource.csv:
        err.print("[red]--mapping is for --source csv[/red]")
        raise typer.Exit(2)
    total: int | None = None
    if source == AwardSource.jsonl:
        if path.is_dir():
            err.print("[red]--source jsonl reads one file[/red]")
            raise typer.Exit(2)
        text = path.read_text(encoding="utf-8-sig").splitlines()
        lines: Iterator[str] = iter(text)
        total = sum(1 for line in text if line.strip())
    else:
        lines = lines_of_ingest_parse(path, source.value, mapping)
    counts = LineCounts()
    bad: list[BadLine] = []
    container = bootstrap(settings)
    try:
        container.matcher.refit()  # re-rank open notices as the running matcher ranks them
        with Progress(
            TextColumn("importing award records"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
        ) as progress:
            task = progress.add_task("import", total=total)

            def records() -> Iterator[AwardRecord]:
                for item in read_award_lines(lines, counts):
                    progress.advance(task)
                    if isinstance(item, BadLine):
                        bad.append(item)
                    else:
                        yield item

            report = import_awards(container.matcher, records())
    except AwardFileError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    except StoreUnavailable as exc:
        err.print(f"[red]Elasticsearch does not answer: {exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        container.close()
    for b in bad:
        err.print(f"[red]line {b.line}[/red]: {b.reason}: {b.detail}", highlight=False)
    for supplier_id, reason in report.refused:
        err.print(f"[red]{supplier_id}[/red]: not stored: {reason}", highlight=False)
    _print_award_report(report, bad=len(bad), notices=counts.notices)
    if bad or report.refused:
        raise typer.Exit(1)


def _print_award_report(report: AwardImportReport, *, bad: int, notices: int) -> None:
    skipped = Counter(reason for _, reason in report.skipped)
    err.print(
        f"{report.winners} winners read: {report.stored} profiles stored ({report.prospects} new prospects), "
        f"{len(report.merges)} merges (`awards explain SUPPLIER_ID` says why), "
        f"skipped {dict(skipped) or 'none'}, {bad} unreadable lines, {notices} notices left out",
        highlight=False,
        soft_wrap=True,
    )


awards_app = typer.Typer(
    help="The supplier base built from award records: why awards were merged, an operator's split and claims.",
    no_args_is_help=True,
)
app.add_typer(awards_app, name="awards")


@awards_app.command("explain")
def awards_explain(
    supplier_id: Annotated[str, typer.Argument(help="the supplier (a prospect's id is award-...)")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines (one award per line) instead of a table")] = False,
) -> None:
    """Every award on a supplier's profile with its evidence: the record (source, award id, link), the winner's
    name and identifiers as published, and why entity resolution put it here (rule, similarity, the line)."""
    from services.infra.bus import InMemoryPublisher
    from services.matcher.bootstrap import bootstrap

    settings = _settings()
    # Reads only: no Kafka producer (nothing is published).
    container = bootstrap(settings, create_indexes=False, publisher=InMemoryPublisher())
    try:
        profile = container.matcher.profiles.get(supplier_id)
    except StoreUnavailable as exc:
        err.print(f"[red]Elasticsearch does not answer: {exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        container.close()
    if profile is None:
        err.print(f"[red]no supplier {supplier_id!r}[/red]")
        raise typer.Exit(2)
    evidence = [(a, a.source) for a in profile.past_awards if a.source is not None]
    if as_json:
        for award, source in evidence:
            row = {"supplier_id": supplier_id, "date": award.date.isoformat(), **source.model_dump(mode="json")}
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    kind = "prospect (known only from award records)" if profile.is_prospect else "registered"
    title = (
        f"{profile.supplier_id} {profile.display_name!r}: {kind}, {len(profile.past_awards)} awards, "
        f"{len(evidence)} with evidence; identifiers {', '.join(profile.identifiers) or 'none'}"
    )
    table = Table(title=title, title_justify="left")
    for column in ("award id", "date", "winner as published", "rule", "score", "why"):
        table.add_column(column, overflow="fold")
    for award, source in evidence:
        table.add_row(
            source.award_id,
            award.date.isoformat(),
            source.winner_name,
            source.matched_by,
            f"{source.match_score:.0f}",
            source.explanation,
        )
    output_console().print(table)


_T = TypeVar("_T")


def _operator_action(action: Callable[[Matcher, str], _T], reason: str) -> _T:
    """Run an operator's correction of the supplier base (``awards split``, ``claim``, ``unclaim``) over the real
    stores, ``reason`` said in one line: exit 2 without a reason or when the matcher refuses (unknown id, ...), 1
    when Elasticsearch does not answer."""
    from services.matcher.bootstrap import bootstrap
    from services.matcher.exceptions import MatcherError

    reason = " ".join(reason.split())
    if not reason:
        err.print("[red]--reason must say why[/red]")
        raise typer.Exit(2)
    container = bootstrap(_settings())
    try:
        container.matcher.refit()
        return action(container.matcher, reason)
    except StoreUnavailable as exc:
        err.print(f"[red]Elasticsearch does not answer: {exc}[/red]")
        raise typer.Exit(1) from exc
    except MatcherError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    finally:
        container.close()


@awards_app.command("split")
def awards_split(
    supplier_id: Annotated[str, typer.Argument(help="the supplier the awards were wrongly merged into")],
    award_ids: Annotated[list[str], typer.Argument(help="the award ids that leave it (see `awards explain`)")],
    reason: Annotated[str, typer.Option(help="why (kept in the moved awards' evidence)")],
    new_id: Annotated[str | None, typer.Option("--new-id", help="id of the new prospect (default: <id>-split)")] = (
        None
    ),
) -> None:
    """Undo a wrong merge: the awards named leave the supplier for a new prospect of their own (their evidence says
    an operator moved them, and why). Both profiles are stored, published and re-matched, and later imports of the
    same records leave them where they are now."""
    from services.matcher.awards import split_supplier

    kept, moved = _operator_action(lambda m, why: split_supplier(m, supplier_id, award_ids, why, new_id), reason)
    err.print(
        f"{len(moved.past_awards)} awards moved from {kept.supplier_id} ({len(kept.past_awards)} left) to the new "
        f"prospect {moved.supplier_id} {moved.display_name!r}",
        highlight=False,
    )


@awards_app.command("claim")
def awards_claim(
    prospect_id: Annotated[str, typer.Argument(help="the prospect (a firm known only from award records)")],
    supplier_id: Annotated[str, typer.Argument(help="the registered supplier that is that firm")],
    reason: Annotated[str, typer.Option(help="why (kept in the claimed awards' evidence)")],
) -> None:
    """A registered supplier claims a prospect: it gains the prospect's awards (their evidence saying it was
    claimed, by whom and why) and identifiers, and the prospect is deleted and leaves the shortlists.
    `awards unclaim` undoes it."""
    from services.matcher.awards import claim_prospect

    saved = _operator_action(lambda m, why: claim_prospect(m, prospect_id, supplier_id, why), reason)
    err.print(
        f"{saved.supplier_id} {saved.display_name!r} claimed {prospect_id}: {len(saved.past_awards)} awards now",
        highlight=False,
    )


@awards_app.command("unclaim")
def awards_unclaim(
    supplier_id: Annotated[str, typer.Argument(help="the supplier that claimed the prospect")],
    prospect_id: Annotated[str, typer.Argument(help="the prospect's old id (see `awards explain SUPPLIER_ID`)")],
    reason: Annotated[str, typer.Option(help="why (kept in the returned awards' evidence)")],
) -> None:
    """Undo a claim (made by a registration or by `awards claim`): the awards claimed from the prospect go back
    to it, under its old id, with the identifiers only they carry. Both profiles are stored and re-matched."""
    from services.matcher.awards import unclaim_supplier

    kept, back = _operator_action(lambda m, why: unclaim_supplier(m, supplier_id, prospect_id, why), reason)
    err.print(
        f"{len(back.past_awards)} awards back from {kept.supplier_id} to the prospect {back.supplier_id} "
        f"{back.display_name!r}",
        highlight=False,
    )


@app.command()
def rematch(
    notice_ids: Annotated[
        list[str] | None, typer.Argument(help="notice ids (e.g. ungm:RFQ-2026-7000118); none: every open notice")
    ] = None,
) -> None:
    """Rank open notices again and republish the shortlists that changed: after an upgrade or a change of weights
    (TB_MATCHER_WEIGHTS), the stored shortlists are the old ranking's. Unchanged ones are left alone; nobody is
    emailed the same alert twice."""
    from services.matcher.bootstrap import bootstrap

    settings = _settings()
    container = bootstrap(settings)
    try:
        container.matcher.refit()  # rank as the running matcher does: with a model fitted over the profiles
        with Progress(TextColumn("re-ranking"), MofNCompleteColumn(), TextColumn("notices"), console=err) as progress:
            task = progress.add_task("rematch", total=len(notice_ids) if notice_ids else None)
            counts = container.matcher.rerank_open(notice_ids or None, lambda: progress.advance(task))
    except StoreUnavailable as exc:
        err.print(f"[red]Elasticsearch does not answer: {exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        container.close()
    for notice_id in counts.missing:
        err.print(f"[red]{notice_id}[/red]: no such notice")
    for notice_id in counts.not_open:
        err.print(f"[yellow]{notice_id}[/yellow]: not open (closed or cancelled): left as it is")
    err.print(
        f"re-ranked {counts.ranked} open notices: {counts.changed} shortlists changed and were republished, "
        f"{counts.ranked - counts.changed} unchanged"
    )
    if counts.missing:
        raise typer.Exit(1)


def _period_bound(value: str, option: str, *, end: bool) -> datetime:
    """``YYYY-MM-DD`` (a whole day: ``--until``'s day is included) or an ISO time (UTC unless it says)."""
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is neither a date (YYYY-MM-DD) nor an ISO time", param_hint=option
        ) from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


#: Where ``backfill`` keeps its checkpoints unless told (beside ingest's state, ``.data/ingest``).
BACKFILL_STATE_DIR = Path(".data/matcher/backfill")


@app.command()
def backfill(
    since: Annotated[str, typer.Option(help="first day (YYYY-MM-DD) or time (ISO, UTC unless it says) of the period")],
    until: Annotated[
        str | None, typer.Option(help="last day, included (YYYY-MM-DD), or a time, excluded; default: no end")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="threads ranking the period's notices at once")] = 1,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help=f"file keeping how far the run got; default: {BACKFILL_STATE_DIR}/<index prefix>-<period>.json"
        ),
    ] = None,
    restart: Annotated[bool, typer.Option(help="start the period from the beginning, ignoring the checkpoint")] = False,
) -> None:
    """Rank the stored notices published in a period again (after loading a new supplier base, or new weights) and
    republish only the shortlists that changed; closed and cancelled notices are left as they are. Killed, it
    resumes where it left off when run again; nobody is emailed twice."""
    from services.matcher.adapters.checkpoint import FileCheckpoints
    from services.matcher.backfill import Backfill, Outcome, Period
    from services.matcher.bootstrap import bootstrap
    from services.matcher.exceptions import InvalidInput

    settings = _settings()
    try:
        period = Period(
            _period_bound(since, "--since", end=False),
            None if until is None else _period_bound(until, "--until", end=True),
        )
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc), param_hint="--since/--until") from exc
    if checkpoint is None:
        stamp = "-".join(f"{v or 'open'}".replace(":", "").replace("+", "p") for v in period.state().values())
        checkpoint = BACKFILL_STATE_DIR / f"{settings.matcher_index_prefix}-{stamp}.json"
    container = bootstrap(settings)
    try:
        container.matcher.refit()  # rank as the running matcher does: with a model fitted over the profiles
        with Progress(
            TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
        ) as progress:
            task = progress.add_task("backfill", total=None)

            def started(total: int, resumed: int) -> None:
                progress.update(task, total=total, completed=resumed)

            report = Backfill(container.matcher, FileCheckpoints(checkpoint)).run(
                period,
                workers,
                restart=restart,
                on_start=started,
                on_notice=lambda _notice_id, _outcome: progress.advance(task),
            )
    except StoreUnavailable as exc:
        err.print(f"[red]Elasticsearch does not answer: {exc}[/red]; run again to resume from {checkpoint}")
        raise typer.Exit(1) from exc
    except InvalidInput as exc:
        err.print(f"[red]{exc}[/red] (checkpoint {checkpoint})", highlight=False)
        raise typer.Exit(2) from exc
    finally:
        container.close()
    got = report.outcomes
    err.print(
        f"{report.total} notices in the period, {report.resumed} done by an earlier run; this run: "
        f"{got.get(Outcome.CHANGED, 0)} shortlists changed and republished, {got.get(Outcome.UNCHANGED, 0)} "
        f"unchanged, {got.get(Outcome.CLOSED, 0)} closed or cancelled (left as they are). Checkpoint: {checkpoint}",
        highlight=False,
    )


keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


class KeyStatus(StrEnum):
    active = "active"
    revoked = "revoked"
    expired = "expired"


#: Longest ``--reason`` kept with a revocation (a sentence or a ticket reference, not a report).
MAX_REVOKE_REASON = 500


@contextlib.contextmanager
def _key_store(settings: Settings) -> Iterator[KeyStore]:
    """The stored keys over Elasticsearch, the index created or its mapping brought up to date (the fields added
    since an older index was created); an unreachable Elasticsearch is said plainly (exit 1)."""
    from services.matcher.adapters import elastic

    es = elastic.make_client(settings.elasticsearch_url, settings.matcher_es_timeout_seconds)
    try:
        names = elastic.IndexNames(settings.matcher_index_prefix)
        elastic.ensure_indexes(es, names)
        yield elastic.ElasticKeyStore(es, names)
    except StoreUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        es.close()


@app.command("create-key")
@keys_app.command("create")
def create_key(
    role: Annotated[KeyRole, typer.Option(help="buyer, supplier or admin")],
    agency: Annotated[str | None, typer.Option(help="buyer's agency (buyer.name or buyer.id of its notices)")] = None,
    supplier_id: Annotated[str | None, typer.Option("--supplier-id", help="the supplier a supplier key acts for")] = (
        None
    ),
    label: Annotated[str, typer.Option(help="a note for operators")] = "",
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", min=1, help="refused after this many days (default: never)")
    ] = None,
) -> None:
    """Create an API key and print it once (only its SHA-256 is stored)."""
    from services.matcher.keys import ApiKey, Role, hash_token, new_token

    settings = _settings()
    token = new_token()
    created = datetime.now(UTC)
    try:
        key = ApiKey(
            key_hash=hash_token(token),
            role=Role(role.value),
            agency=agency,
            supplier_id=supplier_id,
            label=label,
            created_at=created,
            expires_at=created + timedelta(days=expires_in_days) if expires_in_days is not None else None,
        )
    except ValidationError as exc:
        err.print(f"[red]{exc.errors()[0]['msg']}[/red]")
        raise typer.Exit(2) from exc
    with _key_store(settings) as store:
        store.put(key)
    typer.echo(token)
    expiry = f", expires {_when(key.expires_at)} UTC" if key.expires_at else ""
    err.print(f"key id {key.key_id}{expiry}: store this key now, it is not shown again")


def _when(at: datetime | None) -> str:
    """A time in UTC to the minute (the listing's title says UTC)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if at is not None else ""


@keys_app.command("list")
def list_keys(
    role: Annotated[KeyRole | None, typer.Option(help="only keys of this role")] = None,
    agency: Annotated[str | None, typer.Option(help="only buyer keys of this agency (case and spaces ignored)")] = None,
    supplier_id: Annotated[str | None, typer.Option("--supplier-id", help="only this supplier's keys")] = None,
    status: Annotated[KeyStatus | None, typer.Option(help="only active, revoked or expired keys")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines (one key per line) instead of a table")] = False,
) -> None:
    """The stored keys, oldest first: key id (never the key), role, scope, label, created, expires, status (when and
    why revoked), last used (written at most once an hour per key)."""
    from services.matcher.keys import Role, select_keys

    settings = _settings()
    with _key_store(settings) as store:
        stored = store.all()
    now = datetime.now(UTC)
    keys = select_keys(
        stored,
        now=now,
        role=Role(role.value) if role else None,
        agency=agency,
        supplier_id=supplier_id,
        status=status.value if status else None,
    )
    if as_json:
        for k in keys:
            row = {"key_id": k.key_id, "status": k.status(now)}
            row.update(k.model_dump(mode="json", exclude={"key_hash"}))
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        table = Table(title=f"{len(keys)} of {len(stored)} API keys (times in UTC)", title_justify="left")
        for column in ("key id", "role", "agency / supplier", "label", "created", "expires", "status", "last used"):
            table.add_column(column, no_wrap=column == "key id")
        for k in keys:
            state = k.status(now)
            if k.revoked_at is not None:
                state = f"revoked {_when(k.revoked_at)}: {k.revoked_reason or ''}"
            table.add_row(
                k.key_id,
                k.role.value,
                k.agency or k.supplier_id or "(all)",
                k.label,
                _when(k.created_at),
                _when(k.expires_at) or "never",
                state,
                _when(k.last_used_at),
            )
        output_console().print(table)
    if settings.matcher_admin_api_key is not None and settings.matcher_admin_api_key.get_secret_value():
        err.print("TB_MATCHER_ADMIN_API_KEY is set too: an admin key that is not stored, so neither listed nor revoked")


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="the key id of `keys list` (or any unique prefix of it)")],
    reason: Annotated[str, typer.Option(help="why (kept with the key for audit; never shown to its holder)")],
) -> None:
    """Revoke a key: refused (401, "revoked") from the next request on, sign-in cookie included. The key stays
    stored, for audit. Revoking a revoked key changes nothing."""
    from services.matcher.exceptions import NotFound
    from services.matcher.keys import normalize_key_id

    reason = " ".join(reason.split())
    if not reason or len(reason) > MAX_REVOKE_REASON:
        err.print(f"[red]--reason must say why, in 1 to {MAX_REVOKE_REASON} characters[/red]")
        raise typer.Exit(2)
    try:
        prefix = normalize_key_id(key_id)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    settings = _settings()
    with _key_store(settings) as store:
        found = store.with_prefix(prefix, limit=6)
        if not found:
            err.print(f"[red]no API key has an id starting with {prefix!r}[/red] (see `keys list`)")
            raise typer.Exit(2)
        if len(found) > 1:
            ids = ", ".join(k.key_hash[: max(len(prefix) + 4, 12)] for k in found[:5])
            more = " and more" if len(found) > 5 else ""
            err.print(f"[red]{prefix!r} names several keys ({ids}{more}): give more digits[/red]")
            raise typer.Exit(2)
        key = found[0]
        if key.revoked_at is not None:
            err.print(
                f"key {key.key_id} was already revoked {_when(key.revoked_at)} UTC ({key.revoked_reason}): "
                "left as it was"
            )
            return
        try:
            store.revoke(key.key_hash, datetime.now(UTC), reason)
        except NotFound as exc:  # deleted by hand between the lookup and now
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    scope = key.agency or key.supplier_id or "all"
    label = f" {key.label!r}" if key.label else ""
    err.print(f"revoked {key.role.value} key {key.key_id} ({scope}){label}: refused from the next request on")


@app.command()
def reindex(
    delete_old: Annotated[bool, typer.Option("--delete-old", help="delete the previous index after the swap")] = False,
) -> None:
    """Build a new versioned suppliers index with the current mapping, copy (adding each profile's vector with the
    ``TB_MATCHER_ENCODER`` encoder, the codes suggested for a profile that states none, and its scoring record:
    one written before records, or of another ``scoring.RECORD_VERSION``, gets the current one), and swap the alias
    atomically; then give the open notices stored without a vector theirs (reverse matching finds them by it)."""
    from services.matcher.adapters import elastic
    from services.matcher.bootstrap import make_encoder, shipped_code_data

    settings = _settings()
    encoder = make_encoder(settings)
    _, text_codes = shipped_code_data(encoder)
    es = elastic.make_client(settings.elasticsearch_url, settings.matcher_es_timeout_seconds)
    try:
        names = elastic.IndexNames(settings.matcher_index_prefix)
        elastic.ensure_indexes(es, names, None if encoder is None else encoder.dimension)
        new, old, copied = elastic.reindex_suppliers(
            es, names, datetime.now(UTC), delete_old=delete_old, encoder=encoder, text_codes=text_codes
        )
        vectors = 0
        if encoder is not None:
            config = settings.scoring_config()
            vectors = elastic.backfill_notice_vectors(es, names, config, encoder, datetime.now(UTC))
    finally:
        es.close()
    typer.echo(f"{names.suppliers} -> {new} (was {old or 'nothing'}), {copied} profiles copied")
    if encoder is not None:
        typer.echo(f"{names.notices}: {vectors} open notices given their vectors")


@app.command()
def match(
    notices: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines of TenderNotice")],
    profiles: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="JSON Lines (or CSV) of profiles")],
    top: Annotated[int, typer.Option(help="entries printed per notice")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="one Shortlist JSON per line instead of tables")] = False,
) -> None:
    """Score notices offline against profiles from a file (no Kafka, no Elasticsearch): handy for demos."""
    from services.matcher.bootstrap import bootstrap_in_memory, make_encoder

    settings = _settings()
    container = bootstrap_in_memory(settings, encoder=make_encoder(settings))
    parsed = _read_profiles(profiles, FileFormat.auto)
    good: list[SupplierProfile] = []
    for _, p in parsed:
        if isinstance(p, SupplierProfile):
            good.append(p)
        else:
            err.print(f"[yellow]profiles line {p.line}[/yellow]: {p.reason}", highlight=False)
    container.matcher.profiles.put_many(good)  # one batch: profile vectors are encoded together
    container.matcher.refit()
    out = output_console()
    for n, line in enumerate(notices.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            notice = TenderNotice.model_validate_json(line)
        except ValidationError as exc:
            err.print(f"[red]notices line {n}[/red]: {short_error(exc)}", highlight=False)
            continue
        shortlist = container.matcher.handle_notice(notice)
        if shortlist is None:
            continue
        if as_json:
            sys.stdout.write(shortlist.model_dump_json() + "\n")
            continue
        table = Table(title=f"{notice.notice_id} v{notice.version}: {notice.title}", title_justify="left")
        for column in ("#", "supplier", "country", "score", "why"):
            table.add_column(column)
        for e in shortlist.entries[:top]:
            table.add_row(
                str(e.rank),
                e.supplier_name,
                e.supplier_country or "",
                f"{e.total_score:.3f}",
                "\n".join(e.top_reasons()),
            )
        out.print(table)
        if shortlist.exclusions:
            out.print(f"  ruled out: {json.dumps({x.supplier_id: x.rule for x in shortlist.exclusions[:top]})}")


class SchemeName(StrEnum):
    unspsc = "unspsc"
    cpv = "cpv"


def _suggest_inputs(text: str | None, file: Path | None) -> tuple[list[tuple[object, str]], int]:
    """``(id, text)`` pairs from TEXT or from a JSON Lines file of ``{"id": ..., "text": ...}``, and how many lines
    were refused (each named on stderr)."""
    if (text is None) == (file is None):
        err.print('[red]give one TEXT or --file F[/red] (JSON Lines of {"id": ..., "text": ...})')
        raise typer.Exit(2)
    if text is not None:
        return [(None, text)], 0
    assert file is not None
    out: list[tuple[object, str]] = []
    refused = 0
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            row, why = None, f"not JSON ({exc.msg})"
        else:
            why = 'a JSON object with a non-empty string "text" is expected'
        if isinstance(row, dict) and isinstance(row.get("text"), str) and row["text"].strip():
            out.append((row.get("id"), row["text"]))
        else:
            err.print(f"[red]{file.name} line {n}[/red]: {why}", highlight=False)
            refused += 1
    return out, refused


def _code_row(scheme: CodeScheme, code: str, title: str, score: float) -> dict[str, object]:
    """A code as ``suggest-codes`` and ``crosswalk`` print it (CPV with its check digit, as people write it)."""
    from services.matcher.adapters.codebook import written

    return {"scheme": scheme.value, "code": written(scheme, code), "title": title, "score": score}


def _code_table(title: str, rows: list[dict[str, object]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("code", "title", "score"):
        table.add_column(column)
    for r in rows:
        table.add_row(f"{r['scheme']} {r['code']}", str(r["title"]), f"{r['score']:.3f}")
    return table


@app.command("suggest-codes")
def suggest_codes(
    text: Annotated[str | None, typer.Argument(help="a description in any language")] = None,
    file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help='JSON Lines of {"id": ..., "text": ...}')
    ] = None,
    scheme: Annotated[SchemeName, typer.Option(help="the code list to suggest from")] = SchemeName.unspsc,
    top: Annotated[int, typer.Option(min=1, max=50, help="codes per text")] = 5,
    as_json: Annotated[
        bool, typer.Option("--json", help='one {"id", "codes": [{"scheme", "code", "title", "score"}]} per line')
    ] = False,
) -> None:
    """Suggest UNSPSC or CPV codes for free text in any language (multilingual sentence embeddings over the code
    titles and labelled award descriptions shipped with the matcher; nothing is fetched). Exit 2 on bad input."""
    from services.matcher.adapters.codebook import code_index
    from services.matcher.adapters.encoder import UseEncoder
    from services.matcher.exceptions import InvalidInput
    from services.matcher.suggestions import CodeSuggester

    inputs, refused = _suggest_inputs(text, file)
    code_scheme = CodeScheme(scheme.value.upper())
    suggester = CodeSuggester(UseEncoder(), code_index)
    out = output_console()
    for start in range(0, len(inputs), 256):
        chunk = inputs[start : start + 256]
        try:
            lists = suggester.suggest([t for _, t in chunk], code_scheme, top)
        except InvalidInput as exc:
            err.print(f"[red]{exc}[/red]", highlight=False)
            raise typer.Exit(2) from None
        for (ident, body), codes in zip(chunk, lists, strict=True):
            rows = [_code_row(c.scheme, c.code, c.title, c.score) for c in codes]
            if as_json:
                sys.stdout.write(json.dumps({"id": ident, "codes": rows}, ensure_ascii=False) + "\n")
                continue
            out.print(_code_table(body if ident is None else f"{ident}: {body}", rows))
    if refused:
        raise typer.Exit(2)


@app.command()
def crosswalk(
    code: Annotated[str, typer.Argument(help="CPV:33141411-4 or UNSPSC:42132203 (scheme, a colon, the code)")],
    top: Annotated[int, typer.Option(min=1, max=10, help="codes of the other scheme to list")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object instead of a table")] = False,
) -> None:
    """The closest codes of the other scheme (CPV -> UNSPSC, UNSPSC -> CPV), from the crosswalk derived from both
    lists' titles, hierarchies and labelled award text: a score says how alike two codes read, not that they are
    equivalent. Exit 2 for a code that is not one."""
    from contracts.codes import read_code
    from services.matcher.adapters.codebook import crosswalk as table
    from services.matcher.adapters.codebook import titles
    from services.matcher.domain.crosswalk import cross

    name, _, digits = code.partition(":")
    scheme = {"CPV": CodeScheme.CPV, "UNSPSC": CodeScheme.UNSPSC}.get(name.strip().upper())
    parsed = read_code(scheme, digits) if scheme is not None else None
    if scheme is None or parsed is None:
        err.print(
            f"[red]{code!r} is not a code[/red]: write the scheme, a colon and the code, as CPV:33141411-4 or "
            "UNSPSC:42132203",
            highlight=False,
        )
        raise typer.Exit(2)
    pairs = cross(table(), scheme, parsed[0], top)
    asked = _code_row(scheme, parsed[0], titles(scheme).get(parsed[0], ""), 1.0)
    rows = [_code_row(p.scheme, p.code, p.title, p.score) for p in pairs]
    if as_json:
        del asked["score"]
        sys.stdout.write(json.dumps({**asked, "closest": rows}, ensure_ascii=False) + "\n")
        return
    name = f"{asked['scheme']} {asked['code']} {asked['title']}".rstrip()
    if not rows:
        output_console().print(f"{name}: no code of the other scheme is listed for it")
        return
    output_console().print(_code_table(name, rows))

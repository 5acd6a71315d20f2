"""``python -m services.notifier``: the notifier's command line (``__main__.py`` only calls ``cli``)."""

from __future__ import annotations

import logging
import signal
import threading

import typer
import uvicorn

from services.infra.http import listening_socket_or_exit
from services.infra.logs import setup_logging
from services.infra.settings import load_settings
from services.notifier.adapters.matcher import HttpPreferencesClient
from services.notifier.domain import tokens
from services.notifier.exceptions import MatcherUnavailable
from services.notifier.ports import PreferencesClient
from services.notifier.settings import Settings

app = typer.Typer(help="tenderbridge notifier: shortlists in, alert emails out (exactly once).", no_args_is_help=True)
log = logging.getLogger("services.notifier")


@app.command()
def run(
    instance_id: str = typer.Option("", help="Overrides TB_NOTIFIER_INSTANCE_ID (default: the host name)."),
) -> None:
    """Kafka worker + HTTP app in the foreground; SIGTERM or Ctrl-C stops cleanly."""
    from services.notifier.bootstrap import bootstrap
    from services.notifier.entrypoints.http import app_for
    from services.notifier.entrypoints.worker import worker_for

    settings = load_settings(Settings)
    setup_logging(settings.log_level, settings.log_json)
    if settings.uses_default_secret:
        log.warning("TB_NOTIFIER_UNSUBSCRIBE_SECRET is the default of local runs: anyone who read the source can sign "
                    "unsubscribe, preferences and confirmation links for %s; set a long random secret before anyone "
                    "else can reach it", settings.notifier_public_url)  # fmt: skip
    # The port first: taken, it ends the command before the worker or any client starts, with its own exit status.
    sock = listening_socket_or_exit(settings.notifier_http_host, settings.notifier_http_port, "TB_NOTIFIER_HTTP_PORT")
    runtime = bootstrap(settings, instance_id or None)
    worker = worker_for(runtime)
    server = uvicorn.Server(
        uvicorn.Config(
            app_for(runtime, worker),
            host=settings.notifier_http_host,
            port=settings.notifier_http_port,
            log_level="warning",
        )
    )

    def work() -> None:
        try:
            worker.run()
        finally:
            if not runtime.stop.is_set():  # the worker died: take the process down so it gets restarted
                server.should_exit = True

    def on_signal(signum: int, frame: object) -> None:
        runtime.stop.set()
        server.should_exit = True

    # uvicorn handles SIGINT/SIGTERM while it serves, then restores the previous handlers and raises the signal
    # again; with these handlers in place that second delivery stops the worker instead of killing the process
    # before it has flushed and closed.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    thread = threading.Thread(target=work, name="notifier-worker")
    thread.start()
    log.info("notifier listening on %s:%s", settings.notifier_http_host, settings.notifier_http_port)
    try:
        server.run(sockets=[sock])
    finally:
        runtime.stop.set()
        thread.join(timeout=120)
        runtime.close()
        sock.close()
    if worker.error is not None:
        raise typer.Exit(1)


def _signed_url(purpose: str, path: str, supplier_id: str, settings: Settings) -> str:
    from services.notifier.bootstrap import signer

    return signer(settings).url(path, purpose, supplier_id)


def supplier_check(matcher: PreferencesClient, supplier_id: str, matcher_url: str) -> tuple[bool | None, str]:
    """Whether the matcher (which owns supplier profiles) knows the supplier: True, False, or None when it could not
    be asked (not running, no or a wrong ``TB_NOTIFIER_MATCHER_API_KEY``), with what to say on stderr."""
    try:
        known = matcher.profile(supplier_id) is not None
    except MatcherUnavailable as exc:
        return None, (
            f"note: supplier {supplier_id!r} not checked ({exc} at {matcher_url}; it needs the matcher running and "
            "TB_NOTIFIER_MATCHER_API_KEY): the link works only if the matcher knows this supplier"
        )
    if known:
        return True, ""
    return False, (
        f"no supplier {supplier_id!r} at the matcher ({matcher_url}): no link printed; check the id "
        "(--no-check prints the link anyway)"
    )


def _print_link(purpose: str, path: str, supplier_id: str, check: bool) -> None:
    settings = load_settings(Settings)
    if check:
        key = settings.notifier_matcher_api_key
        matcher = HttpPreferencesClient(
            settings.notifier_matcher_url, key.get_secret_value() if key else None, timeout_s=3.0
        )
        try:
            known, note = supplier_check(matcher, supplier_id, settings.notifier_matcher_url)
        finally:
            matcher.close()
        if note:
            typer.echo(note, err=True)
        if known is False:
            raise typer.Exit(1)
    typer.echo(_signed_url(purpose, path, supplier_id, settings))


CHECK = typer.Option(True, "--check/--no-check", help="Ask the matcher first whether it knows the supplier.")


@app.command("unsubscribe-url")
def unsubscribe_url(supplier_id: str, check: bool = CHECK) -> None:
    """Print the signed one-click unsubscribe URL of a supplier (for support and demos).

    Signed with TB_NOTIFIER_UNSUBSCRIBE_SECRET (the default is the one `make run` uses); exits 1 when the matcher
    answers that it has no such supplier, and notes on stderr when it could not be asked."""
    _print_link(tokens.UNSUBSCRIBE, "unsubscribe", supplier_id, check)


@app.command("preferences-url")
def preferences_url(supplier_id: str, check: bool = CHECK) -> None:
    """Print the signed preferences page URL of a supplier (support: a supplier who lost its emails; demos).

    Signed with TB_NOTIFIER_UNSUBSCRIBE_SECRET (the default is the one `make run` uses); exits 1 when the matcher
    answers that it has no such supplier, and notes on stderr when it could not be asked."""
    _print_link(tokens.PREFERENCES, "preferences", supplier_id, check)

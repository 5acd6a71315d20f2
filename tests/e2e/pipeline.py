"""The e2e harness: the three services as child processes on a stack, a private SMTP sink, generated data whose
matches are predictable, a stream of notices published through ingest, and the counted read-back of
``localrun.demo.Ledger``.

The data is shaped so that matching is cheap and every email is accounted for: each supplier sells in its own
UNSPSC segment (its family and class declared, with its own product word), each notice asks for one supplier's
class and word, and only every ``emails_every``-th supplier has an address, so a stream of a few thousand notices
calls for a few hundred emails.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaAdminClient, TopicPartition

from contracts.common import Classification, CodeScheme
from contracts.notice import Buyer, Item, TenderNotice
from contracts.supplier import SupplierProfile
from localrun import stack
from localrun.demo import (
    Ledger,
    NoidaServer,
    SmtpSink,
    Summary,
    Supervisor,
    ensure_pipeline_topics,
    handled_up_to_now,
    topic_names,
    wait_settled,
    write_jsonl,
)
from localrun.pipeline import Pipeline, new_run_id
from services.infra.net import free_port
from tests.conftest import Endpoints

#: UNSPSC segments and a product word sold in each (one supplier per segment).
SEGMENTS: tuple[tuple[str, str], ...] = (
    ("10", "seedlings"),
    ("11", "timber"),
    ("12", "reagents"),
    ("13", "resins"),
    ("14", "paperboard"),
    ("15", "lubricants"),
    ("20", "drilling"),
    ("21", "tractors"),
    ("22", "excavators"),
    ("23", "lathes"),
    ("24", "forklifts"),
    ("25", "ambulances"),
    ("26", "generators"),
    ("27", "wrenches"),
    ("30", "cement"),
    ("31", "bearings"),
    ("32", "semiconductors"),
    ("39", "luminaires"),
    ("40", "pipelines"),
    ("41", "microscopes"),
    ("42", "syringes"),
    ("43", "laptops"),
    ("44", "toner"),
    ("45", "projectors"),
    ("46", "helmets"),
    ("47", "detergents"),
    ("48", "refrigerators"),
    ("49", "bicycles"),
    ("50", "rice"),
    ("51", "vaccines"),
    ("52", "curtains"),
    ("53", "uniforms"),
    ("55", "signage"),
    ("56", "wardrobes"),
    ("60", "textbooks"),
    ("70", "irrigation"),
    ("71", "boreholes"),
    ("72", "roofing"),
    ("73", "smelting"),
    ("76", "sanitation"),
    ("77", "reforestation"),
    ("78", "courier"),
    ("80", "auditing"),
    ("81", "cartography"),
    ("82", "translation"),
    ("83", "telecommunications"),
    ("84", "insurance"),
    ("85", "diagnostics"),
    ("86", "scholarships"),
    ("90", "catering"),
    ("91", "laundry"),
    ("92", "demining"),
    ("93", "elections"),
    ("94", "trade-union"),
    ("95", "land-parcels"),
)


def make_suppliers(n: int, prefix: str, emails_every: int = 5) -> list[SupplierProfile]:
    if n > len(SEGMENTS):
        raise ValueError(f"at most {len(SEGMENTS)} suppliers (one per segment)")
    out = []
    for i in range(n):
        segment, word = SEGMENTS[i]
        out.append(
            SupplierProfile(
                supplier_id=f"{prefix}-s{i:03d}",
                names={"en": f"{word.title()} Trading {i} Ltd"},
                country="KE",
                emails=[f"sales{i}@{prefix}.example.com"] if i % emails_every == 0 else [],
                codes=[
                    Classification(scheme=CodeScheme.UNSPSC, code=f"{segment}100000"),
                    Classification(scheme=CodeScheme.UNSPSC, code=f"{segment}101500"),
                ],
                keywords=[word, f"{word} supply"],
                description={"en": f"We supply {word} to public buyers."},
            )
        )
    return out


def make_notices(n: int, n_suppliers: int, prefix: str, start: int = 0) -> list[TenderNotice]:
    now = datetime.now(UTC)
    out = []
    for j in range(start, start + n):
        segment, word = SEGMENTS[j % n_suppliers]
        source_id = f"{prefix}-n{j:05d}"
        out.append(
            TenderNotice(
                notice_id=f"e2e:{source_id}",
                source="e2e",
                source_id=source_id,
                title=f"Supply of {word}, lot {j}",
                description=f"The ministry buys {word} for its programme (lot {j}).",
                language="en",
                buyer=Buyer(name="Ministry of Public Works", id="MPW", country="KE"),
                items=[
                    Item(
                        id="1",
                        description=word,
                        classification=Classification(scheme=CodeScheme.UNSPSC, code=f"{segment}101501"),
                        quantity=10,
                    )
                ],
                delivery_countries=["KE"],
                published_at=now,
                deadline_at=now + timedelta(days=30),
            )
        )
    return out


def write_models(path: Path, models: list[SupplierProfile] | list[TenderNotice]) -> int:
    return write_jsonl(path, (m.model_dump_json() for m in models))


@dataclass
class Publisher:
    """Publishes notice files through ``ingest publish`` in a background thread, one chunk after the other; a
    failed run (a broker restarting under it) is run again, as an operator would, since ingest's checkpoint and
    content hash make a re-run publish nothing twice."""

    pipeline: Pipeline
    chunks: list[Path]
    pause: float = 0.0
    errors: list[str] = field(default_factory=list)
    published_chunks: int = 0
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        for chunk in self.chunks:
            for _attempt in range(6):
                try:
                    self.pipeline.cli("ingest", "publish", str(chunk), "--source", "jsonl", timeout=180)
                    break
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                    self.errors.append(f"{chunk.name}: {exc}: {str(getattr(exc, 'stderr', ''))[-500:]}")
                    time.sleep(2)
            self.published_chunks += 1
            time.sleep(self.pause)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest-publisher", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()


@dataclass
class Run:
    pipeline: Pipeline
    sink: SmtpSink
    ledger: Ledger
    work: Path
    prefix: str
    n_suppliers: int
    supervisor: Supervisor
    #: How each deliberate stop ended (``exit -9`` after a SIGTERM means it did not stop within the grace period).
    stops: list[str] = field(default_factory=list)

    def load_suppliers(self, emails_every: int = 5) -> list[SupplierProfile]:
        profiles = make_suppliers(self.n_suppliers, self.prefix, emails_every)
        path = self.work / "suppliers.jsonl"
        write_models(path, profiles)
        self.cli("matcher", "import-suppliers", str(path), timeout=180)
        return profiles

    def cli(self, service: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """A one-shot service command; its stderr is in the failure message when it fails."""
        try:
            return self.pipeline.cli(service, *args, timeout=timeout)
        except subprocess.CalledProcessError as exc:
            raise AssertionError(
                f"`{service} {' '.join(args)}` exited with {exc.returncode}:\n{str(exc.stderr)[-3000:]}"
            ) from exc

    def notice_chunks(self, n: int, chunk: int) -> list[Path]:
        paths = []
        for start in range(0, n, chunk):
            notices = make_notices(min(chunk, n - start), self.n_suppliers, self.prefix, start)
            path = self.work / f"notices-{start:05d}.jsonl"
            write_models(path, notices)
            self.ledger.expected_inputs |= {x.notice_id for x in notices}
            paths.append(path)
        return paths

    def stream(self, n: int, chunk: int = 250, pause: float = 0.0) -> Publisher:
        publisher = Publisher(self.pipeline, self.notice_chunks(n, chunk), pause)
        publisher.start()
        return publisher

    def wait_for(self, what: str, predicate: object, timeout: float) -> Summary:
        """Refresh the ledger until ``predicate(summary)`` holds; fail with the last summary when it never does."""
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while True:
            self.ledger.refresh()
            summary = self.ledger.summary()
            if predicate(summary):
                return summary
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{summary.human()}\n{self.logs_tail()}")
            self.check_alive()
            time.sleep(0.5)

    def settle(self, timeout: float) -> Summary:
        return wait_settled(
            self.ledger, timeout, quiet=3.0, min_notices=len(self.ledger.expected_inputs), tick=self.supervisor
        )

    def check_alive(self) -> None:
        """Restart what exited, as the deployment's ``restart: unless-stopped`` does (a bounded number of times)."""
        self.supervisor()

    def restart(self, name: str, kill: bool = True) -> None:
        process = self.pipeline.processes[name]
        began = time.monotonic()
        if kill:
            process.kill()
        else:
            process.stop()
        assert process.proc is not None
        self.stops.append(f"{name}: exit {process.proc.returncode} after {time.monotonic() - began:.1f}s")
        process.start()
        process.wait_healthy(timeout=60)

    def committed(self, service: str) -> int:
        """The sum over partitions of the offsets the service's consumer group committed on the notices topic."""
        env = self.pipeline.env()
        group = env[f"TB_{service.upper()}_CONSUMER_GROUP"]
        topic = topic_names(self.pipeline)["notices"]
        admin = KafkaAdminClient(bootstrap_servers=self.pipeline.cfg.kafka_bootstrap.split(","))
        try:
            # kafka-python 3 answers {group: {TopicPartition: OffsetAndMetadata}}.
            offsets = admin.list_group_offsets(group).get(group, {})
        finally:
            admin.close()
        return sum(
            meta.offset
            for tp, meta in offsets.items()
            if isinstance(tp, TopicPartition) and tp.topic == topic and meta.offset > 0
        )

    def handled_up_to_now(self, service: str, topic_field: str) -> bool:
        """``handled_up_to_now`` of this run's pipeline."""
        return handled_up_to_now(self.pipeline, service, topic_field)

    def logs_tail(self, lines: int = 30) -> str:
        out = [f"stops: {self.stops}", f"restarts by the supervisor: {dict(self.supervisor.restarts)}"]
        for name, process in self.pipeline.processes.items():
            with contextlib.suppress(OSError):
                noise = ("kafka.net.selector", "uvicorn.access")
                text = process.log_path.read_text(errors="replace").splitlines()
                tail = [line for line in text if not any(n in line for n in noise)][-lines:]
                out.append(f"--- {name} ({process.log_path})\n" + "\n".join(tail))
        return "\n".join(out)


#: Faster retries and a higher send rate than production defaults, so the tests stay short.
TEST_ENV = {
    "TB_NOTIFIER_RATE_LIMIT_PER_S": "200",
    "TB_NOTIFIER_BACKOFF_BASE_S": "0.2",
    "TB_NOTIFIER_BACKOFF_MAX_S": "2",
    "TB_NOTIFIER_MAX_ATTEMPTS": "40",
    "TB_MATCHER_MAX_BACKOFF_SECONDS": "2",
    "TB_MATCHER_REFIT_INTERVAL_SECONDS": "0",
    "TB_NOTIFIER_DIGEST_INTERVAL_S": "3600",
}


@contextlib.contextmanager
def pipeline_run(
    cfg: stack.StackConfig, work: Path, n_suppliers: int = 50, extra_env: dict[str, str] | None = None
) -> Iterator[Run]:
    """Start a private SMTP sink and the three services on ``cfg``'s Kafka and Elasticsearch with a fresh
    ``run_id``; stop everything afterwards."""
    run_id = new_run_id()
    sink = SmtpSink(work / "maildir")
    sink.start()
    ports = {name: free_port() for name in ("matcher", "ingest", "notifier")}
    env = {**TEST_ENV, **(extra_env or {})}
    pipeline = Pipeline(cfg, work / "run", run_id=run_id, smtp_port=sink.port, extra_env=env, ports=ports)
    ensure_pipeline_topics(pipeline)
    ledger = Ledger(cfg.kafka_bootstrap, topic_names(pipeline), sink.maildir)
    try:
        pipeline.start()
        yield Run(pipeline, sink, ledger, work, f"r{run_id}", n_suppliers, Supervisor(pipeline))
    finally:
        stop_all(pipeline)
        ledger.close()
        sink.stop()
        collect_leaked_sockets()


def collect_leaked_sockets() -> None:
    """kafka-python leaks the socket of a failed connect (a broker restarting); collect it here, quietly, rather
    than let the ResourceWarning surface in whichever later test the garbage collector happens to run in."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def stop_all(pipeline: Pipeline) -> None:
    """Stop every service even when one of them misbehaves, so no child outlives the test."""
    for process in reversed(list(pipeline.processes.values())):
        try:
            process.stop()
        except Exception:
            with contextlib.suppress(Exception):
                process.kill()


@contextlib.contextmanager
def dedicated_noida(work: Path) -> Iterator[NoidaServer]:
    server = NoidaServer(work / "noida")
    server.start()
    try:
        yield server
    finally:
        server.kill()
        collect_leaked_sockets()


def stack_of(endpoints: Endpoints, data_dir: Path) -> stack.StackConfig:
    """The shared local stack (the ``endpoints`` fixture) as a ``StackConfig`` for a ``Pipeline``."""
    host, _, port = endpoints.kafka_bootstrap.rpartition(":")
    es_port = int(endpoints.elasticsearch_url.rsplit(":", 1)[1])
    return stack.StackConfig(data_dir, int(port), es_port, endpoints.smtp_port, host)


def e2e_notices(default: int) -> int:
    """Stream size; ``TB_E2E_NOTICES`` scales every fault test (the suite's defaults keep CI under its budget)."""
    return int(os.environ.get("TB_E2E_NOTICES", default))

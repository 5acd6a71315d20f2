"""``make demo``: the whole product end to end, bounded in time, with a summary whose numbers are counted.

    python -m localrun demo

What it does: reuses (or starts) the local stack, starts a dedicated SMTP sink writing the Maildir
``.data/demo/maildir`` (cleared first, open it with any mail client or ``ls``), starts the three services with a
fresh ``run_id`` (their own topics, indexes and consumer groups, so earlier runs cannot interfere), loads the demo
suppliers, publishes the demo notices and the real OCDS samples of ``../shared/data/ocds-samples/`` when present,
waits until every notice version has a shortlist and every due email is in the Maildir, and prints a summary whose
last line is one JSON object::

    {"notices": N, "dead_lettered": N, "shortlists": N, "emails": N, "duplicate_emails": N, "lost": N, "seconds": S}

Nothing in it is assumed: the notices and shortlists are read back from Kafka, the emails from the Maildir, and
duplicates are counted per idempotency key (the notifier's ``X-Tenderbridge-Key`` header, or the
key its ``notifications.events`` give for the email's ``Message-ID``, or at worst recipient + subject).

The pieces (``SmtpSink``, ``NoidaServer``, ``TopicTail``, ``Ledger``, ``wait_settled``) are also what the e2e
fault tests and ``python -m bench.soak`` drive, so the three report the same way.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localrun import stack
from localrun.pipeline import SERVICES, Pipeline, new_run_id, write_demo_data
from services.infra.net import free_port, port_free, port_open

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
#: The header the notifier puts the idempotency key in; the other names are accepted for robustness.
IDEMPOTENCY_HEADERS = ("X-Tenderbridge-Key", "X-Tenderbridge-Idempotency-Key", "X-Idempotency-Key", "Idempotency-Key")
TOPIC_FIELDS = (
    "notices",
    "notices_dlq",
    "profiles",
    "shortlists",
    "shortlists_dlq",
    "notifications",
    "notifications_dlq",
)


# --------------------------------------------------------------------------------------------------- servers


@dataclass
class SmtpSink:
    """An aiosmtpd server in this process (a thread) that writes every message to a Maildir.

    ``stop()`` then ``start()`` brings it back on the same port, which is how tests take SMTP "down for a while".
    A stop is a server going down for maintenance: for a moment every message gets ``421`` (RFC 5321 4.2.3, "service
    not available"), so no transaction is cut between the final "." and the reply, then the port closes and
    connections are refused. ``stop(abrupt=True)`` is a crash: sessions are cut wherever they are.
    """

    maildir: Path
    host: str = "127.0.0.1"
    port: int = 0
    _controller: Any = None
    _handler: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox

        class Sink(Mailbox):
            refusing = False

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if self.refusing:
                    return "421 4.3.2 System not accepting network messages"
                return str(await super().handle_DATA(server, session, envelope))

        for sub in ("tmp", "new", "cur"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        self._handler = Sink(self.maildir)
        self._controller = Controller(self._handler, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self, abrupt: bool = False) -> None:
        if self._controller is not None:
            if not abrupt:
                self._handler.refusing = True
                time.sleep(1.0)
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None


@dataclass
class NoidaServer:
    """A dedicated noida-db (Kafka + Elasticsearch) on its own ports and data dir, for tests that break it.

    ``kill()`` / ``terminate()`` and ``start()`` again reuse the same ports and data, as a restarted server would;
    ``stop_service("elasticsearch")`` takes one protocol away while the other keeps answering.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    kafka_port: int = 0
    elasticsearch_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def config(self, smtp_port: int = 0) -> stack.StackConfig:
        return stack.StackConfig(
            data_dir=self.data_dir,
            kafka_port=self.kafka_port,
            elasticsearch_port=self.elasticsearch_port,
            smtp_port=smtp_port,
            host=self.host,
        )

    def start(self, timeout: float = 60) -> None:
        if not self.kafka_port:
            self.kafka_port = free_port(self.host)
        if not self.elasticsearch_port:
            self.elasticsearch_port = free_port(self.host)
        cfg = self.config()
        (self.data_dir / "noida").mkdir(parents=True, exist_ok=True)
        self.proc = stack.spawn(stack.noida_command(cfg), self.data_dir / "noida.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"noida-db exited with {self.proc.returncode}; see {self.data_dir / 'noida.log'}")
            if stack.elasticsearch_ready(cfg) and stack.kafka_ready(cfg):
                return
            time.sleep(0.2)
        raise RuntimeError(f"noida-db did not answer within {timeout:.0f}s; see {self.data_dir / 'noida.log'}")

    def _signal(self, sig: signal.Signals, timeout: float = 20) -> None:
        if self.proc is None:
            return
        stack.stop_process(self.proc, sig, timeout)
        # The group is gone; the kernel may still hold the listening sockets for a moment.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (
            port_open(self.host, self.kafka_port) or port_open(self.host, self.elasticsearch_port)
        ):
            time.sleep(0.1)
        self.proc = None

    def terminate(self) -> None:
        """A clean stop (SIGTERM): what an operator's restart does."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """``kill -9`` of the whole server."""
        self._signal(signal.SIGKILL)

    def _service(self, command: str, service: str) -> None:
        subprocess.run(
            [stack.noida_binary(), command, service, "--data-dir", str(self.data_dir / "noida")],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def stop_service(self, service: str) -> None:
        self._service("stop", service)

    def start_service(self, service: str) -> None:
        self._service("start", service)


# ---------------------------------------------------------------------------------------------- reading back


def topic_names(pipeline: Pipeline) -> dict[str, str]:
    """The pipeline's topic names by settings field (``notices`` -> ``tenders.notices.<run_id>``)."""
    from services.infra.settings import CommonSettings

    env = pipeline.env()
    return {
        name: env.get(f"TB_TOPIC_{name.upper()}", str(CommonSettings.model_fields[f"topic_{name}"].default))
        for name in TOPIC_FIELDS
    }


def ensure_pipeline_topics(pipeline: Pipeline) -> None:
    """Create the run's topics with their contract specs, so that reading them back never auto-creates one."""
    from contracts import topics
    from services.infra.bus import ensure_topics

    specs = {
        "notices": topics.NOTICES,
        "notices_dlq": topics.NOTICES_DLQ,
        "profiles": topics.PROFILES,
        "shortlists": topics.SHORTLISTS,
        "shortlists_dlq": topics.SHORTLISTS_DLQ,
        "notifications": topics.NOTIFICATIONS,
        "notifications_dlq": topics.NOTIFICATIONS_DLQ,
    }
    names = topic_names(pipeline)
    ensure_topics(pipeline.cfg.kafka_bootstrap, [(names[f], specs[f]) for f in TOPIC_FIELDS])


def handled_up_to_now(pipeline: Pipeline, service: str, topic_field: str) -> bool:
    """True once the service's consumer group has committed, on every partition of the topic (a ``topic_names``
    field), at least the end offset the topic has now: everything published on it so far was handled (a consumer
    commits only after handling)."""
    return all_handled_up_to_now(pipeline, ((service, topic_field),))


def all_handled_up_to_now(pipeline: Pipeline, inputs: Iterable[tuple[str, str]]) -> bool:
    """``handled_up_to_now`` for several (service, topic field) pairs, over one consumer and one admin client."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    env = pipeline.env()
    names = topic_names(pipeline)
    bootstrap = pipeline.cfg.kafka_bootstrap.split(",")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for service, topic_field in inputs:
            group = env[f"TB_{service.upper()}_CONSUMER_GROUP"]
            topic = names[topic_field]
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            ends = consumer.end_offsets(partitions)
            # kafka-python 3 answers {group: {TopicPartition: OffsetAndMetadata}}.
            offsets = admin.list_group_offsets(group).get(group, {})
            done = {
                tp.partition: meta.offset
                for tp, meta in offsets.items()
                if isinstance(tp, TopicPartition) and tp.topic == topic
            }
            if not partitions or any(done.get(tp.partition, 0) < end for tp, end in ends.items()):
                return False
        return True
    finally:
        consumer.close()
        admin.close()


class TopicTail:
    """Reads topics from their beginning, then whatever arrives, without a consumer group (nothing committed).

    One consumer (one connection, one I/O thread) for every topic: the ledger reads seven topics every second while
    the services it watches share the same cores.
    """

    def __init__(self, bootstrap_servers: str, topics: Iterable[str]) -> None:
        from kafka import KafkaConsumer

        self.topics = list(topics)
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers.split(","),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            request_timeout_ms=15_000,
            reconnect_backoff_max_ms=1000,
        )
        self._assigned: set[str] = set()

    def _assign(self) -> None:
        """Assign the partitions of every topic that exists (a topic created later is picked up next call)."""
        from kafka import TopicPartition

        fresh: list[Any] = []
        for topic in self.topics:
            if topic in self._assigned:
                continue
            partitions = self._consumer.partitions_for_topic(topic)
            if partitions:
                fresh.extend(TopicPartition(topic, p) for p in sorted(partitions))
                self._assigned.add(topic)
        if fresh:
            self._consumer.assign([*self._consumer.assignment(), *fresh])
            self._consumer.seek_to_beginning(*fresh)

    def poll(self, rounds: int = 20) -> dict[str, list[tuple[str | None, bytes | None]]]:
        """What arrived since the last call, by topic, as (key, value); a tombstone has value ``None``."""
        from kafka.errors import KafkaError

        out: dict[str, list[tuple[str | None, bytes | None]]] = {topic: [] for topic in self.topics}
        try:
            if len(self._assigned) < len(self.topics):
                self._assign()
            if not self._assigned:
                return out
            # Up to the ends the topics have now: right after an assignment the first fetches can come back empty
            # while the consumer still looks up where the beginning is, so an empty poll alone does not mean done.
            assigned = list(self._consumer.assignment())
            ends = self._consumer.end_offsets(assigned)
            for _ in range(rounds):
                # Short polls: the local server answers an empty fetch at once, so a long one only spins.
                batch = self._consumer.poll(timeout_ms=50, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        key = record.key.decode("utf-8", errors="replace") if record.key is not None else None
                        out[tp.topic].append((key, record.value))
                if not batch and all(self._consumer.position(tp) >= ends.get(tp, 0) for tp in assigned):
                    break
        except (KafkaError, OSError):
            # The broker is being restarted by a test: what was read so far stays, the rest comes next call.
            pass
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._consumer.close()


def _loads(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


@dataclass
class MailRecord:
    key: str | None
    message_id: str | None
    recipients: str
    subject: str


def read_mail(path: Path) -> MailRecord:
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    with open(path, "rb") as fh:
        headers = parser.parse(fh)
    key = None
    for name in IDEMPOTENCY_HEADERS:
        if headers.get(name):
            key = str(headers[name]).strip()
            break
    if key is None:
        for name, value in headers.items():
            if "idempotency" in name.lower():
                key = str(value).strip()
                break
    message_id = headers.get("Message-ID")
    return MailRecord(
        key=key,
        message_id=str(message_id).strip() if message_id else None,
        recipients=str(headers.get("To", "")),
        subject=str(headers.get("Subject", "")),
    )


@dataclass
class ShortlistSeen:
    notice_id: str
    version: int
    status: str
    entries: set[str] = field(default_factory=set)
    previously: set[str] = field(default_factory=set)
    publications: int = 0


@dataclass
class Summary:
    notices: int
    dead_lettered: int
    shortlists: int
    emails: int
    duplicate_emails: int
    lost: int
    seconds: float
    #: Details for people (not in the JSON line).
    lost_notices: list[str] = field(default_factory=list)
    lost_emails: list[str] = field(default_factory=list)
    #: Due emails not in the Maildir but reported ``sent`` ``unconfirmed`` (the notifier died between recording
    #: ``committing`` and the final "." reaching the server): the at-most-once window, reported, not lost silently.
    unconfirmed_undelivered: list[str] = field(default_factory=list)
    missing_inputs: list[str] = field(default_factory=list)
    due_emails: int = 0
    skipped_emails: int = 0
    parked_emails: int = 0
    unexpected_emails: int = 0
    unkeyed_emails: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    event_statuses: dict[str, int] = field(default_factory=dict)
    email_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return self.lost == 0

    def json_line(self) -> str:
        return json.dumps(
            {
                "notices": self.notices,
                "dead_lettered": self.dead_lettered,
                "shortlists": self.shortlists,
                "emails": self.emails,
                "duplicate_emails": self.duplicate_emails,
                "lost": self.lost,
                "seconds": round(self.seconds, 1),
            }
        )

    def human(self) -> str:
        lines = [
            f"notice versions on the notices topic   {self.notices}",
            f"dead-lettered (with a reason)          {self.dead_lettered}  {dict(self.dead_letter_reasons)}",
            f"shortlists (notice versions matched)   {self.shortlists}",
            f"emails in the Maildir                  {self.emails}  by kind {dict(self.email_kinds)}",
            f"  due (immediate alerts, counted)      {self.due_emails}",
            f"  skipped on purpose (events)          {self.skipped_emails}",
            f"  parked on the dead-letter topic      {self.parked_emails}",
            f"  not due but sent (digests etc.)      {self.unexpected_emails}",
            f"  without an idempotency header        {self.unkeyed_emails}",
            f"  reported unconfirmed, not delivered  {len(self.unconfirmed_undelivered)}",
            f"duplicate emails                       {self.duplicate_emails}",
            f"notification events by status         {dict(self.event_statuses)}",
            f"lost (not shortlisted / not delivered) {self.lost}",
        ]
        for label, items in (
            ("notices without a shortlist", self.lost_notices),
            ("due emails not delivered", self.lost_emails),
            ("input notices neither published nor dead-lettered", self.missing_inputs),
        ):
            if items:
                lines.append(f"  {label}: {len(items)}, e.g. {items[:5]}")
        return "\n".join(lines)


class Ledger:
    """Everything the pipeline produced, read back from Kafka and the Maildir, and what was due."""

    def __init__(self, bootstrap_servers: str, topics: dict[str, str], maildir: Path) -> None:
        self.topics = topics
        self.maildir = maildir
        self._tail = TopicTail(bootstrap_servers, topics.values())
        self.notices: dict[tuple[str, int], str] = {}
        self.notice_payload_ids: set[str] = set()
        self.notices_dlq: list[dict[str, Any]] = []
        self.shortlists: dict[str, ShortlistSeen] = {}
        self.shortlists_dlq: list[dict[str, Any]] = []
        self.profiles: dict[str, dict[str, Any] | None] = {}
        self.events: dict[str, list[str]] = {}
        #: Keys reported ``sent`` with ``reason=unconfirmed``: a notifier died between recording ``committing`` and
        #: knowing whether the server took the message; presumed delivered, not sent again (the documented
        #: at-most-once window).
        self.unconfirmed: set[str] = set()
        self.event_statuses: Counter[str] = Counter()
        self.message_keys: dict[str, str] = {}
        self.notifications_dlq: list[dict[str, Any]] = []
        self.mails: dict[str, MailRecord] = {}
        self.expected_inputs: set[str] = set()
        self.started = time.monotonic()

    def close(self) -> None:
        self._tail.close()

    # -- reading
    def refresh(self) -> None:
        arrived = self._tail.poll()
        for _, value in arrived[self.topics["notices"]]:
            doc = _loads(value)
            if isinstance(doc, dict) and "notice_id" in doc:
                self.notices[(str(doc["notice_id"]), int(doc.get("version", 1)))] = str(doc.get("status", "active"))
        for _, value in arrived[self.topics["notices_dlq"]]:
            doc = _loads(value)
            if isinstance(doc, dict):
                self.notices_dlq.append(doc)
        for _, value in arrived[self.topics["shortlists"]]:
            doc = _loads(value)
            if not isinstance(doc, dict):
                continue
            sid = str(doc.get("shortlist_id") or f"{doc.get('notice_id')}@{doc.get('notice_version')}")
            seen = self.shortlists.setdefault(
                sid,
                ShortlistSeen(str(doc.get("notice_id")), int(doc.get("notice_version", 1)), ""),
            )
            seen.status = str(doc.get("notice_status", "active"))
            seen.entries |= {str(e.get("supplier_id")) for e in doc.get("entries", [])}
            seen.previously |= {str(s) for s in doc.get("previously_shortlisted", [])}
            seen.publications += 1
        for _, value in arrived[self.topics["shortlists_dlq"]]:
            doc = _loads(value)
            if isinstance(doc, dict):
                self.shortlists_dlq.append(doc)
        for key, value in arrived[self.topics["profiles"]]:
            if key is not None:
                doc = _loads(value)
                self.profiles[key] = doc if isinstance(doc, dict) else None
        for _, value in arrived[self.topics["notifications"]]:
            doc = _loads(value)
            if not isinstance(doc, dict) or "idempotency_key" not in doc:
                continue
            ikey = str(doc["idempotency_key"])
            status = str(doc.get("status"))
            self.events.setdefault(ikey, []).append(status)
            self.event_statuses[status] += 1
            if status == "sent" and doc.get("reason") == "unconfirmed":
                self.unconfirmed.add(ikey)
            if doc.get("message_id"):
                self.message_keys[str(doc["message_id"]).strip()] = ikey
        for _, value in arrived[self.topics["notifications_dlq"]]:
            doc = _loads(value)
            if isinstance(doc, dict):
                self.notifications_dlq.append(doc)
        for sub in ("new", "cur"):
            folder = self.maildir / sub
            if not folder.exists():
                continue
            for entry in os.scandir(folder):
                if entry.name not in self.mails:
                    with contextlib.suppress(OSError):
                        self.mails[entry.name] = read_mail(Path(entry.path))

    # -- what was due
    def _alertable(self, supplier_id: str) -> bool:
        profile = self.profiles.get(supplier_id)
        if not profile or not profile.get("emails"):
            return False
        prefs = profile.get("preferences") or {}
        return prefs.get("frequency", "immediate") == "immediate" and not prefs.get("unsubscribed", False)

    def due_keys(self) -> set[str]:
        """The immediate emails the shortlists call for (RFC-free restatement of the notifier's rules):
        a new match for each alertable supplier on an active shortlist; for an amended notice, an amendment to
        the suppliers already alerted and a new match to the others; for a cancelled one, a cancellation to the
        suppliers already alerted."""
        by_notice: dict[str, list[ShortlistSeen]] = {}
        for seen in self.shortlists.values():
            by_notice.setdefault(seen.notice_id, []).append(seen)
        due: set[str] = set()
        for notice_id, versions in by_notice.items():
            alerted: set[str] = set()
            for seen in sorted(versions, key=lambda s: s.version):
                everyone = seen.entries | seen.previously
                if seen.status == "cancelled":
                    targets = {(s, "cancellation") for s in everyone & alerted}
                elif seen.status == "amended":
                    targets = {(s, "amendment") for s in everyone & alerted} | {
                        (s, "new_match") for s in seen.entries - alerted
                    }
                else:
                    targets = {(s, "new_match") for s in seen.entries - alerted} | {
                        (s, "amendment") for s in seen.entries & alerted
                    }
                for supplier_id, kind in targets:
                    if self._alertable(supplier_id):
                        due.add(f"{supplier_id}|{notice_id}|{seen.version}|{kind}")
                        alerted.add(supplier_id)
        return due

    def mail_keys(self) -> tuple[Counter[str], int]:
        counts: Counter[str] = Counter()
        unkeyed = 0
        for mail in self.mails.values():
            key = mail.key or (self.message_keys.get(mail.message_id) if mail.message_id else None)
            if key is None:
                unkeyed += 1
                key = f"{mail.recipients}|{mail.subject}"
            counts[key] += 1
        return counts, unkeyed

    def summary(self) -> Summary:
        dlq_reasons: Counter[str] = Counter(str(d.get("reason")) for d in self.notices_dlq + self.shortlists_dlq)
        shortlisted = {(s.notice_id, s.version) for s in self.shortlists.values()}
        shortlist_dlq_keys = {str(d.get("key")) for d in self.shortlists_dlq}
        lost_notices = sorted(
            f"{nid}@{v}"
            for nid, v in self.notices
            if (nid, v) not in shortlisted and nid not in shortlist_dlq_keys and f"{nid}@{v}" not in shortlist_dlq_keys
        )
        published_ids = {nid for nid, _ in self.notices}
        missing_inputs: list[str] = []
        if self.expected_inputs - published_ids:
            dlq_text = "\n".join(f"{d.get('key')}\n{d.get('payload')}" for d in self.notices_dlq)
            missing_inputs = sorted(
                i
                for i in self.expected_inputs - published_ids
                if i not in dlq_text and i.split(":", 1)[-1] not in dlq_text
            )
        mail_counts, unkeyed = self.mail_keys()
        due = self.due_keys()
        skipped = {k for k, statuses in self.events.items() if "skipped" in statuses}
        parked = {k for k, statuses in self.events.items() if "parked" in statuses}
        parked |= {str(d.get("key")) for d in self.notifications_dlq}
        undelivered = due - set(mail_counts) - skipped - parked
        # Reported, not silent: a due email whose notifier died inside the at-most-once window is not lost.
        reported = sorted(undelivered & self.unconfirmed)
        lost_emails = sorted(undelivered - self.unconfirmed)
        kinds = Counter(k.rsplit("|", 1)[-1] if k.count("|") == 3 else "other" for k in mail_counts)
        return Summary(
            notices=len(self.notices),
            dead_lettered=len(self.notices_dlq) + len(self.shortlists_dlq),
            shortlists=len(shortlisted),
            emails=sum(mail_counts.values()),
            duplicate_emails=sum(c - 1 for c in mail_counts.values() if c > 1),
            lost=len(lost_notices) + len(lost_emails) + len(missing_inputs),
            seconds=time.monotonic() - self.started,
            lost_notices=lost_notices,
            lost_emails=lost_emails,
            unconfirmed_undelivered=reported,
            missing_inputs=missing_inputs,
            due_emails=len(due),
            skipped_emails=len(due & skipped),
            parked_emails=len(parked),
            unexpected_emails=len(set(mail_counts) - due),
            unkeyed_emails=unkeyed,
            dead_letter_reasons=dict(dlq_reasons),
            event_statuses=dict(self.event_statuses),
            email_kinds=dict(kinds),
        )


def wait_settled(
    ledger: Ledger,
    timeout: float,
    quiet: float = 3.0,
    min_notices: int = 1,
    progress: Callable[[Summary], None] | None = None,
    interval: float = 1.0,
    tick: Callable[[], None] | None = None,
    idle: Callable[[], bool] | None = None,
) -> Summary:
    """Poll until nothing is lost and nothing new arrived for ``quiet`` seconds (late duplicates would show up
    then), or until ``timeout``; return the last summary either way.

    With ``idle`` (true once every consumer has committed its input up to the end: ``all_handled_up_to_now``), the
    wait ends sooner: nothing lost, the services idle, and one more read back changes nothing. A consumer commits
    only after it has flushed what it produced and the SMTP server has taken its emails, so what an idle pipeline
    made is already on the topics and in the Maildir; nothing is left to arrive later."""
    deadline = time.monotonic() + timeout
    last_change = time.monotonic()
    last_state: tuple[int, ...] = ()
    summary = ledger.summary()

    def state_of(s: Summary) -> tuple[int, ...]:
        return (s.notices, s.shortlists, s.emails, s.dead_lettered, len(ledger.events))

    while True:
        if tick is not None:
            tick()
        ledger.refresh()
        summary = ledger.summary()
        state = state_of(summary)
        now = time.monotonic()
        if state != last_state:
            last_state, last_change = state, now
            if progress is not None:
                progress(summary)
        if summary.settled and summary.notices >= min_notices:
            if now - last_change >= quiet:
                return summary
            if idle is not None and idle():
                ledger.refresh()
                again = ledger.summary()
                if state_of(again) == state and again.settled:
                    return again
        if now >= deadline:
            return summary
        time.sleep(interval)


class Supervisor:
    """Restarts a service whose process exited, as ``restart: unless-stopped`` does in docker-compose: the
    services crash on purpose on unexpected errors (a broker that went away) and rely on being restarted."""

    def __init__(self, pipeline: Pipeline, max_restarts: int = 10, say: Callable[[str], None] | None = None) -> None:
        self.pipeline = pipeline
        self.max_restarts = max_restarts
        self.restarts: Counter[str] = Counter()
        self.say = say

    def __call__(self) -> None:
        for name, process in self.pipeline.processes.items():
            if process.proc is None or process.proc.poll() is None:
                continue
            if self.restarts[name] >= self.max_restarts:
                raise RuntimeError(f"{name} keeps exiting ({self.restarts[name]} restarts); see {process.log_path}")
            self.restarts[name] += 1
            if self.say is not None:
                self.say(
                    f"  {name} exited with {process.proc.returncode}: restarting it (restart {self.restarts[name]})"
                )
            process.start()
            process.wait_healthy(timeout=60)


# --------------------------------------------------------------------------------------------------- the demo


def write_jsonl(path: Path, docs: Iterable[str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(doc.rstrip("\n") + "\n")
            n += 1
    return n


def notice_ids_in(path: Path) -> set[str]:
    out: set[str] = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                doc = json.loads(line)
                out.add(str(doc["notice_id"]))
    return out


def service_ports() -> dict[str, int]:
    """The usual ports when they are free (so the URLs are the documented ones), otherwise free ones."""
    return {name: port if port_free(port) else free_port() for name, port in SERVICES.items()}


#: The demo's notifier settings: its SMTP server is the sink in this process, on loopback, which takes hundreds of
#: messages a second; the product's default rate (50/s, a provider's quota) would make the demo wait on a limit that
#: no real relay of its own has. Everything else runs with the product's defaults.
DEMO_ENV = {"TB_NOTIFIER_RATE_LIMIT_PER_S": "1000"}
#: Consumer groups and the input each commits: all committed to the end means the pipeline has nothing left to do.
PIPELINE_INPUTS = (("matcher", "notices"), ("notifier", "shortlists"))


class Timeline:
    """When each stage of a run ended, printed as it happens and as a table at the end (where the time went)."""

    def __init__(self, began: float) -> None:
        self.began = began
        self.stages: list[tuple[str, float]] = []

    def mark(self, stage: str, at: float | None = None, say: bool = True) -> None:
        at = time.monotonic() if at is None else at
        self.stages.append((stage, at))
        if say:
            print(f"  {at - self.began:5.1f}s  {stage}", flush=True)

    def table(self) -> str:
        lines = ["timeline (seconds since start, and since the stage before):"]
        previous = self.began
        for stage, at in sorted(self.stages, key=lambda item: item[1]):
            lines.append(f"  {at - self.began:6.1f}  +{at - previous:5.1f}  {stage}")
            previous = at
        return "\n".join(lines)


def run_demo(
    suppliers: int = 300,
    notices: int = 200,
    timeout: float | None = None,
    ocds: Path | None = SHARED_DATA / "ocds-samples",
    work_dir: Path | None = None,
    label: str = "demo",
) -> int:
    """``make demo``: exit status 0 only when nothing is lost and no email is duplicated.

    The run is bounded by ``TB_DEMO_TIMEOUT_S`` seconds (170 by default, so ``make demo`` ends within 3 minutes);
    whatever is not shortlisted or delivered by then counts as lost."""
    if timeout is None:
        timeout = float(os.environ.get("TB_DEMO_TIMEOUT_S", "170"))
    status, _ = run_pipeline(suppliers, notices, timeout, ocds, work_dir, label, extra_env=DEMO_ENV)
    return status


def run_pipeline(
    suppliers: int,
    notices: int,
    timeout: float,
    ocds: Path | None,
    work_dir: Path | None,
    label: str,
    extra_env: dict[str, str] | None = None,
) -> tuple[int, Summary | None]:
    """The demo at any size (``bench.soak`` runs it at 10,000 notices): the exit status and the summary.

    What does not depend on another step overlaps it: the demo data is written while the server starts; notifier
    and ingest start while the suppliers are imported and the notices published (the notices wait on their topic);
    the matcher, which fits its model over the suppliers as it starts, starts once they are imported."""
    began = time.monotonic()
    timeline = Timeline(began)
    base = work_dir or stack.StackConfig.from_env().data_dir / label
    maildir = base / "maildir"
    data = base / "data"
    # A fresh Kafka + Elasticsearch server of the run's own: the demo measures the product, not whatever earlier
    # runs and tests left in the shared local stack (noida-db slows down as its data grows).
    shutil.rmtree(base / "server", ignore_errors=True)
    server = NoidaServer(base / "server")
    print(f"tenderbridge {label}: starting a fresh local Kafka + Elasticsearch server in {server.data_dir}...")
    print(f"writing demo data ({suppliers} suppliers, {notices} notices) to {data}...", flush=True)
    shutil.rmtree(maildir, ignore_errors=True)
    sink = SmtpSink(maildir)
    run_id = new_run_id()
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=label)
    pipeline: Pipeline | None = None
    ledger: Ledger | None = None
    try:
        writing = pool.submit(write_demo_data, data, suppliers, notices, 120)
        server.start()
        cfg = server.config()
        timeline.mark("Kafka + Elasticsearch server answering")
        sink.start()
        pipeline = Pipeline(
            cfg,
            base / f"run-{run_id}",
            run_id=run_id,
            smtp_port=sink.port,
            ports=service_ports(),
            extra_env=dict(extra_env or {}),
        )
        ensure_pipeline_topics(pipeline)
        ledger = Ledger(cfg.kafka_bootstrap, topic_names(pipeline), maildir)
        ledger.started = began
        print(f"starting notifier and ingest (run {run_id}, logs in {pipeline.work_dir / 'logs'})...", flush=True)
        pipeline.launch(("notifier", "ingest"))
        writing.result()
        timeline.mark("demo data written")
        ledger.expected_inputs = notice_ids_in(data / "notices.jsonl")
        publishing = pool.submit(publish_inputs, pipeline, data, ocds, timeline)
        # Suppliers before the matcher starts: it fits its scoring model over them as it starts, so the notices are
        # ranked with it (a matcher started before them would rank with the configured weights until its next refit).
        print("importing suppliers...", flush=True)
        pipeline.cli("matcher", "import-suppliers", str(data / "suppliers.jsonl"))
        timeline.mark("suppliers imported")
        print("starting the matcher...", flush=True)
        pipeline.launch(("matcher",))
        publishing.result()
        pipeline.wait_healthy()
        timeline.mark("matcher, notifier and ingest answering /healthz")
        seen: dict[str, float] = {}

        def progress(s: Summary) -> None:
            now = time.monotonic()
            for what, count in (("shortlist", s.shortlists), ("email", s.emails)):
                if count:
                    seen.setdefault(f"first {what}", now)
                    if count != seen.get(f"{what}s", -1):
                        seen[f"{what}s"], seen[f"last {what}"] = count, now
            print(
                f"  {now - began:5.1f}s  notices {s.notices}  shortlists {s.shortlists}  "
                f"dead-lettered {s.dead_lettered}  emails {s.emails}/{s.due_emails} due  still missing {s.lost}",
                flush=True,
            )

        remaining = max(5.0, timeout - (time.monotonic() - began))
        supervisor = Supervisor(pipeline, say=lambda line: print(line, flush=True))
        settled_pipeline = pipeline
        summary = wait_settled(
            ledger,
            remaining,
            progress=progress,
            tick=supervisor,
            idle=lambda: all_handled_up_to_now(settled_pipeline, PIPELINE_INPUTS),
        )
        for stage in ("first shortlist", "last shortlist", "first email", "last email"):
            if stage in seen:
                timeline.mark(f"{stage} read back", at=seen[stage], say=False)
        settled = "settled: nothing lost, every consumer caught up"
        timeline.mark(settled if summary.settled else "timed out (TB_DEMO_TIMEOUT_S)", say=False)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, RuntimeError) as exc:
        detail = getattr(exc, "stderr", None) or ""
        print(f"{label} failed: {exc}\n{str(detail)[-2000:]}", file=sys.stderr, flush=True)
        if ledger is not None:
            partial = ledger.summary()
            partial.seconds = time.monotonic() - began
            print(partial.human())
            print(partial.json_line(), flush=True)
            return 1, partial
        return 1, None
    finally:
        if pipeline is not None:
            pipeline.stop()  # first: it kills the commands the pool's threads wait on
        pool.shutdown(wait=True, cancel_futures=True)
        if ledger is not None:
            ledger.close()
        sink.stop()
        server.terminate()
    summary.seconds = time.monotonic() - began
    timeline.mark("services and servers stopped", say=False)
    print()
    print(timeline.table())
    print(summary.human())
    print(f"emails for people to read: {maildir / 'new'}")
    print(summary.json_line(), flush=True)
    return (0 if summary.lost == 0 and summary.duplicate_emails == 0 else 1), summary


def publish_inputs(pipeline: Pipeline, data: Path, ocds: Path | None, timeline: Timeline) -> None:
    """Publish the demo notices, then the OCDS samples when present, through ingest's CLI (one after the other:
    both record what they published in ingest's state)."""
    print("publishing the demo notices...", flush=True)
    pipeline.cli("ingest", "publish", str(data / "notices.jsonl"), "--source", "jsonl")
    timeline.mark("demo notices published")
    if ocds is not None and ocds.exists():
        print(f"publishing the real OCDS samples of {ocds}...", flush=True)
        pipeline.cli("ingest", "publish", str(ocds), "--source", "ocds")
        timeline.mark("OCDS samples published")

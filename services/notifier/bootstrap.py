"""Wiring: ``bootstrap(settings)`` builds the notifier over Elasticsearch, SMTP, Kafka and the matcher's API (with
the Kafka consumer and profile feed its worker runs on); ``bootstrap_in_memory`` builds the same notifier over the
in-memory fakes (unit tests). Both go through ``_notifier``, the one place a ``Notifier`` is assembled. Nothing is
connected at import time. The wiring points one way, as the matcher's: the entrypoints build the worker and the HTTP
app from what the ``Container`` holds (``entrypoints.worker.worker_for``, ``entrypoints.http.app_for``); this module
imports no entrypoint."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from services.infra.bus import EventPublisher, InMemoryPublisher, KafkaPublisher, ensure_topics, json_consumer
from services.infra.net import port_open
from services.notifier.adapters import memory
from services.notifier.adapters.mail import SmtpMailSender
from services.notifier.alerts import Alerts
from services.notifier.confirmations import Confirmations
from services.notifier.delivery import Delivery
from services.notifier.digests import Digests
from services.notifier.domain import tokens
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.domain.reasons import CodeTitles
from services.notifier.domain.tokens import Signer
from services.notifier.exceptions import ShuttingDown
from services.notifier.feedback import SupplierFeedback
from services.notifier.metrics import Metrics
from services.notifier.ports import MailSender, NotificationStore, PreferencesClient, ProfileFeed
from services.notifier.service import Notifier
from services.notifier.settings import Settings
from services.notifier.subscriptions import Subscriptions, SupplierLocks

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def smtp_sender(settings: Settings, reuse_connection: bool = True) -> SmtpMailSender:
    return SmtpMailSender(
        settings.notifier_smtp_host,
        settings.notifier_smtp_port,
        starttls=settings.notifier_smtp_starttls,
        implicit_tls=settings.notifier_smtp_tls,
        user=settings.notifier_smtp_user,
        password=settings.notifier_smtp_password.get_secret_value() if settings.notifier_smtp_password else None,
        timeout_s=settings.notifier_smtp_timeout_s,
        rate_limit_per_s=settings.notifier_rate_limit_per_s,
        reuse_connection=reuse_connection,
        ca_file=settings.notifier_smtp_ca_file,
        connections=settings.notifier_smtp_connections,
    )


def signer(settings: Settings, clock: Callable[[], datetime] = _now) -> Signer:
    """The links of this deployment, signed with ``TB_NOTIFIER_UNSUBSCRIBE_SECRET``, each opening for its purpose's
    lifetime (``TB_NOTIFIER_ALERT_LINK_DAYS``, ``TB_NOTIFIER_CONFIRMATION_LINK_DAYS``)."""
    alert_links = timedelta(days=settings.notifier_alert_link_days)
    return Signer(
        settings.notifier_unsubscribe_secret.get_secret_value().encode(),
        settings.notifier_public_url,
        settings.notifier_notice_url_template,
        lifetimes={
            tokens.UNSUBSCRIBE: alert_links,
            tokens.PREFERENCES: alert_links,
            tokens.NOT_RELEVANT: alert_links,
            tokens.CONFIRM: timedelta(days=settings.notifier_confirmation_link_days),
        },
        clock=clock,
    )


@dataclass
class Container:
    settings: Settings
    notifier: Notifier
    registry: CollectorRegistry
    #: The adapters' readiness (the worker adds its own, ``entrypoints.http.app_for``).
    ready: Callable[[], dict[str, bool]]
    publisher: EventPublisher
    #: The Kafka consumer of ``matches.shortlists`` and the profile feed the worker runs on (None in memory: tests
    #: call the use cases themselves or build a worker over fakes).
    consumer: Any = None
    feed: ProfileFeed | None = None
    #: Set to stop the worker (and any retry backoff it is waiting in).
    stop: threading.Event = field(default_factory=threading.Event)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # closing is best effort; the process is ending anyway
                log.warning("error while closing", exc_info=True)


def _notifier(
    settings: Settings,
    *,
    store: NotificationStore,
    mail: MailSender,
    publisher: EventPublisher,
    profiles: ProfileDirectory,
    matcher: PreferencesClient,
    code_titles: CodeTitles,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    rng: random.Random,
    instance_id: str,
) -> Notifier:
    """The one place a ``Notifier`` is built from settings, whatever its adapters."""
    metrics = Metrics()
    links = signer(settings, clock)
    locks = SupplierLocks()
    delivery = Delivery(settings, store, mail, publisher, metrics, links, clock, sleep, rng, instance_id)
    return Notifier(
        settings=settings,
        profiles=profiles,
        metrics=metrics,
        signer=links,
        matcher=matcher,
        code_titles=code_titles,
        delivery=delivery,
        alerts=Alerts(delivery, store, profiles, metrics, links, code_titles, clock),
        digests=Digests(settings, delivery, store, profiles, metrics, links, code_titles, clock),
        confirmations=Confirmations(settings, delivery, store, profiles, matcher, metrics, links, locks, clock),
        subscriptions=Subscriptions(store, profiles, matcher, metrics, locks, clock),
        feedback=SupplierFeedback(publisher, settings.topic_feedback, clock),
    )


def bootstrap_in_memory(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = _now,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    instance_id: str = "memory",
    store: NotificationStore | None = None,
    mail: MailSender | None = None,
    publisher: EventPublisher | None = None,
    profiles: ProfileDirectory | None = None,
    matcher: PreferencesClient | None = None,
    code_titles: CodeTitles | None = None,
) -> Container:
    """The notifier over the in-memory fakes (unit tests); pass the same fakes to two calls for two instances that
    share a store, a mailbox and a matcher."""
    settings = settings or Settings()
    publisher = publisher if publisher is not None else InMemoryPublisher()
    notifier = _notifier(
        settings,
        store=store if store is not None else memory.InMemoryNotificationStore(),
        mail=mail if mail is not None else memory.InMemoryMailSender(),
        publisher=publisher,
        profiles=profiles if profiles is not None else ProfileDirectory(),
        matcher=matcher if matcher is not None else memory.InMemoryPreferencesClient(),
        code_titles=code_titles or {},
        clock=clock,
        sleep=sleep,
        rng=rng or random.Random(),
        instance_id=instance_id,
    )

    def ready() -> dict[str, bool]:
        return {"memory": True}

    return Container(settings, notifier, notifier.metrics.registry, ready, publisher)


def bootstrap(
    settings: Settings | None = None,
    instance_id: str | None = None,
    *,
    clock: Callable[[], datetime] = _now,
    mail: MailSender | None = None,
    matcher: PreferencesClient | None = None,
) -> Container:
    """The notifier over Elasticsearch, SMTP, Kafka and the matcher's HTTP API (topics and indexes created when
    missing), with the consumer and feed of its worker; ``mail`` and ``matcher`` replace those two adapters
    (benchmarks)."""
    from elasticsearch import Elasticsearch

    from services.notifier.adapters.code_lists import load_code_titles
    from services.notifier.adapters.matcher import HttpPreferencesClient
    from services.notifier.adapters.profiles import KafkaProfileFeed
    from services.notifier.adapters.store import ElasticsearchNotificationStore

    settings = settings or Settings()
    if settings.create_topics:
        ensure_topics(settings.kafka_bootstrap_servers, settings.topic_map().items())
    es = Elasticsearch(settings.elasticsearch_url, request_timeout=30)
    store = ElasticsearchNotificationStore(es, settings.notifications_index, settings.unsubscribes_index)
    store.ensure_indexes()
    closers: list[Callable[[], None]] = [es.close]
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, client_id="notifier")
    closers.append(publisher.close)
    profiles = ProfileDirectory()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise ShuttingDown("stop requested during a retry backoff")

    if matcher is None:
        key = settings.notifier_matcher_api_key
        http_matcher = HttpPreferencesClient(settings.notifier_matcher_url, key.get_secret_value() if key else None)
        closers.append(http_matcher.close)
        matcher = http_matcher
    sender = mail if mail is not None else smtp_sender(settings)
    closers.append(sender.close)
    member = instance_id or settings.notifier_instance_id
    notifier = _notifier(
        settings,
        store=store,
        mail=sender,
        publisher=publisher,
        profiles=profiles,
        matcher=matcher,
        code_titles=load_code_titles(Path(p.strip()) for p in settings.notifier_code_lists.split(",") if p.strip()),
        clock=clock,
        sleep=sleep,
        rng=random.Random(),
        instance_id=member,
    )
    static: dict[str, str] = (
        {"group_instance_id": f"{settings.notifier_consumer_group}-{member}"[:249]}
        if settings.notifier_static_membership
        else {}
    )
    consumer = json_consumer(
        settings.kafka_bootstrap_servers,
        [settings.topic_shortlists],
        settings.notifier_consumer_group,
        client_id="notifier",
        # A batch may wait for SMTP retries; allow for it before the group evicts us.
        max_poll_records=50,
        max_poll_interval_ms=600_000,
        **static,
    )
    feed = KafkaProfileFeed(settings.kafka_bootstrap_servers, settings.topic_profiles, profiles, "notifier-profiles")

    def ready() -> dict[str, bool]:
        return {
            "elasticsearch": store.ping(),
            "smtp": port_open(settings.notifier_smtp_host, settings.notifier_smtp_port),
        }

    return Container(settings, notifier, notifier.metrics.registry, ready, publisher, consumer, feed, stop, closers)

"""The notifier's unit-test rig: the in-memory bootstrap over fakes a test can reach into (one store, mailbox,
publisher, profile directory and matcher shared by every instance it builds), on a clock the test moves; and the
helpers that read what came out. The ``rig`` fixture is in ``conftest.py``."""

from __future__ import annotations

import random
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import StarletteDeprecationWarning

from contracts import DeadLetter, NotificationEvent, SupplierProfile
from contracts.supplier import EmailConfirmation
from services.infra.bus import InMemoryPublisher
from services.notifier.adapters.memory import InMemoryMailSender, InMemoryNotificationStore, InMemoryPreferencesClient
from services.notifier.bootstrap import Container, bootstrap_in_memory
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.entrypoints.http import app_for
from services.notifier.service import Notifier
from services.notifier.settings import Settings
from tests.unit.notifier.factories import NOW, profile

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


class Crash(BaseException):
    """The process dies here (kill -9): nothing after this line runs."""


@dataclass
class Rig:
    settings: Settings
    store: InMemoryNotificationStore = field(default_factory=InMemoryNotificationStore)
    mail: InMemoryMailSender = field(default_factory=InMemoryMailSender)
    publisher: InMemoryPublisher = field(default_factory=InMemoryPublisher)
    profiles: ProfileDirectory = field(default_factory=ProfileDirectory)
    matcher: InMemoryPreferencesClient = field(default_factory=InMemoryPreferencesClient)
    now: datetime = NOW
    sleeps: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.matcher.clock = lambda: self.now  # the matcher stamps what it saves, on the test's clock

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)

    def container(self, instance_id: str = "n1", sleep: Callable[[float], None] | None = None) -> Container:
        """One notifier instance over the rig's fakes (``bootstrap_in_memory``), with its HTTP app."""
        return bootstrap_in_memory(
            self.settings,
            clock=lambda: self.now,
            sleep=sleep or self.sleep,
            rng=random.Random(1),
            instance_id=instance_id,
            store=self.store,
            mail=self.mail,
            publisher=self.publisher,
            profiles=self.profiles,
            matcher=self.matcher,
        )

    def notifier(self, instance_id: str = "n1", sleep: Callable[[float], None] | None = None) -> Notifier:
        return self.container(instance_id, sleep).notifier

    def add(self, *profiles: SupplierProfile) -> None:
        for p in profiles:
            self.profiles.put(p)

    def events(self) -> list[NotificationEvent]:
        self.publisher.flush()
        return [e for e in self.publisher.on(self.settings.topic_notifications) if isinstance(e, NotificationEvent)]

    def statuses(self) -> list[tuple[str, str]]:
        return [(e.idempotency_key, e.status.value) for e in self.events()]

    def dead_letters(self) -> list[DeadLetter]:
        self.publisher.flush()
        return [d for d in self.publisher.on(self.settings.topic_notifications_dlq) if isinstance(d, DeadLetter)]

    def keys_sent(self) -> list[str]:
        return [str(m["X-Tenderbridge-Key"]) for m in self.mail.sent]


def unit_settings(**overrides: Any) -> Settings:
    """The notifier's settings for unit tests: four attempts, 1-5 s backoff (on the fake clock), fixed secret."""
    options: dict[str, Any] = {
        "notifier_max_attempts": 4,
        "notifier_backoff_base_s": 1.0,
        "notifier_backoff_max_s": 5.0,
        "notifier_unsubscribe_secret": "unit-secret",
        "notifier_public_url": "https://alerts.example.org",
    }
    return Settings(**{**options, **overrides})


def http(rig: Rig) -> tuple[Notifier, TestClient]:
    """A notifier instance and a client of its HTTP app."""
    container = rig.container()
    return container.notifier, TestClient(app_for(container))


def metric(n: Notifier, name: str) -> float:
    """A counter or gauge as ``/metrics`` shows it (the registry's public reading)."""
    return n.metrics.registry.get_sample_value(name) or 0.0


# -- double opt-in -------------------------------------------------------------------------------------------------

REGISTERED = NOW - timedelta(hours=2)
AGENCY = "Ningbo Export Promotion Agency"


def registered(
    supplier_id: str = "a", *, waiting: tuple[str, ...] = ("new@example.com",), roster: tuple[str, ...] = (), **kw: str
) -> SupplierProfile:
    """A profile whose ``waiting`` addresses were registered by a buyer of ``AGENCY`` and not confirmed yet."""
    base = profile(supplier_id, emails=[*roster, *waiting], **kw)
    entries = {a: EmailConfirmation(registered_by=AGENCY, registered_at=REGISTERED) for a in waiting}
    return base.model_copy(update={"email_confirmations": entries})


def seed(rig: Rig, *profiles: SupplierProfile) -> None:
    """Profiles known to the notifier and to the matcher alike."""
    for p in profiles:
        rig.profiles.put(p)
        rig.matcher.profiles[p.supplier_id] = p


def recipients(message: EmailMessage) -> list[str]:
    return [a.addr_spec for a in message["To"].addresses]


def text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def confirm_link(message: EmailMessage) -> str:
    [url] = re.findall(r"^(https://alerts\.example\.org/confirm\?token=\S+)$", text(message), flags=re.MULTILINE)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"

"""Prometheus metrics of one notifier instance (its own registry, so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.emails = Counter(
            "notifier_emails",
            "Emails by outcome (sent, failed attempt, parked)",
            ["kind", "status"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "notifier_skipped", "Emails not sent on purpose, by reason", ["reason"], registry=self.registry
        )
        self.duplicates = Counter(
            "notifier_duplicates", "Emails not sent again because their key was already handled", registry=self.registry
        )
        self.queued = Counter(
            "notifier_digest_items_queued", "Matches queued for a daily digest", registry=self.registry
        )
        self.send_seconds = Histogram(
            "notifier_send_seconds",
            "Time to hand one email to the SMTP server",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.shortlists = Counter("notifier_shortlists", "Shortlists handled", registry=self.registry)
        self.invalid_input = Counter(
            "notifier_invalid_input", "Messages dead-lettered as unreadable", ["topic"], registry=self.registry
        )
        self.publish_refused = Counter(
            "notifier_publish_refused",
            "Messages Kafka refused for good (too large, invalid topic), dead-lettered on notifications.dlq",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.unsubscribes = Counter("notifier_unsubscribes", "One-click and page unsubscribes", registry=self.registry)
        self.unsubscribes_pending = Gauge(
            "notifier_unsubscribes_pending", "Unsubscribes the matcher has not acknowledged yet", registry=self.registry
        )
        self.profiles = Gauge("notifier_profiles", "Supplier profiles known", registry=self.registry)
        self.preference_changes = Counter(
            "notifier_preference_changes",
            "Preferences changed by suppliers from their preferences page, by field",
            ["field"],
            registry=self.registry,
        )
        self.confirmations_sent = Counter(
            "notifier_confirmations_sent",
            "Confirmation emails accepted by the SMTP server (double opt-in: one per address and registration)",
            registry=self.registry,
        )
        self.emails_confirmed = Counter(
            "notifier_emails_confirmed",
            "Addresses confirmed by their owner from the confirmation link",
            registry=self.registry,
        )
        self.confirmations_held = Counter(
            "notifier_confirmations_held",
            "Confirmation emails held back because the address had one within TB_NOTIFIER_CONFIRMATION_MIN_INTERVAL_"
            "DAYS (another registration of it): sent once the interval has passed",
            registry=self.registry,
        )
        self.confirmations_refused = Counter(
            "notifier_confirmations_refused",
            "Confirmation emails not sent because their registrant had its hour's or day's worth "
            "(TB_NOTIFIER_CONFIRMATIONS_PER_REGISTRANT_HOUR / _DAY), by limit",
            ["limit"],
            registry=self.registry,
        )
        self.confirmations_deferred = Counter(
            "notifier_confirmations_deferred",
            "Confirmation emails left for a later round (TB_NOTIFIER_CONFIRMATIONS_PER_ROUND), so alerts go first",
            registry=self.registry,
        )
        self.alerts_withheld = Counter(
            "notifier_alerts_withheld",
            "Addresses left out of an alert (or digest) because their owner has not confirmed them",
            registry=self.registry,
        )
        self.profile_changes = Counter(
            "notifier_profile_changes",
            "Matching profile fields (codes, keywords, descriptions) changed by suppliers from their profile page",
            ["field"],
            registry=self.registry,
        )

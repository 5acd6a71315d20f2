"""Notifier settings, read from ``TB_*`` environment variables."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from services.infra.settings import CommonSettings

#: The unsubscribe secret of local runs: public, so refused for a deployment that others reach.
DEFAULT_SECRET = "local-dev-unsubscribe-secret"
#: Host names of this machine: a public URL on one of them is a local run.
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Settings(CommonSettings):
    # populate_by_name: tests build ``Settings(notifier_smtp_port=...)`` despite the aliases accepting TB_SMTP_*.
    model_config = SettingsConfigDict(env_prefix="TB_", extra="ignore", populate_by_name=True)

    #: Interface the HTTP app (unsubscribe, health, metrics) binds to.
    notifier_http_host: str = "127.0.0.1"
    #: Port of the HTTP app.
    notifier_http_port: int = 8002
    #: Base URL under which recipients reach this HTTP app (unsubscribe and preferences links in emails).
    notifier_public_url: str = "http://127.0.0.1:8002"
    #: Supplier-facing page of a notice, linked from emails whose notice has no http(s) ``source_url`` of its own
    #: (the official page on UNGM/TED/the portal, always preferred); ``{notice_id}`` is replaced (URL-quoted).
    #: Empty (the default): no such portal, and a notice without ``source_url`` gets no link. Not the matcher's
    #: ``/ui/notices/{notice_id}``: that is the buyers' page, which a supplier cannot open.
    notifier_notice_url_template: str = ""
    #: Prefix of the Elasticsearch indexes (``<prefix>-notifications``, ``<prefix>-notifier-unsubscribes``).
    notifier_index_prefix: str = "tb"
    #: Kafka consumer group of the shortlist worker.
    notifier_consumer_group: str = "notifier"
    #: Matcher base URL, for forwarding unsubscribes to ``PATCH /suppliers/{id}/preferences``.
    notifier_matcher_url: str = "http://127.0.0.1:8000"
    #: API key sent to the matcher as ``X-API-Key`` (admin key or a key allowed to edit preferences).
    notifier_matcher_api_key: SecretStr | None = None
    #: Start with the default ``notifier_unsubscribe_secret`` although ``notifier_public_url`` is not this machine
    #: (a loud warning instead of the refusal). Anyone who read this repository can sign links with that secret, so
    #: only a throwaway deployment should set this.
    notifier_allow_default_link_signing: bool = False
    #: HMAC-SHA256 secret signing unsubscribe, preferences and confirmation links. The default is the one of local
    #: runs (``make run``, ``make demo``): refused when ``notifier_public_url`` is not on this machine, unless
    #: ``notifier_allow_default_link_signing``; a warning at start whenever it is used.
    notifier_unsubscribe_secret: SecretStr = SecretStr(DEFAULT_SECRET)
    #: Days an alert's or digest's unsubscribe and preferences links open after the email was made. Long: a
    #: supplier unsubscribes from an old email too (RFC 8058, and CAN-SPAM's 30 days at the very least).
    notifier_alert_link_days: float = Field(default=180.0, gt=0)
    #: Days a confirmation email's link opens (double opt-in): a week to answer; later, a new registration of the
    #: address brings a new email.
    notifier_confirmation_link_days: float = Field(default=7.0, gt=0)
    #: SMTP server host (``TB_SMTP_HOST`` from the local stack is accepted too).
    notifier_smtp_host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("TB_NOTIFIER_SMTP_HOST", "TB_SMTP_HOST")
    )
    #: SMTP server port (``TB_SMTP_PORT`` accepted too). 2525 is the local stack's sink.
    notifier_smtp_port: int = Field(
        default=2525, validation_alias=AliasChoices("TB_NOTIFIER_SMTP_PORT", "TB_SMTP_PORT")
    )
    #: Upgrade the connection with STARTTLS (port 587 style).
    notifier_smtp_starttls: bool = False
    #: Implicit TLS from the first byte (port 465 style).
    notifier_smtp_tls: bool = False
    #: PEM file of the CA(s) that signed the SMTP server's certificate, for a private relay (default: system CAs).
    notifier_smtp_ca_file: str | None = None
    #: SMTP user; login is attempted only when set.
    notifier_smtp_user: str | None = None
    #: SMTP password.
    notifier_smtp_password: SecretStr | None = None
    #: Socket timeout of SMTP commands, in seconds.
    notifier_smtp_timeout_s: float = 10.0
    #: SMTP connections used at once: a poll batch's emails go out in rounds of this many, one per connection, so
    #: their round trips overlap and each round's state writes are one Elasticsearch request per step. Keep it
    #: within the provider's concurrent-connection limit; the rate limit applies to them all together.
    notifier_smtp_connections: int = Field(default=4, ge=1, le=64)
    #: Upper bound on messages handed to the SMTP server per second, all connections together (0 = no limit). Set
    #: it to the provider's sending quota (a new Amazon SES account: 1-14/s; a local relay: thousands).
    notifier_rate_limit_per_s: float = 50.0
    #: Attempts per email before it is parked on the dead-letter topic (transient errors only; 5xx parks at once).
    notifier_max_attempts: int = 10
    #: First retry delay in seconds; doubles each attempt, with full jitter, capped by ``notifier_backoff_max_s``.
    notifier_backoff_base_s: float = 1.0
    #: Longest delay between two attempts, in seconds.
    notifier_backoff_max_s: float = 60.0
    #: How long a claim on an email is honoured without news from its owner before another instance takes it over,
    #: in seconds (renewed at every attempt, so it must exceed one attempt: a few SMTP timeouts).
    notifier_lease_s: float = 180.0
    #: How long a state write of an email (``committing`` before the final ".", ``sent`` after it) is retried, with
    #: backoff, while Elasticsearch is unreachable, in seconds; then the worker stops (crashes) without committing.
    #: Before the "." nothing was sent and the redelivered shortlist sends it; after it the record says
    #: ``committing`` and the email is never sent again. A stop request ends the retries at once.
    notifier_store_retry_s: float = 60.0
    #: Identifies this notifier's claims (default: the host name). Give each running instance its own, stable
    #: across restarts: a restarted instance then settles its own interrupted emails at once instead of waiting
    #: for their lease.
    notifier_instance_id: str = Field(default_factory=socket.gethostname)
    #: Join the consumer group as a static member (KIP-345, ``group.instance.id`` = group + instance id): a
    #: restarted instance (even after kill -9) takes its partitions back at once instead of waiting for the dead
    #: member's session to expire. Requires distinct instance ids when several notifiers run.
    notifier_static_membership: bool = True
    #: Sender address of every email.
    notifier_from_address: str = "alerts@tenderbridge.local"
    #: Sender display name.
    notifier_from_name: str = "tenderbridge"
    #: Domain of generated Message-IDs.
    notifier_message_id_domain: str = "tenderbridge.local"
    #: Optional code list CSVs (``code,...,title`` header; UNSPSC and CPV files of ../shared/data fit), comma
    #: separated paths, used for code titles that a notice does not carry.
    notifier_code_lists: str = ""
    #: Seconds between two digest checks (one digest per supplier and local day at its ``digest_hour``).
    notifier_digest_interval_s: float = 60.0
    #: Seconds between two retries of unsubscribes the matcher has not acknowledged yet.
    notifier_unsubscribe_sync_interval_s: float = 30.0
    #: Seconds between two looks for addresses that wait for their confirmation email (double opt-in): profiles
    #: published since are read and each new registration gets its one email.
    notifier_confirmation_interval_s: float = 5.0
    #: At most one confirmation email per address in this many days, whichever supplier registered it (0: no
    #: limit): registering one address for many suppliers, or again and again, cannot flood its mailbox. Other
    #: registrations of the address wait and get their email once the interval has passed.
    notifier_confirmation_min_interval_days: float = Field(default=30.0, ge=0)
    #: At most this many confirmation emails per registrant (``registered_by``: a buyer key's agency, or the
    #: supplier itself) per hour (UTC), 0: no limit. A buyer registering its suppliers by hand stays well within
    #: it; a key registering thousands of addresses is stopped after these. The excess is not sent: parked with
    #: reason ``registrant_hour_limit`` (dead letter, ``notifier_confirmations_refused_total``); registering the
    #: address again later gets it its email.
    notifier_confirmations_per_registrant_hour: int = Field(default=20, ge=0)
    #: The same per registrant and day (UTC), 0: no limit; reason ``registrant_day_limit``.
    notifier_confirmations_per_registrant_day: int = Field(default=100, ge=0)
    #: At most this many confirmation emails per round (one round every ``notifier_confirmation_interval_s``,
    #: between poll batches, whose alerts go first): the rest wait for the next rounds, so confirmations never hold
    #: alerts back by more than a round's worth of SMTP time (20 at 50/s: under half a second).
    notifier_confirmations_per_round: int = Field(default=20, ge=1)
    #: Deadlines within this many days are listed under "closing soon" in digests.
    notifier_closing_soon_days: int = 7

    @field_validator("notifier_unsubscribe_secret")
    @classmethod
    def _not_the_public_default(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        """The default secret signs links that anyone can forge: refused when the links are served to others."""
        if value.get_secret_value() != DEFAULT_SECRET or info.data.get("notifier_allow_default_link_signing"):
            return value
        public = str(info.data.get("notifier_public_url", ""))
        if (urlsplit(public).hostname or "") not in _LOCAL_HOSTS:
            raise ValueError(
                f"the default secret of local runs, with TB_NOTIFIER_PUBLIC_URL={public!r} not on this machine: "
                "anyone can sign links with it; set a long random secret (or "
                "TB_NOTIFIER_ALLOW_DEFAULT_LINK_SIGNING=true for a throwaway deployment)"
            )
        return value

    @property
    def uses_default_secret(self) -> bool:
        return self.notifier_unsubscribe_secret.get_secret_value() == DEFAULT_SECRET

    @property
    def notifications_index(self) -> str:
        return f"{self.notifier_index_prefix}-notifications"

    @property
    def unsubscribes_index(self) -> str:
        return f"{self.notifier_index_prefix}-notifier-unsubscribes"

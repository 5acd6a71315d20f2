"""Settings common to every service. Each service has one ``Settings`` class that extends this one; every field
is read from the environment with the ``TB_`` prefix (``TB_KAFKA_BOOTSTRAP_SERVERS``)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AliasChoices, AliasPath, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import topics


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TB_", extra="ignore")

    #: Kafka bootstrap servers, comma separated. The default is the local stack (``make stack-up``).
    kafka_bootstrap_servers: str = "127.0.0.1:29092"
    #: The largest message a producer sends, in bytes; keep it at or under the broker's ``message.max.bytes`` and the
    #: topics' ``max.message.bytes`` (Kafka's defaults: this one, 1 MiB; ``contracts.topics.MAX_MESSAGE_BYTES``).
    kafka_max_message_bytes: int = Field(default=topics.MAX_MESSAGE_BYTES, ge=65_536)
    #: Elasticsearch base URL.
    elasticsearch_url: str = "http://127.0.0.1:29200"
    #: Topic names; tests override them to isolate runs.
    topic_notices: str = topics.NOTICES.name
    topic_notices_dlq: str = topics.NOTICES_DLQ.name
    topic_profiles: str = topics.PROFILES.name
    topic_shortlists: str = topics.SHORTLISTS.name
    topic_shortlists_dlq: str = topics.SHORTLISTS_DLQ.name
    topic_notifications: str = topics.NOTIFICATIONS.name
    topic_notifications_dlq: str = topics.NOTIFICATIONS_DLQ.name
    topic_awards: str = topics.AWARDS.name
    topic_awards_dlq: str = topics.AWARDS_DLQ.name
    #: Marks on shortlist entries (``ShortlistFeedback``, compacted): buyers' from the matcher, suppliers' own from
    #: the notifier.
    topic_feedback: str = topics.FEEDBACK.name
    #: Messages of the feedback topic that are not a ``ShortlistFeedback``, set aside with the reason.
    topic_feedback_dlq: str = topics.FEEDBACK_DLQ.name
    #: Create missing topics at start (with the partitions and retention of ``contracts.topics``).
    create_topics: bool = True
    #: ``DEBUG``, ``INFO``, ``WARNING``...
    log_level: str = "INFO"
    #: One JSON object per log line (for containers) instead of plain text.
    log_json: bool = False

    # Checked here, for every service's settings, so that a wrong value is a "configuration error" line at start
    # (``load_settings``) instead of a traceback from the client or server that trips on it later.
    @field_validator("*", mode="after")
    @classmethod
    def _usable(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        if name.endswith("_port") and isinstance(value, int):
            check_port(value)
        elif name.endswith("_url") and isinstance(value, str):
            check_http_url(value)
        elif name == "log_level" and isinstance(value, str):
            return check_log_level(value)
        return value

    def topic_map(self) -> dict[str, topics.TopicSpec]:
        """Configured topic name -> its spec."""
        return {
            self.topic_notices: topics.NOTICES,
            self.topic_notices_dlq: topics.NOTICES_DLQ,
            self.topic_profiles: topics.PROFILES,
            self.topic_shortlists: topics.SHORTLISTS,
            self.topic_shortlists_dlq: topics.SHORTLISTS_DLQ,
            self.topic_notifications: topics.NOTIFICATIONS,
            self.topic_notifications_dlq: topics.NOTIFICATIONS_DLQ,
            self.topic_awards: topics.AWARDS,
            self.topic_awards_dlq: topics.AWARDS_DLQ,
            self.topic_feedback: topics.FEEDBACK,
            self.topic_feedback_dlq: topics.FEEDBACK_DLQ,
        }


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check_port(port: int) -> int:
    """A TCP port a server can listen on or a client connect to."""
    if not 1 <= port <= 65535:
        raise ValueError("a port is a number from 1 to 65535")
    return port


def check_http_url(url: str) -> str:
    """An ``http(s)://host[:port][/path]`` URL, as the Elasticsearch client and the email links need."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when it is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"not a usable URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL with a host, such as http://127.0.0.1:9200")
    if port == 0:
        raise ValueError("a port is a number from 1 to 65535")
    return url


def check_log_level(level: str) -> str:
    """One of the standard logging level names, in any case; returned upper-case."""
    upper = level.strip().upper()
    if upper not in LOG_LEVELS or not isinstance(logging.getLevelName(upper), int):
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return upper


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S]) -> S:
    """``cls()`` from the environment; a wrong value ends the command with a line per setting at fault and exit
    status 2 (bad configuration) instead of a traceback that hides it at its bottom."""
    try:
        return cls()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            msg = error["msg"].removeprefix("Value error, ")
            lines.append(f"  {variable_name(cls, error['loc'])}={error.get('input')!r}: {msg}")
        print("configuration error:\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def variable_name(cls: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    """The environment variable behind an error's location: ``TB_`` + the field name, or for a field read under
    aliases (``TB_NOTIFIER_SMTP_PORT`` or ``TB_SMTP_PORT``) the alias that is set, as it is spelt in full already."""
    if not loc:
        return "settings"
    head = str(loc[0])
    prefix = str(cls.model_config.get("env_prefix") or "")
    for name, info in cls.model_fields.items():
        aliases = _aliases(info.validation_alias)
        if head == name or head in aliases:
            if not aliases:
                break
            present = {key.upper() for key in os.environ}
            return next((a for a in aliases if a.upper() in present), aliases[0]).upper()
    return f"{prefix}{'_'.join(str(p) for p in loc)}".upper()


def _aliases(alias: str | AliasPath | AliasChoices | None) -> list[str]:
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [c for c in alias.choices if isinstance(c, str)]
    return []

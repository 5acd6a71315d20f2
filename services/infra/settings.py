"""Settings common to every service. Each service has one ``Settings`` class that extends this one; every field
is read from the environment with the ``TB_`` prefix (``TB_KAFKA_BOOTSTRAP_SERVERS``)."""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import topics


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TB_", extra="ignore")

    #: Kafka bootstrap servers, comma separated. The default is the local stack (``make stack-up``).
    kafka_bootstrap_servers: str = "127.0.0.1:29092"
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
    #: Create missing topics at start (with the partitions and retention of ``contracts.topics``).
    create_topics: bool = True
    #: ``DEBUG``, ``INFO``, ``WARNING``...
    log_level: str = "INFO"
    #: One JSON object per log line (for containers) instead of plain text.
    log_json: bool = False

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
        }


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S]) -> S:
    """``cls()`` from the environment; a wrong value ends the command with a line per setting at fault and exit
    status 2 (bad configuration) instead of a traceback that hides it at its bottom."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix") or "")
        lines = []
        for error in exc.errors():
            name = f"{prefix}{'_'.join(str(p) for p in error['loc'])}".upper() if error["loc"] else "settings"
            lines.append(f"  {name}={error.get('input')!r}: {error['msg']}")
        print("configuration error:\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None

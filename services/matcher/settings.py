"""Matcher settings: every field is read from the environment with the ``TB_`` prefix
(``TB_MATCHER_HTTP_PORT``, ``TB_MATCHER_ADMIN_API_KEY``...)."""

from __future__ import annotations

import socket

from pydantic import Field, SecretStr

from services.infra.settings import CommonSettings


class Settings(CommonSettings):
    #: Address the buyer API binds to.
    matcher_http_host: str = "127.0.0.1"
    #: Port of the buyer API.
    matcher_http_port: int = 8000
    #: Prefix of every Elasticsearch index and alias of the matcher (``tb-suppliers``, ``tb-notices``...).
    matcher_index_prefix: str = "tb"
    #: Kafka consumer group of the notice worker.
    matcher_consumer_group: str = "matcher"
    #: Identifies this matcher instance in its consumer group (default: the host name). Give each running instance
    #: its own, stable across restarts.
    matcher_instance_id: str = Field(default_factory=socket.gethostname)
    #: Join the consumer group as a static member (KIP-345, ``group.instance.id`` = group + instance id): a
    #: restarted instance (even after kill -9) takes its partitions back at once instead of waiting for the dead
    #: member's session to expire. Requires distinct instance ids when several matchers run.
    matcher_static_membership: bool = True
    #: An admin API key accepted besides the stored (hashed) keys; unset means only stored keys work.
    matcher_admin_api_key: SecretStr | None = None
    #: Run the Kafka notice worker inside ``run`` (turn off to serve only the API).
    matcher_worker_enabled: bool = True
    #: Refit the scoring model after this many profile changes.
    matcher_refit_every_changes: int = 200
    #: ... or after this many seconds, whichever comes first (0 disables the periodic refit).
    matcher_refit_interval_seconds: float = 3600.0
    #: Supplier ids that may not be shortlisted (debarred, sanctioned); JSON list in the environment.
    matcher_ineligible_suppliers: list[str] = Field(default_factory=list)
    #: Longest pause between two attempts while Elasticsearch does not answer (the worker backs off up to this).
    matcher_max_backoff_seconds: float = 30.0
    #: At most this many open notices are re-ranked when one profile changes (reverse matching).
    matcher_reverse_match_limit: int = 200
    #: Elasticsearch request timeout in seconds.
    matcher_es_timeout_seconds: float = 30.0

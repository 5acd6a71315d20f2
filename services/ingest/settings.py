"""Settings of the ingest service (environment variables ``TB_INGEST_*`` plus the shared ``TB_*`` ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from contracts.topics import MAX_NOTICE_BYTES
from services.infra.settings import CommonSettings


class Settings(CommonSettings):
    #: Address the HTTP app (push endpoint, health, metrics) binds to.
    ingest_http_host: str = "127.0.0.1"
    #: Port of the HTTP app.
    ingest_http_port: int = 8001
    #: Directory of the durable state (sqlite: published hashes and versions, source checkpoints).
    ingest_state_dir: Path = Path(".data/ingest")
    #: The sources file (YAML) that ``run`` polls; none means push only.
    ingest_sources_file: Path | None = None
    #: API keys accepted by ``POST /notices`` (comma separated); empty refuses every push.
    ingest_api_keys: str = ""
    #: Official CPV list (``code,parent,title`` with check digits) used to verify CPV check digits; when absent
    #: the check digit algorithm alone is used.
    ingest_cpv_list_path: Path | None = None
    #: Detect the language of notices that do not state one.
    ingest_detect_language: bool = True
    #: Records published per Kafka flush and state commit.
    ingest_batch_size: int = 500
    #: Seconds between polls of a source that sets no interval.
    ingest_default_interval_s: float = 900.0
    #: Timeout of one HTTP fetch, in seconds.
    ingest_http_timeout_s: float = 30.0
    #: Pages followed per poll of a paginated OCDS API (``links.next``).
    ingest_max_pages: int = 50
    #: Kafka client id.
    ingest_client_id: str = "tenderbridge-ingest"
    #: The largest notice published, in bytes of its JSON: a larger one is dead-lettered (``too_large``) and a push
    #: of it answered 413. At most half of ``TB_KAFKA_MAX_MESSAGE_BYTES``: the notice travels again inside its
    #: shortlist, beside the ranked suppliers.
    ingest_max_notice_bytes: int = Field(default=MAX_NOTICE_BYTES, ge=1_024)

    @model_validator(mode="after")
    def _notice_fits_a_shortlist(self) -> Self:
        if self.ingest_max_notice_bytes > self.kafka_max_message_bytes // 2:
            raise ValueError(
                f"TB_INGEST_MAX_NOTICE_BYTES ({self.ingest_max_notice_bytes}) must be at most half of "
                f"TB_KAFKA_MAX_MESSAGE_BYTES ({self.kafka_max_message_bytes}): a notice travels inside its shortlist"
            )
        return self

    def api_keys(self) -> set[str]:
        return {k.strip() for k in self.ingest_api_keys.split(",") if k.strip()}

"""Shared fixtures.

Integration and e2e tests talk to real servers over sockets. By default they use the local stack (noida-db for
Kafka and Elasticsearch, aiosmtpd for SMTP), started once per session or reused when it already answers. With
``TB_TEST_BACKEND=docker`` they use Apache Kafka and Elasticsearch containers started with the ``docker`` SDK;
when no Docker engine answers, those tests skip and say why. Every test gets its own topic, group and index
names (``unique``), so nothing needs cleaning up between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from localrun import stack

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    elasticsearch_url: str
    smtp_host: str
    smtp_port: int
    maildir: Path | None


def shared_data(*parts: str) -> Path:
    """A path under ``../shared/data``; skips the test when a clone has no such directory."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/data/{'/'.join(parts)} (reference data beside the repository; absent here)")
    return path


@pytest.fixture
def unique() -> Callable[[str], str]:
    """``unique("notices")`` -> ``"t-notices-1a2b3c4d"``: names private to one test."""
    token = uuid.uuid4().hex[:8]
    return lambda base: f"t-{base}-{token}"


def _docker_endpoints() -> Iterator[Endpoints]:
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover - docker is a dev dependency
        pytest.skip("TB_TEST_BACKEND=docker but the docker SDK is not installed")
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        pytest.skip(f"TB_TEST_BACKEND=docker but no Docker engine answers ({exc.__class__.__name__})")
    from tests.docker_backend import start_containers

    yield from start_containers(client)


@pytest.fixture(scope="session")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    if os.environ.get("TB_TEST_BACKEND", "local") == "docker":
        yield from _docker_endpoints()
        return
    cfg = stack.StackConfig.from_env()
    started = stack.up(cfg)
    try:
        yield Endpoints(cfg.kafka_bootstrap, cfg.elasticsearch_url, cfg.host, cfg.smtp_port, cfg.maildir)
    finally:
        if started and os.environ.get("TB_KEEP_STACK") != "1":
            stack.down(cfg)

"""docker-compose.yml cannot run here (no Docker engine), so its contract with the services is checked statically:
services, healthchecks, start order, ports, pinned images, no secrets, and that every setting each service reads
(discovered from its ``Settings`` class) is set for it, with values its settings class accepts."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / "deploy" / ".env.example"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

#: Our services and the HTTP port each listens on inside its container.
OURS = {"matcher": 8000, "ingest": 8001, "notifier": 8002}
INFRA = ("kafka", "elasticsearch", "mailpit")
#: Container ports that must be published on the host.
PUBLISHED = {
    "kafka": {9094},
    "elasticsearch": {9200},
    "mailpit": {1025, 8025},
    "matcher": {8000},
    "ingest": {8001},
    "notifier": {8002},
}
DEPENDS = {
    "ingest": {"kafka"},
    "matcher": {"kafka", "elasticsearch"},
    "notifier": {"kafka", "elasticsearch", "mailpit"},
}
#: Settings given as a bare ``NAME:`` entry: compose passes the operator's value through (shell or .env) or leaves
#: the variable unset (compose-spec "environment"), so the service's own default applies. Only for settings whose
#: default is right in a container and that an empty value would break.
PASS_THROUGH = {
    # Optional files inside the container (mounted by the operator); an empty value would read as "." (cwd).
    "TB_INGEST_SOURCES_FILE",
    "TB_INGEST_CPV_LIST_PATH",
    "TB_NOTIFIER_SMTP_CA_FILE",
    "TB_NOTIFIER_CODE_LISTS",
    # Defaults to the host name, which is the container's own: one fixed value would be shared by scaled replicas.
    "TB_NOTIFIER_INSTANCE_ID",
    "TB_MATCHER_INSTANCE_ID",
    # Policy list, empty by default.
    "TB_MATCHER_INELIGIBLE_SUPPLIERS",
    # Tuning knobs: the services' defaults are right in containers, and a copy of them here would drift.
    "TB_INGEST_DETECT_LANGUAGE",
    "TB_INGEST_BATCH_SIZE",
    "TB_INGEST_DEFAULT_INTERVAL_S",
    "TB_INGEST_HTTP_TIMEOUT_S",
    "TB_INGEST_MAX_PAGES",
    "TB_INGEST_CLIENT_ID",
    "TB_INGEST_MAX_NOTICE_BYTES",
    "TB_MATCHER_WORKER_ENABLED",
    "TB_MATCHER_AWARDS_WORKER_ENABLED",
    "TB_MATCHER_FEEDBACK_WORKER_ENABLED",
    "TB_MATCHER_REFIT_EVERY_CHANGES",
    "TB_MATCHER_REFIT_INTERVAL_SECONDS",
    "TB_MATCHER_MAX_BACKOFF_SECONDS",
    "TB_MATCHER_CONSUMER_STUCK_SECONDS",
    "TB_MATCHER_REVERSE_MATCH_LIMIT",
    "TB_MATCHER_ES_TIMEOUT_SECONDS",
    "TB_MATCHER_MAX_BODY_BYTES",
    "TB_MATCHER_MAX_PROFILE_BYTES",
    "TB_MATCHER_MAX_EMAILS_PER_PROFILE",
    "TB_MATCHER_NEW_ADDRESSES_PER_KEY_HOUR",
    "TB_MATCHER_NEW_ADDRESSES_PER_KEY_DAY",
    "TB_NOTIFIER_SMTP_TIMEOUT_S",
    "TB_NOTIFIER_RATE_LIMIT_PER_S",
    "TB_NOTIFIER_MAX_ATTEMPTS",
    "TB_NOTIFIER_BACKOFF_BASE_S",
    "TB_NOTIFIER_BACKOFF_MAX_S",
    "TB_NOTIFIER_LEASE_S",
    "TB_NOTIFIER_STORE_RETRY_S",
    "TB_NOTIFIER_DIGEST_INTERVAL_S",
    "TB_NOTIFIER_UNSUBSCRIBE_SYNC_INTERVAL_S",
    "TB_NOTIFIER_CLOSING_SOON_DAYS",
    "TB_NOTIFIER_STATIC_MEMBERSHIP",
    "TB_MATCHER_STATIC_MEMBERSHIP",
}
#: Names that hold secrets: their value may only come from the operator's environment.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|API_KEY|_KEYS$|TOKEN")

_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    """Raised if a ``${VAR:?message}`` reference has no value: compose refuses to start."""


def resolve(value: str, env: Mapping[str, str]) -> str:
    """Compose interpolation (compose-spec "Interpolation"): ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:?err}``, ``${VAR?err}``; ``$$`` is a literal ``$``."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return arg if current is None else current
        if op in (":?", "?") and (current is None or (op == ":?" and not current)):
            raise MissingVariable(f"{name}: {arg}")
        return current or ""

    return "$".join(_REF.sub(substitute, part) for part in value.split("$$"))


def references(value: str) -> Iterator[re.Match[str]]:
    for part in value.split("$$"):
        yield from _REF.finditer(part)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def env_example(*, commented: bool = True) -> dict[str, str]:
    """Variables of deploy/.env.example; with ``commented``, also the optional ``# NAME=value`` lines."""
    out = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match and (commented or not match[1]):
            out[match[2]] = match[3]
    return out


def required_variables() -> set[str]:
    """Variables compose refuses to start without (``${VAR:?...}``)."""
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return {m["name"] for s in strings(compose) for m in references(s) if m["op"] in (":?", "?")}


def secrets_filled() -> dict[str, str]:
    """The operator's .env: the example with each required secret given a value (the rest as shipped)."""
    required = required_variables()
    return {
        name: value or (f"test-{name.lower()}" if name in required else "")
        for name, value in env_example(commented=False).items()
    }


def settings_class(service: str) -> type[BaseSettings]:
    """The one ``BaseSettings`` subclass defined in ``services.<service>.settings``."""
    module_name = f"services.{service}.settings"
    # A settings module that moved fails here (ModuleNotFoundError): the compose file would go unchecked otherwise.
    module = importlib.import_module(module_name)
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, BaseSettings) and obj.__module__ == module_name
    ]
    assert len(found) == 1, f"{module_name} should define exactly one BaseSettings subclass, found {found}"
    return found[0]


def env_names(cls: type[BaseSettings]) -> dict[str, set[str]]:
    """Field name -> the environment variable names that set it (pydantic-settings rules: an alias replaces the
    prefixed name; names are case-insensitive unless ``case_sensitive``)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    out: dict[str, set[str]] = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names = {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names = {alias}
        elif field.alias:
            names = {field.alias}
        else:
            names = {f"{prefix}{name}"}
        out[name] = {n.upper() for n in names}
    return out


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "- NAME=value" form
        env = {k: v for k, _, v in (item.partition("=") for item in env)}
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


# --- shape of the file --------------------------------------------------------------------------------------


def test_the_six_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert {*INFRA, *OURS} <= set(services)


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    long_running = [name for name, svc in services.items() if not svc.get("profiles")]
    assert set(long_running) >= {*INFRA, *OURS}
    for name in long_running:
        check = services[name].get("healthcheck") or {}
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        assert check.get("interval"), f"{name}: give the healthcheck an interval"
        assert check.get("retries"), f"{name}: give the healthcheck retries"


def test_dependencies_wait_until_healthy(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        depends = svc.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: use the long depends_on form with a condition"
        for dependency, spec in depends.items():
            assert spec == {"condition": "service_healthy"}, f"{name} -> {dependency}: {spec}"
            assert services[dependency].get("healthcheck"), f"{name} waits for {dependency}, which has no healthcheck"
    for name, needed in DEPENDS.items():
        assert needed <= set(services[name].get("depends_on") or {}), name


def test_ports_are_published_on_localhost_by_default(services: dict[str, dict[str, Any]]) -> None:
    for name, expected in PUBLISHED.items():
        published = set()
        for entry in services[name].get("ports") or []:
            host_ip, host_port, container = resolve(str(entry), {}).split(":")
            assert host_ip == "127.0.0.1", f"{name}: {entry} should bind ${{HOST_BIND:-127.0.0.1}}"
            assert host_port.isdigit()
            published.add(int(container.split("/")[0]))
        assert published == expected, name


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        image = resolve(str(svc.get("image", "")), {})
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: image {image!r} has no tag"
        assert "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        assert re.search(r"\d", tag), f"{name}: image {image!r} is not pinned to a version"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["elasticsearch"]["image"].split(":")[-1].startswith("8.")


def test_our_services_share_one_image_and_pick_their_command(services: dict[str, dict[str, Any]]) -> None:
    images = {services[name]["image"] for name in OURS}
    assert len(images) == 1
    for name in OURS:
        svc = services[name]
        assert svc["command"] == ["python", "-m", f"services.{name}", "run"]
        assert (REPO / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == DOCKERFILE


def test_healthchecks_of_our_services_probe_their_own_port(services: dict[str, dict[str, Any]]) -> None:
    for name, port in OURS.items():
        env = environment(services[name])
        assert env[f"TB_{name.upper()}_HTTP_HOST"] == "0.0.0.0"
        assert env[f"TB_{name.upper()}_HTTP_PORT"] == str(port)
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/healthz" in probe
        # python:3.11-slim has no curl: the probe must use the interpreter.
        assert services[name]["healthcheck"]["test"][:3] == ["CMD", "python", "-c"]


def test_data_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, target in {
        "kafka": "/var/lib/kafka/data",
        "elasticsearch": "/usr/share/elasticsearch/data",
        "mailpit": "/data",
        "ingest": "/data/ingest",
    }.items():
        mounts = dict(str(v).split(":", 1) for v in services[name].get("volumes") or [])
        assert target in mounts.values(), f"{name} keeps no data in {target}"
        source = next(s for s, t in mounts.items() if t == target)
        assert source in declared, f"{name}: {source} is not a named volume"
    assert environment(services["ingest"])["TB_INGEST_STATE_DIR"] == "/data/ingest"


# --- secrets --------------------------------------------------------------------------------------------------


def test_no_secret_value_is_written_in_the_file(services: dict[str, dict[str, Any]]) -> None:
    secret_fields = {
        env
        for service in OURS
        for field, names in env_names(settings_class(service)).items()
        if "SecretStr" in str(settings_class(service).model_fields[field].annotation)
        for env in names
    }
    checked = 0
    for name, svc in services.items():
        for key, value in environment(svc).items():
            if not (SECRET_NAME.search(key) or key in secret_fields):
                continue
            checked += 1
            assert value is not None, f"{name}.{key}"
            refs = list(references(value))
            assert len(refs) == 1, f"{name}.{key}={value!r} is not a bare ${{VAR}}"
            assert refs[0].group(0) == value, f"{name}.{key}={value!r} is not a bare ${{VAR}}"
            assert refs[0]["op"] in (":?", "?") or not refs[0]["arg"], f"{name}.{key} has a literal default"
    assert checked >= 5


REQUIRED_SECRETS = [
    "TB_MATCHER_ADMIN_API_KEY",
    "TB_NOTIFIER_MATCHER_API_KEY",
    "TB_NOTIFIER_UNSUBSCRIBE_SECRET",
    "TB_INGEST_API_KEYS",
    "TB_MATCHER_FORM_SECRET",
]


def test_exactly_the_secrets_are_required() -> None:
    assert required_variables() == set(REQUIRED_SECRETS)


@pytest.mark.parametrize("variable", REQUIRED_SECRETS)
def test_compose_refuses_to_start_without_a_required_secret(services: dict[str, dict[str, Any]], variable: str) -> None:
    env = secrets_filled()
    values = [v for svc in services.values() for v in environment(svc).values() if v and variable in v]
    assert values, f"{variable} is not used"
    for value in values:
        assert resolve(value, env) == env[variable]
        for missing in ({k: v for k, v in env.items() if k != variable}, {**env, variable: ""}):
            with pytest.raises(MissingVariable, match=variable):
                resolve(value, missing)
    assert env_example()[variable] == "", f".env.example must not carry a value for {variable}"


# --- every setting is set -------------------------------------------------------------------------------------


def test_a_settings_module_that_moved_fails_the_check_instead_of_skipping_it() -> None:
    with pytest.raises(ModuleNotFoundError):
        settings_class("moved")


@pytest.mark.parametrize("service", sorted(OURS))
def test_every_setting_the_service_reads_is_set(services: dict[str, dict[str, Any]], service: str) -> None:
    cls = settings_class(service)
    names = env_names(cls)
    env = environment(services[service])
    missing = sorted(field for field, options in names.items() if not options & env.keys())
    assert not missing, f"{service}: settings not set in docker-compose.yml: {missing}"
    known = set().union(*names.values())
    unknown = sorted(key for key in env if key.startswith("TB_") and key not in known)
    assert not unknown, f"{service}: docker-compose.yml sets variables the service does not read: {unknown}"
    for field, options in names.items():
        key = next(iter(options & env.keys()))
        if env[key] is None:
            assert key in PASS_THROUGH, f"{service}.{key} needs a value (or a reason in PASS_THROUGH)"
            assert not cls.model_fields[field].is_required(), f"{service}.{key} has no default to fall back on"


@pytest.mark.parametrize("service", sorted(OURS))
def test_the_settings_class_accepts_the_container_environment(
    services: dict[str, dict[str, Any]], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = settings_class(service)
    operator_env = secrets_filled()
    for key in [k for k in os.environ if k.startswith("TB_")]:
        monkeypatch.delenv(key)
    for key, value in environment(services[service]).items():
        if value is not None:
            monkeypatch.setenv(key, resolve(value, operator_env))
    settings: Any = cls()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.elasticsearch_url == "http://elasticsearch:9200"
    assert settings.log_json is True
    assert getattr(settings, f"{service}_http_host") == "0.0.0.0"
    for field, value in settings:
        if isinstance(value, SecretStr) and field != "notifier_smtp_password":
            assert value.get_secret_value() == operator_env[f"TB_{field.upper()}"], field


@pytest.mark.parametrize("service", sorted(OURS))
def test_the_optional_examples_in_env_example_are_valid_settings(
    services: dict[str, dict[str, Any]], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator who uncomments an optional ``# NAME=value`` line gets a configuration the service accepts."""
    cls = settings_class(service)
    optional = env_example().items() - env_example(commented=False).items()
    passed = {k for k, v in environment(services[service]).items() if v is None}
    for key in [k for k in os.environ if k.startswith("TB_")]:
        monkeypatch.delenv(key)
    uncommented = {k: v for k, v in optional if k in passed}
    assert uncommented, f"{service}: no optional setting is documented"
    for key, value in uncommented.items():
        monkeypatch.setenv(key, value)
    known = set().union(*env_names(cls).values())
    assert uncommented.keys() <= known
    cls()  # raises ValidationError if an example value is not a valid setting


def test_the_notifier_talks_to_the_matcher_and_mailpit_inside_the_network(
    services: dict[str, dict[str, Any]],
) -> None:
    env = {k: resolve(v, secrets_filled()) for k, v in environment(services["notifier"]).items() if v is not None}
    assert env["TB_NOTIFIER_MATCHER_URL"] == "http://matcher:8000"
    assert (env["TB_NOTIFIER_SMTP_HOST"], env["TB_NOTIFIER_SMTP_PORT"]) == ("mailpit", "1025")
    # Emails link a notice's own source URL; the buyers' page (/ui/notices/...) is no link for a supplier.
    assert env["TB_NOTIFIER_NOTICE_URL_TEMPLATE"] == ""


# --- deploy/.env.example, Dockerfile, .dockerignore -----------------------------------------------------------


def test_env_example_documents_every_variable_the_file_uses(compose: dict[str, Any]) -> None:
    used = {m["name"] for s in strings(compose) for m in references(s)}
    passed_through = {
        key for svc in compose["services"].values() for key, value in environment(svc).items() if value is None
    }
    documented = env_example()
    assert not (used | passed_through) - documented.keys(), "add them to deploy/.env.example"
    assert not documented.keys() - (used | passed_through), "deploy/.env.example lists variables compose ignores"
    # Each variable sits in a paragraph that starts with a comment.
    paragraph_has_comment = False
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            paragraph_has_comment = False
        elif re.match(r"^[A-Z][A-Z0-9_]*=", line):
            assert paragraph_has_comment, f"no comment above {line!r}"
        elif line.startswith("#"):
            paragraph_has_comment = True


def test_env_example_defaults_agree_with_the_compose_defaults(compose: dict[str, Any]) -> None:
    documented = env_example()
    for match in (m for s in strings(compose) for m in references(s)):
        if match["op"] == ":-" and match["name"] in documented:
            assert documented[match["name"]] == match["arg"], match["name"]


def test_dockerfile_builds_a_non_root_python_311_slim_image() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in instructions
    assert all(line.split()[1] == "${PYTHON_IMAGE}" for line in instructions if line.startswith("FROM "))
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert "pip install" in text
    assert "COPY pyproject.toml" in text
    assert "latest" not in text


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert {".env", ".git", ".venv", ".data"} <= ignored
    # What the Dockerfile copies must stay in the build context.
    assert not {"pyproject.toml", "README.md", "contracts", "services", "bench"} & ignored

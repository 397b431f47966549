"""docker-compose.yml as Compose v2 would take it, checked without Docker (this machine and CI have no
`docker compose`, and no registry ships it; README "Deployment" says so): the file is interpolated from a test
.env the way Compose does, parsed by an independent, strict Compose Specification implementation (the Rust
`compose_spec` crate, PyPI `compose-spec`: unknown keys, bad durations, restart policies, port syntax and
depends_on conditions are refused), and held to the stack's rules: every named volume declared (Compose v2's
"refers to undefined volume" error), no literal secret, a healthcheck and a restart policy everywhere, images
pinned, only the hub published, and every variable documented in .env.example."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose

from hub.services.iot.broker import broker_files

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# The required values (empty in .env.example) as an operator's .env would set them.
TEST_ENV = {"POSTGRES_PASSWORD": "pg-test-password", "REDIS_PASSWORD": "redis-test-password",
            "MQTT_HUB_PASSWORD": "mqtt-test-password", "CITYLOOP_CALLBACK_SECRET": "c" * 64}
# `$$` (a literal `$`, for the container's shell), or ${NAME}, ${NAME:-default}, ${NAME-default},
# ${NAME:?error}, ${NAME?error} — the forms the Compose specification's interpolation defines.
VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


class Unset(Exception):
    """A required variable (`${NAME:?…}`) is missing: Compose refuses to start."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """What Compose does to the parsed file before it validates it (values only, never comments or keys)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name, operator, argument = match.group(2), match.group(3), match.group(4)
        given = env.get(name)
        missing = not given if operator is not None and operator.startswith(":") else given is None
        if operator in (":-", "-") and missing:
            return str(argument)
        if operator in (":?", "?") and missing:
            raise Unset(f"{name}: {argument}")
        return given or ""

    return VARIABLE.sub(replace, value)


def raw() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def resolved(env: dict[str, str] | None = None) -> dict[str, Any]:
    result = interpolate(raw(), TEST_ENV if env is None else env)
    assert isinstance(result, dict)
    return result


def compose_check(document: dict[str, Any]) -> None:
    """Raises ValueError naming the key when the document is not a valid Compose file."""
    services = document.get("services") or {}
    used = {mount.split(":", 1)[0] for service in services.values() for mount in service.get("volumes", [])
            if isinstance(mount, str) and not mount.startswith((".", "/", "~"))}
    used |= {mount["source"] for service in services.values() for mount in service.get("volumes", [])
             if isinstance(mount, dict) and mount.get("type") == "volume"}
    undefined = used - set(document.get("volumes") or {})
    if undefined:  # what Compose v2 says of the file this test was written for
        raise ValueError(f"a service refers to undefined volume {sorted(undefined)}")
    networks = {name for service in services.values() for name in service.get("networks", [])}
    if networks - set(document.get("networks") or {}):
        raise ValueError(f"a service refers to undefined network {sorted(networks)}")
    PyCompose.from_yaml(yaml.safe_dump(document))


def test_the_compose_file_is_valid_once_interpolated_from_a_complete_env() -> None:
    compose_check(resolved())


@pytest.mark.parametrize(("breakage", "complaint"), [
    (lambda d: d["volumes"].pop("pgdata"), "undefined volume"),
    (lambda d: d["volumes"].pop("mosquitto-data"), "undefined volume"),
    (lambda d: d["networks"].pop("backend"), "undefined network"),
    (lambda d: d["services"]["hub"].__setitem__("restart", "sometimes"), "restart"),
    (lambda d: d["services"]["hub"]["healthcheck"].__setitem__("interval", "5 parsecs"), "interval"),
    (lambda d: d["services"]["mosquitto"].__setitem__("tmpfz", ["/x"]), "tmpfz"),
    (lambda d: d["services"]["hub"]["depends_on"]["mosquitto"].__setitem__("condition", "whenever"), "condition"),
])
def test_the_checker_refuses_a_broken_file(breakage: Any, complaint: str) -> None:
    # The check above would pass on anything if the checker were blind: each of these must be refused.
    broken = copy.deepcopy(resolved())
    breakage(broken)
    with pytest.raises(ValueError, match=complaint):
        compose_check(broken)


def test_every_secret_comes_from_env_and_compose_refuses_to_start_without_it() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for name in TEST_ENV:
        assert f"${{{name}:?" in text, f"{name} must be required (`${{{name}:?…}}`), never defaulted"
        with pytest.raises(Unset, match=name):
            resolved({**TEST_ENV, name: ""})  # an unedited copy of .env.example leaves it empty
    # No credentials written into the file: every password, secret and URL login is a variable.
    document = raw()
    for service in document["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|_KEY$", key):
                assert str(value).startswith("${"), f"{key} is written in docker-compose.yml"
            if isinstance(value, str) and "://" in value and "@" in value:
                login = value.split("://", 1)[1].split("@", 1)[0]
                assert "${" in login.split(":", 1)[-1], f"{key} has a literal password"
    assert "cityloop-demo-callback-secret" not in text and "allow_anonymous true" not in text


def test_every_service_restarts_has_a_healthcheck_and_a_pinned_image() -> None:
    services = resolved()["services"]
    assert set(services) == {"postgres", "redis", "mosquitto", "hub"}
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag and tag != "latest", f"{name}: {image} is not pinned to a tag"
        # PostgreSQL's releases are MAJOR.MINOR (17.5); everything else here is MAJOR.MINOR.PATCH.
        exact = r"\d+\.\d+(-|$)" if repository == "postgres" else r"\d+\.\d+\.\d+"
        assert re.match(exact, tag), f"{name}: {image} is not an exact version"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for base in re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE):
        assert re.search(r":\d+\.\d+\.\d+", base), f"Dockerfile: {base} is not an exact version"


def test_only_the_hub_is_published_and_the_rest_is_on_an_internal_network() -> None:
    document = resolved()
    published = {name for name, service in document["services"].items() if service.get("ports")}
    assert published == {"hub"}
    assert not any(service.get("network_mode") == "host" for service in document["services"].values())
    assert document["networks"]["backend"] == {"internal": True}
    for name in ("postgres", "redis", "mosquitto"):
        assert document["services"][name]["networks"] == ["backend"], name


def test_mosquitto_persists_its_sessions_and_refuses_anonymous_clients() -> None:
    services = resolved()["services"]
    mosquitto = services["mosquitto"]
    assert "mosquitto-data:/mosquitto/data" in mosquitto["volumes"]
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    lines = {line.strip() for line in conf.splitlines() if line.strip() and not line.startswith("#")}
    assert {"persistence true", "persistence_location /mosquitto/data/", "allow_anonymous false",
            "password_file /mosquitto/auth/passwd", "acl_file /mosquitto/auth/acl"} <= lines
    # The files the configuration names are the ones the start script installs, from the volume the hub's
    # `cityloop devices` writes (CITYLOOP_MQTT_BROKER_DIR), before the broker starts.
    assert mosquitto["command"] == ["sh", "/mosquitto/config/start.sh"]
    assert "./deploy/mosquitto/start.sh:/mosquitto/config/start.sh:ro" in mosquitto["volumes"]
    assert "/mosquitto/auth" in mosquitto["tmpfs"]
    assert "mqtt-accounts:/mosquitto/registry:ro" in mosquitto["volumes"]
    hub = services["hub"]
    assert f"mqtt-accounts:{hub['environment']['CITYLOOP_MQTT_BROKER_DIR']}" in hub["volumes"]
    script = (ROOT / "deploy" / "mosquitto" / "start.sh").read_text(encoding="utf-8")
    assert 'REGISTRY=${MQTT_ACCOUNTS_DIR:-/mosquitto/registry}' in script
    assert 'AUTH=${MQTT_AUTH_DIR:-/mosquitto/auth}' in script


def test_the_start_scripts_first_acl_grants_the_hub_what_the_registry_grants_it() -> None:
    # Before the first `cityloop devices` run the broker knows the hub alone: with the same rights.
    script = (ROOT / "deploy" / "mosquitto" / "start.sh").read_text(encoding="utf-8")
    bootstrap = re.search(r"printf '(user %s[^']*)' \"\$MQTT_HUB_USERNAME\"", script)
    assert bootstrap is not None
    first = bootstrap.group(1).replace("\\n", "\n").replace("%s", "cityloop-hub").splitlines()
    _, acl = broker_files(("cityloop-hub", None), [])
    assert first == [line for line in acl.splitlines() if line and not line.startswith("#")]


def test_every_variable_of_the_compose_file_is_documented_in_env_example() -> None:
    used = set()
    for match in VARIABLE.finditer(yaml.safe_dump(raw())):
        if match.group(2):
            used.add(match.group(2))
    documented = {line.split("=", 1)[0].lstrip("# ").strip() for line in
                  ENV_EXAMPLE.read_text(encoding="utf-8").splitlines() if "=" in line}
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    gitignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in gitignored, ".env holds the secrets: it must never be committed"


def test_the_hubs_files_live_on_a_volume_its_user_owns() -> None:
    """Grid-report photos are files under CITYLOOP_DATA_DIR, not rows: in a container they must be on a named
    volume (else a restart loses them), and the image's user must own that folder (else the hub cannot write
    below /app, the image's working directory)."""
    hub = resolved()["services"]["hub"]
    data_dir = hub["environment"]["CITYLOOP_DATA_DIR"]
    assert f"hub-data:{data_dir}" in hub["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    owned = re.search(r"install -d -o cityloop -g cityloop -m 0750 ([^\n&]+)", dockerfile)
    assert owned is not None and data_dir in owned.group(1).split()

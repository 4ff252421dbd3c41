"""The Dockerfile and the compose file, read and checked against the code: a non-root
user, the data volume where Wess keeps its data, the health check on a route Wess
serves, on the port it binds, and only real WESS_* settings."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROOT = DEPLOY.parent


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    joined: list[str] = []
    pending = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in joined]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, arguments in instructions():
        if instruction == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    return env


def arguments(instruction: str) -> list[str]:
    return [args for name, args in instructions() if name == instruction]


def test_the_image_runs_wess_as_a_user_that_is_not_root(settings_from) -> None:
    """USER names the system user the image creates (uid 10001), never root; the
    entry point is `wess serve` with settings from the environment."""
    (user,) = arguments("USER")
    assert user.split(":")[0] not in {"root", "0"}
    assert any("useradd" in run and "--uid 10001" in run for run in arguments("RUN"))
    (entrypoint,) = arguments("ENTRYPOINT")
    assert json.loads(entrypoint) == ["wess", "serve"]
    settings_from(dockerfile_env())


def test_the_data_volume_is_where_wess_keeps_its_data(settings_from) -> None:
    """The VOLUME is the directory WESS_DB_PATH names, created and owned by the user."""
    data = settings_from(dockerfile_env()).database.path
    (volume,) = arguments("VOLUME")
    assert json.loads(volume) == [str(data)]
    assert any(f"chown wess:wess {data}" in run for run in arguments("RUN"))


def test_the_health_check_asks_healthz_on_the_bound_port(settings_from, routes) -> None:
    """HEALTHCHECK requests /healthz (a route of the app) on the port Wess binds, which
    EXPOSE names; the bind is every interface, so the check and the port mapping reach it."""
    settings = settings_from(dockerfile_env())
    (check,) = arguments("HEALTHCHECK")
    command = json.loads(check.split("CMD", 1)[1])
    url = f"http://127.0.0.1:{settings.server.port}/healthz"
    assert any(url in part for part in command)
    assert "/healthz" in routes
    assert arguments("EXPOSE") == [str(settings.server.port)]
    assert settings.server.host == "0.0.0.0"


def test_the_image_copies_what_the_package_needs() -> None:
    """Each COPY source exists in the repository, and the ignore file lets it through."""
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for copy in arguments("COPY"):
        *sources, _ = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert f"!{source.rstrip('/')}" in {entry.rstrip("/") for entry in ignored}


def test_compose_runs_wess_prometheus_and_grafana(settings_from, routes) -> None:
    """Wess is built from the Dockerfile, its port published as the port it binds, its
    data on a named volume at WESS_DB_PATH, with a stop grace period longer than its
    drain timeout; Prometheus and Grafana come with it."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"wess", "prometheus", "grafana"}
    wess = services["wess"]
    assert (DEPLOY / wess["build"]["context"] / wess["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    )
    settings = settings_from(wess["environment"])
    assert settings == settings_from({**dockerfile_env(), **wess["environment"]})
    assert wess["ports"] == [f"{settings.server.port}:{settings.server.port}"]
    volume, path = wess["volumes"][0].split(":")
    assert volume in compose["volumes"]
    assert Path(path) == settings.database.path
    assert int(wess["stop_grace_period"].rstrip("s")) > settings.server.shutdown_timeout
    for service in ("prometheus", "grafana"):
        for mount in services[service]["volumes"]:
            source = mount.split(":")[0]
            assert source in compose["volumes"] or (DEPLOY / source).exists(), mount

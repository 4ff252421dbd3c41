"""The multi-node kit (docs/scaling.md), read and checked against the code: every node
on the shared PostgreSQL of the compose file with one server secret and Redis counters,
nginx and Prometheus reaching exactly those nodes on the port they bind; the Kubernetes
replicas with an autoscaler and a disruption budget that select them, their secret
handed over as a private file."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CLUSTER = DEPLOY / "kubernetes-cluster"
NODES = ("wess-a", "wess-b", "wess-c")
SECRET_URL = "postgresql://wess:secret@db.internal:5432/wess?schema=wess"
"""Stands for the Secret's database-url when the settings are loaded."""


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose-cluster.yaml").read_text())
    return loaded


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount path -> named volume (or host path) of a compose service."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def test_every_node_shares_the_database_the_secret_and_the_counters(settings_from) -> None:
    services = compose()["services"]
    postgres = services["postgres"]["environment"]
    node_ids, data_volumes = set(), set()
    for name in NODES:
        service = services[name]
        settings = settings_from(service["environment"])
        database = urlsplit(settings.database.effective_url)
        assert settings.database.shared
        assert (database.hostname, database.port) == ("postgres", 5432)
        assert (database.username, database.password) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
        )
        assert database.path.lstrip("/") == postgres["POSTGRES_DB"]
        secret = settings.security.secret_file
        assert secret is not None
        assert mounts(service)[str(secret.parent)] == "wess-shared"
        data_volumes.add(mounts(service)[str(settings.database.path)])
        assert urlsplit(settings.ratelimit.storage).hostname == "redis"
        node_ids.add(settings.server.node_id)
        subnet = ipaddress.ip_network(compose()["networks"]["wess"]["ipam"]["config"][0]["subnet"])
        trusted = [ipaddress.ip_network(n) for n in settings.server.trusted_proxies]
        assert any(subnet.subnet_of(network) for network in trusted)  # type: ignore[arg-type]
        grace = float(service["stop_grace_period"].rstrip("s"))
        assert settings.server.shutdown_timeout < grace
    assert len(node_ids) == len(data_volumes) == len(NODES)  # a node id and files each


def test_the_first_node_starts_alone_on_healthy_services() -> None:
    """Node a may create the shared secret and the first admin key: b and c wait until
    it is healthy (the image's HEALTHCHECK), a until PostgreSQL and Redis are."""
    services = compose()["services"]
    assert services["wess-a"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in NODES[1:]:
        assert services[name]["depends_on"] == {"wess-a": {"condition": "service_healthy"}}
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    assert "HEALTHCHECK" in (DEPLOY / "Dockerfile").read_text()


def test_nginx_and_prometheus_reach_every_node_on_its_port(settings_from) -> None:
    services = compose()["services"]
    ports = {settings_from(services[n]["environment"]).server.port for n in NODES}
    (port,) = ports
    expected = {f"{name}:{port}" for name in NODES}
    nginx = services["nginx"]
    conf_file = {t: s for t, s in mounts(nginx).items()}["/etc/nginx/conf.d/default.conf"]
    conf = (DEPLOY / conf_file).read_text()
    upstream = re.search(r"upstream wess \{(.*?)\}", conf, re.DOTALL)
    assert upstream is not None
    assert set(re.findall(r"^\s*server\s+(\S+?)[\s;]", upstream.group(1), re.M)) == expected
    assert "proxy_pass http://wess;" in conf
    (listen,) = re.findall(r"^\s*listen\s+(\d+);", conf, re.M)
    assert nginx["ports"] == [f"{listen}:{listen}"]
    assert "X-Forwarded-For" in conf
    prometheus = services["prometheus"]
    config_file = {t: s for t, s in mounts(prometheus).items()}["/etc/prometheus/prometheus.yml"]
    scrape = yaml.safe_load((DEPLOY / config_file).read_text())
    (job,) = scrape["scrape_configs"]
    assert set(job["static_configs"][0]["targets"]) == expected
    assert job["metrics_path"] == "/metrics"


def cluster_objects() -> dict[str, dict[str, Any]]:
    kustomization = yaml.safe_load((CLUSTER / "kustomization.yaml").read_text())
    objects: dict[str, dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((CLUSTER / resource).read_text()):
            objects[document["kind"]] = document
    return objects


def pod_environment(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The container's WESS_* environment as Kubernetes builds it: the ConfigMap, then
    the literal values, the Secret's database URL and the pod's name."""
    (container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    (source,) = container["envFrom"]
    assert source["configMapRef"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    env = dict(objects["ConfigMap"]["data"])
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable["valueFrom"]:
            env[variable["name"]] = SECRET_URL
        else:
            assert variable["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            env[variable["name"]] = "wess-7d9f8c6b5-x2x4q"
    return env


def test_replicas_run_one_process_each_on_the_shared_store(settings_from, routes) -> None:
    objects = cluster_objects()
    assert set(objects) == {
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    deployment = objects["Deployment"]["spec"]
    pod = deployment["template"]["spec"]
    settings = settings_from(pod_environment(objects))
    assert settings.database.shared
    assert settings.server.workers == 1
    assert deployment["replicas"] >= 2
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert settings.server.shutdown_timeout < pod["terminationGracePeriodSeconds"]
    (container,) = pod["containers"]
    (port,) = container["ports"]
    assert port["containerPort"] == settings.server.port
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": port["name"]}
        assert path in routes
    assert not any("persistentVolumeClaim" in v for v in pod["volumes"])


def test_the_server_secret_reaches_wess_as_a_private_file(settings_from) -> None:
    """The Secret's server.secret is copied by the init container, mode 600, into the
    volume Wess reads security.secret_file from; database-url is in the same Secret."""
    objects = cluster_objects()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    secret_file = PurePosixPath(str(settings_from(pod_environment(objects)).security.secret_file))
    (container,) = pod["containers"]
    (init,) = pod["initContainers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (private,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(secret_file.parent)]
    (written,) = [m for m in init["volumeMounts"] if m["name"] == private["name"]]
    assert PurePosixPath(written["mountPath"]) / secret_file.name == secret_file
    command = init["command"]
    assert command[:3] == ["install", "-m", "600"]
    assert command[-1] == str(secret_file)
    source = PurePosixPath(command[-2])
    (read,) = [m for m in init["volumeMounts"] if m["mountPath"] == str(source.parent)]
    secret = volumes[read["name"]]["secret"]
    assert [i["path"] for i in secret["items"]] == [source.name]
    (url,) = [v for v in container["env"] if v["name"] == "WESS_DB_URL"]
    assert url["valueFrom"]["secretKeyRef"]["name"] == secret["secretName"]


def test_the_autoscaler_and_the_budget_keep_replicas_serving() -> None:
    objects = cluster_objects()
    deployment = objects["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["minReplicas"] >= deployment["spec"]["replicas"] >= 2
    assert hpa["maxReplicas"] > hpa["minReplicas"]
    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["maxUnavailable"] < hpa["minReplicas"]
    service = objects["Service"]["spec"]
    assert service["selector"].items() <= labels.items()

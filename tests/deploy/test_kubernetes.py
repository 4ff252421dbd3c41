"""The Kubernetes manifests, read and checked against the code: probes on Wess's own
health routes and port, resources, the PVC mounted where Wess keeps its data, a
Service that selects the pod, only real WESS_* settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

KUBERNETES = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def manifests() -> dict[str, dict[str, Any]]:
    """Every object of the kustomization, by kind."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    objects: dict[str, dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / resource).read_text()):
            objects[document["kind"]] = document
    return objects


def container() -> dict[str, Any]:
    (wess,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return wess


def environment() -> dict[str, str]:
    return {variable["name"]: variable["value"] for variable in container()["env"]}


def test_the_kustomization_holds_a_deployment_a_service_and_a_claim() -> None:
    assert set(manifests()) == {"Deployment", "Service", "PersistentVolumeClaim"}


def test_probes_ask_wess_health_routes_on_its_port(settings_from, routes) -> None:
    """Liveness and start-up ask /healthz, readiness /readyz, on the named port that is
    the port Wess binds (on every interface, so the kubelet reaches it)."""
    settings = settings_from(environment())
    wess = container()
    (port,) = wess["ports"]
    assert port["containerPort"] == settings.server.port
    assert settings.server.host == "0.0.0.0"
    expected = {
        "livenessProbe": "/healthz",
        "startupProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        get = wess[probe]["httpGet"]
        assert get["path"] == path
        assert get["path"] in routes
        assert get["port"] == port["name"]


def test_the_pod_stops_within_its_grace_period_and_runs_unprivileged(settings_from) -> None:
    """The drain timeout fits in the grace period; the pod runs as the image's user,
    never root, with resources requested and limited; one replica, replaced by Recreate
    (the embedded store takes one writer)."""
    deployment = manifests()["Deployment"]["spec"]
    pod = deployment["template"]["spec"]
    settings = settings_from(environment())
    assert settings.server.shutdown_timeout < pod["terminationGracePeriodSeconds"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    resources = container()["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert deployment["replicas"] == 1
    assert deployment["strategy"]["type"] == "Recreate"


def test_the_claim_is_mounted_where_wess_keeps_its_data(settings_from) -> None:
    """WESS_DB_PATH is the mount of the volume backed by the PVC of pvc.yaml."""
    objects = manifests()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    data = settings_from(environment()).database.path
    (mount,) = [m for m in container()["volumeMounts"] if Path(m["mountPath"]) == data]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    claim = objects["PersistentVolumeClaim"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_the_service_selects_the_pod_and_its_port() -> None:
    """The Service's selector matches the pod's labels and the Deployment's selector;
    it targets the container's named port; the pod is annotated for scraping there."""
    objects = manifests()
    template = objects["Deployment"]["spec"]["template"]
    service = objects["Service"]["spec"]
    labels = template["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert objects["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (port,) = container()["ports"]
    (exposed,) = service["ports"]
    assert exposed["targetPort"] == port["name"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"

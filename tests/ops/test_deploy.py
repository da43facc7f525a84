"""The container entrypoint (run outside Docker) and the Kubernetes manifests, checked against a real server."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.helpers.server import REPO, RunningServer, start_server

K8S = REPO / "deploy" / "k8s"
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def of_kind(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in manifests() if d["kind"] == kind]
    return doc


def container() -> dict[str, Any]:
    (found,) = of_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    return found


def flag_values(args: list[str]) -> dict[str, str]:
    values = {}
    for arg in args:
        name, _, value = arg.lstrip("-").partition("=")
        values[name] = value or "true"
    return values


def test_the_dockerfile_follows_tf_serving_image_conventions() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^EXPOSE 8500 8501$", text, re.M)
    assert "MODEL_NAME=model" in text and "MODEL_BASE_PATH=/models" in text
    assert "COPY docker/entrypoint.sh /usr/bin/tf_serving_entrypoint.sh" in text
    assert 'ENTRYPOINT ["/usr/bin/tf_serving_entrypoint.sh"]' in text
    script = ENTRYPOINT.read_text()
    assert os.access(ENTRYPOINT, os.X_OK)
    assert "--port=8500 --rest_api_port=8501" in script
    assert '--model_name="${MODEL_NAME}" --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" "$@"' in script
    assert "exec " in script  # the server must be the process that receives SIGTERM


@pytest.fixture(scope="module")
def entrypoint_server(ops_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """docker/entrypoint.sh with the Deployment's env and args, as the container would run it.

    The ConfigMap's file is written where the args expect it (rewritten to a temp path), and
    free ports plus --host come as extra arguments after the image's own, as `docker run` args would.
    """
    tmp = tmp_path_factory.mktemp("entrypoint")
    spec = container()
    env = {item["name"]: item["value"] for item in spec["env"]}
    config_dir = tmp / "etc-pyserving"
    config_dir.mkdir()
    for name, text in of_kind("ConfigMap")["data"].items():
        (config_dir / name).write_text(text)
    args = [arg.replace("/etc/pyserving", str(config_dir)) for arg in spec["args"]]
    env["MODEL_BASE_PATH"] = str(ops_models)  # the models volume
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    server = start_server(args, tmp, wait_models=[env["MODEL_NAME"]], env=env, command=["sh", str(ENTRYPOINT)])
    yield server
    server.stop()


def test_the_entrypoint_serves_the_model_named_by_the_environment(entrypoint_server: RunningServer) -> None:
    r = requests.post(
        f"{entrypoint_server.rest_url}/v1/models/half_plus_two:predict", json={"instances": [[1.0]]}, timeout=10
    )
    assert r.json() == {"predictions": [[2.5]]}
    assert "Exporting HTTP/REST API at:localhost:" in entrypoint_server.log()  # the image tests' signal


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="needs kubernetes-validate")

    docs = manifests()
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"}
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_probes_and_ports_match_the_servers_real_endpoints(entrypoint_server: RunningServer) -> None:
    spec = container()
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    # The entrypoint's defaults, which the manifest's container ports must name.
    assert ports == {"grpc": 8500, "http": 8501}
    probes = {kind: spec[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    for kind, probe in probes.items():
        port = probe["port"]
        assert ports.get(port, port) == 8501, f"{kind} must probe the REST port"
        response = requests.get(entrypoint_server.rest_url + probe["path"], timeout=5)
        assert response.status_code == 200, (kind, probe, response.text)
    assert probes["readinessProbe"]["path"] == "/readyz" and probes["livenessProbe"]["path"] == "/healthz"
    annotations = of_kind("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["http"]
    scrape = requests.get(entrypoint_server.rest_url + annotations["prometheus.io/path"], timeout=5)
    assert scrape.status_code == 200 and "# TYPE :tensorflow:serving:request_count counter" in scrape.text
    service_ports = {p["targetPort"] for p in of_kind("Service")["spec"]["ports"]}
    assert service_ports <= set(ports)


def test_termination_grace_covers_the_shutdown_delay_and_grace_period() -> None:
    flags = flag_values(container()["args"])
    needed = float(flags.get("shutdown_delay_seconds", 0)) + float(flags.get("shutdown_grace_period_seconds", 10))
    period = of_kind("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert period > needed

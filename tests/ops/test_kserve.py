"""deploy/kserve/: the ServingRuntime and InferenceService examples, checked offline and against a real server.

Offline: each document against KServe's CRD structure (deploy/kserve/schema/, with misspelt
keys refused), each container against Kubernetes' own core/v1 Container schema, and, when
KSERVE_CRD_DIR names a kserve checkout's config/crd/full, against KServe's full CRDs. Online:
the runtime's container args run a real pyserving, whose probe paths must answer 200 and which
must serve the protocols the runtime claims.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml

from tests.helpers import models
from tests.helpers.server import REPO, RunningServer, start_server

KSERVE = REPO / "deploy" / "kserve"
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
MODEL = "half_plus_two"


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((KSERVE / name).read_text()) if doc]


def runtime() -> dict[str, Any]:
    (doc,) = documents("servingruntime.yaml")
    return doc


def container() -> dict[str, Any]:
    (found,) = runtime()["spec"]["containers"]
    return found


def validator() -> jsonschema.protocols.Validator:
    schema = yaml.safe_load((KSERVE / "schema" / "kserve-crds.schema.yaml").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def all_documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(KSERVE.glob("*.yaml")) for doc in documents(path.name)]


def test_every_manifest_fits_kserves_crds() -> None:
    docs = all_documents()
    assert sorted(d["kind"] for d in docs) == ["InferenceService", "InferenceService", "ServingRuntime"]
    check = validator()
    for doc in docs:
        errors = [e.message for e in check.iter_errors(doc)]
        assert not errors, (doc["metadata"]["name"], errors)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["spec"].update(supportedModelFormat=[]), "misspelt spec key"),
        (lambda d: d["spec"].update(protocolVersions=["v3"]), "unknown protocol version"),
        (lambda d: d["spec"]["supportedModelFormats"][0].pop("name"), "format without a name"),
        (lambda d: d["spec"].pop("containers"), "no containers"),
    ],
)
def test_the_schema_refuses_broken_runtimes(change: Any, why: str) -> None:
    doc = copy.deepcopy(runtime())
    change(doc)
    assert not validator().is_valid(doc), why


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_runtime_container_is_a_valid_kubernetes_container(version: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="needs kubernetes-validate")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": {"containers": [container()]}}
    kubernetes_validate.validate(pod, version, strict=True)
    for isvc in documents("inferenceservice.yaml"):
        model = dict(isvc["spec"]["predictor"]["model"])
        for key in ("modelFormat", "runtime", "protocolVersion", "storageUri", "runtimeVersion", "storage"):
            model.pop(key, None)  # KServe's own keys; the rest is a Container
        pod["spec"]["containers"] = [{"name": "kserve-container", "image": "x", **model}]
        kubernetes_validate.validate(pod, version, strict=True)


def _strict(schema: Any) -> Any:
    """A CRD schema with unknown keys refused (the API server would prune them silently)."""
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    return out


@pytest.mark.skipif(not os.environ.get("KSERVE_CRD_DIR"), reason="KSERVE_CRD_DIR (kserve's config/crd/full) not set")
def test_every_manifest_fits_kserves_full_crds() -> None:
    crds = Path(os.environ["KSERVE_CRD_DIR"])
    files = {"ServingRuntime": "serving.kserve.io_servingruntimes.yaml"}
    files["InferenceService"] = "serving.kserve.io_inferenceservices.yaml"
    for doc in all_documents():
        crd = yaml.safe_load((crds / files[doc["kind"]]).read_text())
        version = doc["apiVersion"].split("/")[1]
        (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
        jsonschema.validate(doc, _strict(entry["schema"]["openAPIV3Schema"]))


def test_the_examples_use_the_runtime_and_formats_it_declares() -> None:
    spec = runtime()["spec"]
    formats = {f["name"] for f in spec["supportedModelFormats"]}
    assert formats == {"tensorflow", "onnx", "python"}
    assert set(spec["protocolVersions"]) == {"v1", "v2", "grpc-v1", "grpc-v2"}
    for isvc in documents("inferenceservice.yaml"):
        model = isvc["spec"]["predictor"]["model"]
        assert model["runtime"] == runtime()["metadata"]["name"]
        assert model["modelFormat"]["name"] in formats
        assert model["protocolVersion"] in spec["protocolVersions"]
        if model["protocolVersion"].startswith("grpc"):
            assert model["ports"] == [{"name": "h2c", "containerPort": 8081, "protocol": "TCP"}]


def _flags(args: list[str]) -> dict[str, str]:
    return {a.lstrip("-").partition("=")[0]: a.partition("=")[2] for a in args}


@pytest.fixture(scope="module")
def runtime_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """pyserving started with the runtime's command and args, as KServe would (ports freed for the test)."""
    tmp = tmp_path_factory.mktemp("kserve")
    mnt = tmp / "mnt-models"  # the storage initializer's /mnt/models: version folders
    models.export_half_plus_two(mnt / "1")
    spec = container()
    assert spec["command"] == ["pyserving", "serve"]
    script = Path(sys.executable).parent / "pyserving"  # the console script the image puts on PATH
    args = []
    for arg in spec["args"]:
        flag = arg.lstrip("-").partition("=")[0]
        if flag in ("rest_api_port", "port"):
            continue  # start_server picks free ports
        args.append(arg.replace("{{.Name}}", MODEL).replace("/mnt/models", str(mnt)))
    server = start_server(args, tmp, wait_models=[MODEL], command=[str(script), *spec["command"][1:]])
    yield server
    server.stop()


def test_kserve_ports_are_8080_for_http_and_8081_for_grpc() -> None:
    spec = container()
    flags = _flags(spec["args"])
    assert (flags["rest_api_port"], flags["port"], flags["model_base_path"]) == ("8080", "8081", "/mnt/models")
    assert flags["model_name"] == "{{.Name}}"
    assert spec["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]


def test_probes_answer_200_on_a_real_server(runtime_server: RunningServer) -> None:
    spec = container()
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = spec[kind]["httpGet"]
        assert probe["port"] == 8080, f"{kind} must probe the REST port"
        response = requests.get(runtime_server.rest_url + probe["path"], timeout=5)
        assert response.status_code == 200, (kind, probe, response.text)
    assert spec["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_the_runtime_serves_both_protocol_versions(runtime_server: RunningServer) -> None:
    v1 = requests.post(f"{runtime_server.rest_url}/v1/models/{MODEL}:predict", json={"instances": [[1.0]]}, timeout=10)
    assert v1.json() == {"predictions": [[2.5]]}
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [1.0]}]}
    v2 = requests.post(f"{runtime_server.rest_url}/v2/models/{MODEL}/infer", json=body, timeout=10)
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["data"] == [2.5]

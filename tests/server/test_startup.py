"""Startup: the ports open once the initial models have loaded, as TF Serving's do.

TF Serving's own integration tests export a SavedModel, start the server and send
Predict on the first answer of its port; clients, scripts and probes do the same.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import grpc
import pytest
import requests

pytest.importorskip("tensorflow")
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.server import RunningServer, start_server

# A second poll or the settle time would come long after any test timeout: a model loaded at
# startup was loaded by the first poll.
NO_SECOND_CHANCE = ["--file_system_poll_wait_seconds=600", "--file_system_settle_seconds=600"]


def age(folder: Path) -> Path:
    """Backdates every file an hour: an old folder is offered to the loader whatever it holds."""
    for path in folder.rglob("*"):
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime - 3600))
    return folder


def grpc_port_accepts(server: RunningServer) -> bool:
    """TF Serving's tests' readiness check: the gRPC port takes a TCP connection."""
    try:
        socket.create_connection(("127.0.0.1", server.grpc_port), timeout=1).close()
    except OSError:
        return False
    return True


def predict(server: RunningServer, name: str, x: float) -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[{"size": 1}]), float_val=[x]
        )
    )
    with grpc.insecure_channel(server.grpc_address) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 30)
    return float(response.outputs["y"].float_val[0])


def test_fresh_export_is_served_on_the_first_answer(tmp_path: Path) -> None:
    """Export, start at once, Predict once: the just-written folder loads without a second poll."""
    models.export_half_plus_two(tmp_path / "fresh" / "1")
    server = start_server(
        ["--model_name=fresh", f"--model_base_path={tmp_path / 'fresh'}", *NO_SECOND_CHANCE],
        tmp_path,
        ready=grpc_port_accepts,
    )
    try:
        assert predict(server, "fresh", 2.0) == 3.0
        r = requests.post(f"{server.rest_url}/v1/models/fresh:predict", json={"instances": [[2.0]]}, timeout=10)
        assert r.json() == {"predictions": [[3.0]]}
    finally:
        server.stop()


def test_a_folder_still_being_written_neither_loads_nor_holds_the_ports(tmp_path: Path) -> None:
    """saved_model.pb parses but a variables shard is missing: not complete, so not loaded at startup."""
    models.export_half_plus_two(tmp_path / "m" / "1")
    partial = models.export_half_plus_two(tmp_path / "m" / "2", b=3.0)
    for shard in (partial / "variables").glob("variables.data-*"):
        os.remove(shard)
    server = start_server(
        ["--model_name=m", f"--model_base_path={tmp_path / 'm'}", *NO_SECOND_CHANCE], tmp_path, ready=grpc_port_accepts
    )
    try:
        assert predict(server, "m", 2.0) == 3.0
        assert server.version_states("m") == {1: "AVAILABLE"}
    finally:
        server.stop()


def test_a_broken_model_is_reported_not_fatal(tmp_path: Path) -> None:
    """The ports open once the broken model ended in END; the good one serves; log and status say why."""
    models.export_half_plus_two(tmp_path / "good" / "1")
    age(models.write_broken_version(tmp_path / "broken" / "1", "garbage"))
    config = write_model_config(
        tmp_path / "models.config",
        [
            {"name": "good", "base_path": tmp_path / "good"},
            {"name": "broken", "base_path": tmp_path / "broken"},
        ],
    )
    server = start_server(
        [f"--model_config_file={config}", "--max_num_load_retries=0", *NO_SECOND_CHANCE],
        tmp_path,
        ready=grpc_port_accepts,
    )
    try:
        assert predict(server, "good", 2.0) == 3.0
        [status] = server.status("broken")["model_version_status"]
        assert status["state"] == "END" and status["status"]["error_message"]
        assert "Model broken has no AVAILABLE version" in server.log()
        assert requests.get(f"{server.rest_url}/readyz", timeout=10).status_code == 503
    finally:
        server.stop()


def test_open_ports_before_load_serves_status_during_the_load(tmp_path: Path) -> None:
    """The old behaviour, behind a flag: a load still retrying shows as LOADING with its error."""
    age(models.write_broken_version(tmp_path / "slow" / "1", "garbage"))
    server = start_server(
        [
            "--model_name=slow",
            f"--model_base_path={tmp_path / 'slow'}",
            "--open_ports_before_load",
            "--max_num_load_retries=5",
            "--load_retry_interval_micros=600000000",
            *NO_SECOND_CHANCE,
        ],
        tmp_path,
    )
    try:
        server.wait_for(
            lambda: server.status("slow")["model_version_status"][0]["status"]["error_message"] != "",
            60,
            "the first load error",
        )
        [status] = server.status("slow")["model_version_status"]
        assert status["state"] == "LOADING"
        assert requests.get(f"{server.rest_url}/readyz", timeout=10).status_code == 503
    finally:
        server.stop()

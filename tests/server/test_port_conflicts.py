"""A port another process holds is a startup error naming it: REST and gRPC, one process or workers.

grpcio binds with SO_REUSEPORT by default, so before this a second server on the first one's
gRPC port came up and took part of its connections (issue 17).
"""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pyserving.apis.tensor_proto import array_to_tensor, tensor_to_array
from tests.helpers.server import RunningServer, free_port, run_serve, start_server


def _second_server_fails(model_root: Path, grpc_port: int, rest_port: int, workers: int) -> str:
    done = run_serve(
        f"--model_base_path={model_root / 'half_plus_two'}",
        "--model_name=other",
        "--host=127.0.0.1",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--num_workers={workers}",
    )
    assert done.returncode == 255, done.stderr[-3000:]
    return done.stderr


def _first_still_owns_grpc(server: RunningServer) -> None:
    """Fresh connections (the kernel picks a listener per connection) all reach the first server."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hp2"
    request.inputs["x"].CopyFrom(array_to_tensor(np.array([[4.0]], np.float32)))
    for _ in range(20):
        with grpc.insecure_channel(server.grpc_address) as channel:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        np.testing.assert_allclose(tensor_to_array(response.outputs["y"]), [[4.0]])


@pytest.fixture(scope="module", params=[1, 2], ids=["first-single", "first-workers"])
def first(request: pytest.FixtureRequest, model_root: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("first")
    server = start_server(
        [f"--model_base_path={model_root / 'half_plus_two'}", "--model_name=hp2", f"--num_workers={request.param}"],
        tmp_path,
        wait_models=["hp2"],
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("workers", [1, 2], ids=["second-single", "second-workers"])
def test_a_second_server_on_the_grpc_port_fails_naming_it(first: RunningServer, model_root: Path, workers: int) -> None:
    stderr = _second_server_fails(model_root, first.grpc_port, free_port(), workers)
    assert f"127.0.0.1:{first.grpc_port}" in stderr
    assert "Failed to start server. Error: INVALID_ARGUMENT: Failed to bind" in stderr
    _first_still_owns_grpc(first)


@pytest.mark.parametrize("workers", [1, 2], ids=["second-single", "second-workers"])
def test_a_second_server_on_the_rest_port_fails_naming_it(first: RunningServer, model_root: Path, workers: int) -> None:
    stderr = _second_server_fails(model_root, free_port(), first.rest_port, workers)
    assert f"127.0.0.1:{first.rest_port}" in stderr
    assert "Failed to start server. Error: INVALID_ARGUMENT: Failed to bind" in stderr
    _first_still_owns_grpc(first)

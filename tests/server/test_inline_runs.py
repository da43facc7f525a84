"""Short runs on the event loop (--inline_run_max_micros): same answers, state kept, both protocols."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pyserving.apis.tensor_proto import array_to_tensor, tensor_to_array
from pyserving.serving.inline_runs import WARMUP_RUNS
from tests.conftest import write_model_config
from tests.helpers.server import start_server

GOES_INLINE = "Model counter version 1 signature incr_counter_by runs in"


def _serve(model_root: Path, tmp_path: Path, limit_micros: int):
    config = write_model_config(
        tmp_path / "models.config",
        [
            {"name": "counter", "base_path": model_root / "counter"},
            {"name": "hp2", "base_path": model_root / "half_plus_two"},
        ],
    )
    return start_server(
        [f"--model_config_file={config}", f"--inline_run_max_micros={limit_micros}"],
        tmp_path,
        wait_models=["counter", "hp2"],
    )


def _incr_rest(server) -> float:
    response = requests.post(
        f"{server.rest_url}/v1/models/counter:predict",
        json={"signature_name": "incr_counter_by", "inputs": {"delta": 1.0}},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return float(response.json()["outputs"])


def _incr_grpc(stub) -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "counter"
    request.model_spec.signature_name = "incr_counter_by"
    array_to_tensor(np.float32(1.0), out=request.inputs["delta"])
    return float(tensor_to_array(stub.Predict(request, timeout=10).outputs["output"]))


@pytest.mark.parametrize("limit_micros", [5000, 0])
def test_runs_on_the_loop_keep_answers_and_state(model_root: Path, tmp_path: Path, limit_micros: int) -> None:
    server = _serve(model_root, tmp_path, limit_micros)
    try:
        with grpc.insecure_channel(server.grpc_address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            values = []
            for i in range(2 * WARMUP_RUNS + 10):  # past the timed runs, alternating protocols
                values.append(_incr_rest(server) if i % 2 else _incr_grpc(stub))
            assert values == [float(v) for v in range(1, len(values) + 1)]

            x = np.arange(6, dtype=np.float32).reshape(6, 1)
            for _ in range(WARMUP_RUNS + 5):
                body = requests.post(
                    f"{server.rest_url}/v1/models/hp2:predict", json={"instances": x.tolist()}, timeout=10
                ).json()
                assert body == {"predictions": (x / 2 + 2).tolist()}
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "hp2"
                array_to_tensor(x, out=request.inputs["x"])
                np.testing.assert_array_equal(
                    tensor_to_array(stub.Predict(request, timeout=10).outputs["y"]), x / 2 + 2
                )
    finally:
        server.stop()
    assert (GOES_INLINE in server.log()) == (limit_micros > 0)

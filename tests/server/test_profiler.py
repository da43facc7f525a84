"""--enable_profiler: TensorFlow's profiler service on the gRPC port, traced by TF's own client."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest
import requests

tf = pytest.importorskip("tensorflow")

from tests.helpers.server import REPO, start_server

HALF_PLUS_TWO = REPO / "examples" / "models" / "half_plus_two"
PROFILE = "/tensorflow.ProfilerService/Profile"


def test_profiler_client_collects_a_trace_of_the_model_runs(tmp_path: Path) -> None:
    """TF Serving's profiler test: trace while predicting, then find the trace under logdir."""
    server = start_server(["--model_name=hp", f"--model_base_path={HALF_PLUS_TWO}"], tmp_path)
    stop = threading.Event()

    def predict_until_stopped() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                session.post(f"{server.rest_url}/v1/models/hp:predict", json={"instances": [[1.0]]}, timeout=10)

    logdir = tmp_path / "logs"
    load = threading.Thread(target=predict_until_stopped)
    load.start()
    try:
        tf.profiler.experimental.client.trace(f"grpc://{server.grpc_address}", str(logdir), 1000)
    finally:
        stop.set()
        load.join()
        server.stop()
    [trace] = (logdir / "plugins" / "profile").glob("*/*.xplane.pb")
    assert b"SessionRun" in trace.read_bytes()  # the served model's session runs are in it


@pytest.mark.parametrize(
    "flag,code", [([], grpc.StatusCode.INVALID_ARGUMENT), (["--enable_profiler=false"], grpc.StatusCode.UNIMPLEMENTED)]
)
def test_profiler_service_is_there_unless_disabled(tmp_path: Path, flag: list[str], code: grpc.StatusCode) -> None:
    server = start_server(["--model_name=hp", f"--model_base_path={HALF_PLUS_TWO}", *flag], tmp_path)
    try:
        with grpc.insecure_channel(server.grpc_address) as channel:
            with pytest.raises(grpc.RpcError) as error:
                channel.unary_unary(PROFILE)(b"", timeout=30)  # duration_ms 0
    finally:
        server.stop()
    assert error.value.code() == code

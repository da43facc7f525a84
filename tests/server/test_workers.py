"""--num_workers: several whole servers on the same ports (SO_REUSEPORT) under one supervisor."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from pyserving.apis.tensor_proto import array_to_tensor, tensor_to_array
from tests.helpers.server import RunningServer, free_port, run_serve, start_server

WORKERS = 2


def _serve(model_root: Path, tmp_path: Path, *extra: str) -> RunningServer:
    server = start_server(
        [f"--model_base_path={model_root / 'half_plus_two'}", "--model_name=hp2", f"--num_workers={WORKERS}", *extra],
        tmp_path,
        wait_models=["hp2"],
    )
    # start_server saw one worker ready; each logs its REST line once it listens.
    server.wait_for(
        lambda: all(f"w{i}] Exporting HTTP/REST API" in server.log() for i in range(1, WORKERS + 1)),
        what="every worker listening",
    )
    return server


def _workers(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


def _predict_on_a_new_connection(server: RunningServer, x: float) -> requests.Response:
    """hp2:predict with ``Connection: close``: the kernel spreads connections, not requests, over workers."""
    response = requests.post(
        f"{server.rest_url}/v1/models/hp2:predict",
        json={"instances": [[x]]},
        headers={"Connection": "close"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response


def _grpc_predict(address: str, values: list[float]) -> np.ndarray:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hp2"
    request.inputs["x"].CopyFrom(array_to_tensor(np.array(values, np.float32).reshape(-1, 1)))
    with grpc.insecure_channel(address) as channel:  # a new connection each time
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    return tensor_to_array(response.outputs["y"])


def test_workers_share_both_ports_and_stop_together(model_root: Path, tmp_path: Path) -> None:
    server = _serve(model_root, tmp_path, "--log_requests")
    try:
        workers = _workers(server.process.pid)
        assert len(workers) == WORKERS
        for i in range(40):  # a new connection per request: the kernel spreads connections, not requests
            response = _predict_on_a_new_connection(server, float(i))
            assert response.json() == {"predictions": [[i / 2 + 2]]}
        for i in range(10):
            np.testing.assert_allclose(_grpc_predict(server.grpc_address, [float(i), 1.0]), [[i / 2 + 2], [2.5]])
        access = [
            line for line in server.log().splitlines() if "pyserving.access w" in line and " predict model=hp2 " in line
        ]
        assert len(access) == 50
        served_by = {line.split("pyserving.access ")[1].split("]")[0] for line in access}
        assert served_by == {f"w{i}" for i in range(1, WORKERS + 1)}  # 50 connections, both workers
    finally:
        status = server.stop()
    assert status == 0
    assert all(_gone(pid) for pid in workers)
    assert server.log().count("] Server stopped") == WORKERS


def test_a_crashed_worker_is_replaced_while_the_other_serves(model_root: Path, tmp_path: Path) -> None:
    server = _serve(model_root, tmp_path)
    try:
        first, second = _workers(server.process.pid)
        os.kill(first, signal.SIGSEGV)  # what a crash inside a backend looks like to the supervisor
        server.wait_for(lambda: _gone(first), what="the crashed worker gone")
        for i in range(20):  # the survivor serves every new connection meanwhile
            _predict_on_a_new_connection(server, float(i))
        server.wait_for(lambda: len(_workers(server.process.pid)) == WORKERS, what="a new worker")
        replacement = (set(_workers(server.process.pid)) - {second}).pop()
        server.wait_for(lambda: server.log().count("w1] Exporting HTTP/REST API") == 2, what="the new worker serving")
        assert server.process.poll() is None and not _gone(second)
        assert f"(pid {first}) was killed by signal {int(signal.SIGSEGV)}; starting a new one" in server.log()
        assert f"Worker 1 restarted (pid {replacement})" in server.log()
        np.testing.assert_allclose(_grpc_predict(server.grpc_address, [4.0]), [[4.0]])
    finally:
        status = server.stop()
    assert status == 0
    assert _gone(second) and _gone(replacement)


def test_a_worker_that_exits_stops_the_server(model_root: Path, tmp_path: Path) -> None:
    server = _serve(model_root, tmp_path)
    try:
        first, second = _workers(server.process.pid)
        os.kill(first, signal.SIGTERM)  # it stops cleanly, on its own: the whole server stops
        assert server.process.wait(60) == 0
    finally:
        server.stop()
    assert _gone(second)  # the supervisor exits after its last worker
    assert f"(pid {first}) exited with status 0: stopping the other workers" in server.log()


def test_reload_config_rpc_is_refused(model_root: Path, tmp_path: Path) -> None:
    server = _serve(model_root, tmp_path)
    try:
        with grpc.insecure_channel(server.grpc_address) as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(), timeout=30)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "--num_workers" in info.value.details()
        # the server still serves
        assert requests.get(f"{server.rest_url}/v1/models/hp2", timeout=10).status_code == 200
    finally:
        server.stop()


def _start_fails(model_root: Path, *args: str) -> str:
    done = run_serve(
        f"--model_base_path={model_root / 'half_plus_two'}",
        "--model_name=hp2",
        "--host=127.0.0.1",
        f"--num_workers={WORKERS}",
        *args,
        timeout=60,
    )
    assert done.returncode == 255, done.stderr
    return done.stderr


def test_a_port_in_use_fails_at_startup(model_root: Path) -> None:
    # SO_REUSEPORT would let the workers share a port with a stranger: the supervisor checks first.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        stderr = _start_fails(model_root, f"--port={free_port()}", f"--rest_api_port={port}")
    assert (
        f"Failed to start server. Error: INVALID_ARGUMENT: Failed to bind 127.0.0.1:{port} (--rest_api_port)" in stderr
    )


def test_a_grpc_socket_path_is_refused(model_root: Path, tmp_path: Path) -> None:
    stderr = _start_fails(
        model_root,
        f"--port={free_port()}",
        f"--rest_api_port={free_port()}",
        f"--grpc_socket_path={tmp_path / 'grpc.sock'}",
    )
    assert "--num_workers > 1 cannot share --grpc_socket_path" in stderr


def test_num_workers_must_be_positive(model_root: Path) -> None:
    stderr = _start_fails(
        model_root, f"--port={free_port()}", f"--rest_api_port={free_port()}", "--num_workers=0"
    )  # the last occurrence of a flag wins
    assert "--num_workers must be positive" in stderr


CRASHES_IN_WORKER_1 = '''
import os
import signal

from pyserving.backends.python import PythonModel, Tensor


class Model(PythonModel):
    """Kills its worker with SIGSEGV at every load in worker 1 (a backend crash); loads elsewhere."""

    inputs = {"x": Tensor("float32", [-1])}
    outputs = {"y": Tensor("float32", [-1])}

    def load(self, version_dir):
        if os.environ.get("PYSERVING_WORKER") == "1":
            os.kill(os.getpid(), signal.SIGSEGV)

    def predict(self, inputs):
        return {"y": inputs["x"]}
'''


def test_a_worker_that_crashes_in_a_loop_is_backed_off_while_the_other_serves(model_root: Path, tmp_path: Path) -> None:
    from tests.conftest import write_model_config
    from tests.helpers.python_models import write_python_model

    write_python_model(tmp_path / "crashy" / "1", CRASHES_IN_WORKER_1)
    config = write_model_config(
        tmp_path / "models.config",
        [
            {"name": "hp2", "base_path": str(model_root / "half_plus_two")},
            {"name": "crashy", "base_path": str(tmp_path / "crashy"), "platform": "python"},
        ],
    )
    server = start_server(
        [f"--model_config_file={config}", f"--num_workers={WORKERS}"], tmp_path, wait_models=["hp2", "crashy"]
    )
    try:
        server.wait_for(
            lambda: "starting a new one in 2 s" in server.log(), timeout=90, what="the second quick death backed off"
        )
        for i in range(20):  # worker 2 serves every new connection meanwhile
            _predict_on_a_new_connection(server, float(i))
        log = server.log()
        assert "Worker 1 (pid" in log and "was killed by signal 11; starting a new one in 1 s" in log
        assert "Worker 2 (pid" not in log
    finally:
        status = server.stop()
    assert status == 0

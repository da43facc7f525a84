"""Model warmup as TF Serving does it, and the ``pyserving warmup`` tool that writes warmup files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc

from pyserving.tools.warmup_file import main as warmup_main
from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.server import RunningServer, start_server
from tests.ops.support import scrape, value, write_prediction_logs

WARMUP = Path("assets.extra") / "tf_serving_warmup_requests"
COUNTER_RECORDS = 3
ITERATIONS = 2


def version_with_warmup(src: Path, dst: Path, write: Callable[[Path], object]) -> Path:
    """Copies version folder ``src`` to ``dst`` with a warmup file, appearing atomically."""
    staging = dst.parent.parent / f"staging-{dst.parent.name}-{dst.name}"
    models.copy_version(src, staging)
    write(staging / WARMUP)
    return models.copy_version(staging, dst)


def counter_value(server: RunningServer, model: str = "counter") -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "get_counter"
    with grpc.insecure_channel(server.grpc_address) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    return float(response.outputs["output"].float_val[0])


def write_counter_warmup(path: Path) -> None:
    code = warmup_main(
        [
            "--output",
            str(path),
            "--model",
            "counter",
            "--repeat",
            str(COUNTER_RECORDS),
            "--grpc_request",
            'model_spec { signature_name: "incr_counter" }',
        ]
    )
    assert code == 0


def write_json_warmup(path: Path) -> None:
    # The output path lies inside the version folder, so the tool finds the signature there.
    code = warmup_main(
        [
            "--output",
            str(path),
            "--model",
            "hp",
            "--request",
            '{"instances": [[1.0], [2.0]]}',
            "--request",
            '{"signature_name": "serving_default", "inputs": {"x": [[3.0]]}}',
        ]
    )
    assert code == 0


@pytest.fixture(scope="module")
def server(
    ops_models: Path, monitoring_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("warmup")
    version_with_warmup(ops_models / "counter" / "1", tmp / "counter" / "1", write_counter_warmup)
    version_with_warmup(ops_models / "half_plus_two" / "1", tmp / "hp" / "1", write_json_warmup)
    config = write_model_config(
        tmp / "models.config",
        [
            {"name": "counter", "base_path": tmp / "counter"},
            {"name": "hp", "base_path": tmp / "hp"},
        ],
    )
    running = start_server(
        [
            f"--model_config_file={config}",
            f"--monitoring_config_file={monitoring_config}",
            f"--num_request_iterations_for_warmup={ITERATIONS}",
            "--max_num_load_retries=0",
            "--file_system_poll_wait_seconds=1",
        ],
        tmp,
        wait_models=["counter", "hp"],
    )
    running.base = tmp  # type: ignore[attr-defined]
    yield running
    running.stop()


def test_warmup_records_are_replayed_before_the_version_is_available(server: RunningServer) -> None:
    # incr_counter mutates the model: the counter shows every replay, iterations included.
    assert counter_value(server) == COUNTER_RECORDS * ITERATIONS
    samples = scrape(server.rest_url)
    assert value(samples, "pyserving_model_warmup_records_total", model="counter", version="1") == COUNTER_RECORDS
    assert (
        value(samples, "pyserving_model_warmup_duration_seconds_count", model="counter", version="1", outcome="success")
        == 1
    )
    path = str(server.base / "counter" / "1")  # type: ignore[attr-defined]
    assert value(samples, ":tensorflow:serving:model_warmup_latency_count", model_path=path, status="OK") == 1
    assert "Finished reading warmup data for model at" in server.log()


def test_json_requests_written_by_the_tool_warm_up_the_model(server: RunningServer) -> None:
    samples = scrape(server.rest_url)
    assert value(samples, "pyserving_model_warmup_records_total", model="hp", version="1") == 2
    r = requests.post(f"{server.rest_url}/v1/models/hp:predict", json={"instances": [[1.0]]}, timeout=10)
    assert r.json() == {"predictions": [[2.5]]}


def _predict_log(signature: str = "serving_default", x: float = 1.0) -> object:
    log = prediction_log_pb2.PredictionLog()
    request = log.predict_log.request
    request.model_spec.name = "ignored"
    request.model_spec.signature_name = signature
    tensor = request.inputs["x"]
    tensor.dtype = 1  # DT_FLOAT
    tensor.tensor_shape.dim.add().size = 1
    tensor.tensor_shape.dim.add().size = 1
    tensor.float_val.append(x)
    return log


def _session_run_log() -> object:
    log = prediction_log_pb2.PredictionLog()
    log.session_run_log.request.feed.add()
    return log


BROKEN = [
    (
        "unknown_signature",
        lambda p: write_prediction_logs(p, [_predict_log(), _predict_log("nope")]),
        "FAILED_PRECONDITION",
        'Serving signature key "nope" not found.',
    ),
    (
        "unsupported_log_type",
        lambda p: write_prediction_logs(p, [_session_run_log()]),
        "UNIMPLEMENTED",
        "Unsupported log_type for warmup: 5",
    ),
    (
        "not_a_tfrecord",
        lambda p: (p.parent.mkdir(parents=True, exist_ok=True), p.write_bytes(b"not a TFRecord file at all")),
        "DATA_LOSS",
        "Please verify your warmup data is in TFRecord format.",
    ),
    (
        "unparseable_record",
        lambda p: write_prediction_logs(p, [b"\xff\xff\xff garbage"]),
        "INVALID_ARGUMENT",
        "Failed to parse warmup record",
    ),
    (
        "too_many_records",
        lambda p: write_prediction_logs(p, [_predict_log()] * 1001),
        "INVALID_ARGUMENT",
        "Number of warmup records exceeds the maximum (1000) at ",
    ),
]


@pytest.mark.parametrize(("case", "write", "code", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_failing_warmup_fails_the_load_and_the_old_version_keeps_serving(
    server: RunningServer, case: str, write: Callable[[Path], object], code: str, message: str
) -> None:
    base: Path = server.base / "hp"  # type: ignore[attr-defined]
    version = max(int(p.name) for p in base.iterdir() if p.name.isdigit()) + 1
    version_with_warmup(base / "1", base / str(version), write)
    server.wait_for(lambda: server.version_states("hp").get(version) == "END", 60, f"hp v{version} END")
    entry = next(v for v in server.status("hp")["model_version_status"] if v["version"] == str(version))
    assert entry["status"]["error_code"] == code, entry
    assert message in entry["status"]["error_message"]
    assert server.version_states("hp")[1] == "AVAILABLE"
    r = requests.post(f"{server.rest_url}/v1/models/hp:predict", json={"instances": [[2.0]]}, timeout=10)
    assert r.status_code == 200 and r.json() == {"predictions": [[3.0]]}
    samples = scrape(server.rest_url)
    assert (
        value(
            samples,
            "pyserving_model_warmup_duration_seconds_count",
            model="hp",
            version=str(version),
            outcome="failure",
        )
        == 1
    )


def test_warmup_can_be_turned_off(ops_models: Path, tmp_path: Path) -> None:
    version_with_warmup(ops_models / "counter" / "1", tmp_path / "counter" / "1", write_counter_warmup)
    server = start_server(
        ["--model_name=counter", f"--model_base_path={tmp_path / 'counter'}", "--enable_model_warmup=false"],
        tmp_path,
        wait_models=["counter"],
    )
    try:
        assert counter_value(server) == 0
    finally:
        server.stop()


def test_the_warmup_tool_explains_what_it_needs(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyserving",
            "warmup",
            "--output",
            str(tmp_path / "w"),
            "--request",
            '{"instances": [1]}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "give --saved_model_dir" in result.stderr

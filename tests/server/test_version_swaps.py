"""Zero failed requests while versions change, under continuous REST and gRPC load."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import requests

from tests.helpers import models
from tests.helpers.server import RunningServer, start_server

GOOD_VERSIONS = {1, 2, 3, 5, 6, 7, 8}
BROKEN_VERSION = 4


@dataclass
class LoadResult:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    mismatched: list[str] = field(default_factory=list)


def rest_client(server: RunningServer, result: LoadResult, stop: threading.Event) -> None:
    with requests.Session() as session:
        while not stop.is_set() and result.ok < 200_000:
            try:
                r = session.post(f"{server.rest_url}/v1/models/m:predict", json={"instances": [[0.0]]}, timeout=30)
                if r.status_code != 200:
                    result.failures.append(f"REST {r.status_code}: {r.text[:200]}")
                    continue
                result.seen.add(int(r.json()["predictions"][0][0]))
                result.ok += 1
            except requests.RequestException as exc:
                result.failures.append(f"REST {exc}")


def grpc_client(server: RunningServer, result: LoadResult, stop: threading.Event) -> None:
    import numpy as np
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from pyserving.apis.tensor_proto import array_to_tensor, tensor_to_array

    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "m"
        request.inputs["x"].CopyFrom(array_to_tensor(np.zeros((1, 1), np.float32)))
        while not stop.is_set() and result.ok < 200_000:
            try:
                response = stub.Predict(request, 30)
            except grpc.RpcError as exc:
                result.failures.append(f"gRPC {exc.code()}: {exc.details()}")
                continue
            value = int(tensor_to_array(response.outputs["y"]).reshape(-1)[0])
            if value != response.model_spec.version.value:
                result.mismatched.append(f"output {value} from version {response.model_spec.version.value}")
            result.seen.add(value)
            result.ok += 1


def slow_copy(src: Path, dst: Path) -> None:
    """A non-atomic copy that keeps writing across several polls (like a big cp)."""
    for root, _dirs, files in os.walk(src):
        target_dir = dst / Path(root).relative_to(src)
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in sorted(files):
            data = (Path(root) / name).read_bytes()
            with open(target_dir / name, "wb") as out:
                half = len(data) // 2
                out.write(data[:half])
                out.flush()
                time.sleep(0.3)
                out.write(data[half:])
            time.sleep(0.3)


def test_ten_swaps_under_load_fail_no_request(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    for version in GOOD_VERSIONS:
        models.export_half_plus_two(staging / str(version), b=float(version))
    base = tmp_path / "m"
    shutil.copytree(staging / "1", base / "1")
    server = start_server(
        ["--model_name=m", f"--model_base_path={base}", "--max_num_load_retries=0", "--file_system_settle_seconds=5"],
        tmp_path,
        wait_models=["m"],
    )
    states = server.version_states

    def atomic(version: int) -> None:
        shutil.copytree(staging / str(version), base / f".incoming-{version}")
        os.rename(base / f".incoming-{version}", base / str(version))

    def serving(version: int) -> Callable[[], bool]:
        return lambda: (
            states("m").get(version) == "AVAILABLE"
            and list(v for v, s in states("m").items() if s == "AVAILABLE") == [version]
        )

    swaps: list[tuple[str, Callable[[], None], Callable[[], bool]]] = [
        ("atomic rename v2", lambda: atomic(2), serving(2)),
        ("slow copy v3", lambda: slow_copy(staging / "3", base / "3"), serving(3)),
        ("delete old v1 and v2", lambda: [shutil.rmtree(base / "1"), shutil.rmtree(base / "2")], serving(3)),
        (
            "broken v4",
            lambda: models.write_broken_version(base / "4", "garbage"),
            lambda: states("m").get(4) == "END" and serving(3)(),
        ),
        ("delete broken v4", lambda: shutil.rmtree(base / "4"), serving(3)),
        ("atomic rename v5", lambda: atomic(5), serving(5)),
        ("delete newest v5", lambda: shutil.rmtree(base / "5"), serving(3)),
        ("slow copy v6", lambda: slow_copy(staging / "6", base / "6"), serving(6)),
        ("atomic rename v7", lambda: atomic(7), serving(7)),
        ("atomic rename v8", lambda: atomic(8), serving(8)),
    ]
    results = [LoadResult() for _ in range(4)]
    stop = threading.Event()
    clients = [
        threading.Thread(target=rest_client, args=(server, results[0], stop)),
        threading.Thread(target=rest_client, args=(server, results[1], stop)),
        threading.Thread(target=grpc_client, args=(server, results[2], stop)),
        threading.Thread(target=grpc_client, args=(server, results[3], stop)),
    ]
    try:
        for client in clients:
            client.start()
        for description, action, done in swaps:
            action()
            server.wait_for(done, 60, description)
    finally:
        stop.set()
        for client in clients:
            client.join(60)
        server.stop()
    failures = [f for r in results for f in r.failures]
    assert failures == []
    assert [m for r in results for m in r.mismatched] == []
    seen = set().union(*(r.seen for r in results))
    assert BROKEN_VERSION not in seen and seen <= GOOD_VERSIONS
    assert {1, 3, 8} <= seen
    assert all(r.ok > 0 for r in results)

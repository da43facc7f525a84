"""Per-call cost of pyserving.client against the stock tensorflow-serving-api stub, and the
size of a client-only install.

    python -m bench.client_overhead [--calls 2000] [--rounds 5] [--no-size]

One server (half_plus_two, the tiny model) in its own process; one caller here making calls one
after another, so each figure is a round trip (server time included, the same for every row).
Rows run interleaved, round by round, and each row reports its median per-call time over all
rounds. The rows:

* ``stock grpc``: ``PredictionServiceStub`` from tensorflow-serving-api, ``tf.make_tensor_proto``
  in, ``tf.make_ndarray`` out (the seed tutorial's client);
* ``client grpc``: ``Client("grpc://...").predict`` (numpy in, numpy out);
* ``stubs + client tensors``: the same stock stub with ``pyserving.client.make_tensor_proto`` /
  ``make_ndarray`` (dropping TensorFlow from an existing client);
* ``stock rest``: ``requests.post`` of a JSON body, ``np.asarray`` of ``predictions``;
* ``client rest``: ``Client("http://...").predict``.

Then the client-side CPU cost alone (request built and serialized, answer parsed to numpy, no
network) for the two gRPC ways. Target (issue 16): ``client grpc`` <= ``stock grpc``.

The install size: the pyserving-client wheel (clients/python) and its dependencies in a fresh
virtualenv, site-packages minus pip/setuptools. Target: <= 50 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
TOOLING = {"pip", "setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth"}


def timed_rows(rows: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    """Median seconds per call of each row, rows interleaved round by round."""
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for fn in rows.values():  # warm-up: connections, caches, first-call imports
        for _ in range(50):
            fn()
    per_round = max(1, calls // rounds)
    for _ in range(rounds):
        for name, fn in rows.items():
            for _ in range(per_round):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def cpu_rows(calls: int) -> dict[str, float]:
    """Client-side work only: build + serialize the request, parse the answer into numpy."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from pyserving.client import make_ndarray, make_tensor_proto
    from pyserving.client.tfserving import TFServingGrpc

    x = np.array([[1.0], [2.0], [5.0]], dtype=np.float32)
    answer = predict_pb2.PredictResponse()
    answer.outputs["y"].CopyFrom(tf.make_tensor_proto(0.5 * x + 2))
    answer.outputs["y"].ClearField("tensor_content")
    answer.outputs["y"].float_val.extend((0.5 * x + 2).ravel().tolist())  # as the server answers
    wire = answer.SerializeToString()

    def stock() -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
        request.SerializeToString()
        response = predict_pb2.PredictResponse.FromString(wire)
        {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    api = TFServingGrpc()

    def ours() -> None:
        plan = api.predict("half_plus_two", {"x": x})
        call = next(plan)
        call.request.SerializeToString()
        try:
            plan.send(call.response_type.FromString(wire))
        except StopIteration:
            pass

    def ours_tensors() -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.inputs["x"].CopyFrom(make_tensor_proto(x))
        request.SerializeToString()
        response = predict_pb2.PredictResponse.FromString(wire)
        {k: make_ndarray(v) for k, v in response.outputs.items()}

    return timed_rows({"stock (tf)": stock, "client": ours, "client tensors": ours_tensors}, calls, 5)


def install_size(work: Path) -> tuple[int, dict[str, int]] | str:
    """(bytes, bytes per top-level entry) of a client-only install, or why it could not be made."""
    wheels = work / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "clients/python"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    shutil.rmtree(REPO / "pyserving_client.egg-info", ignore_errors=True)
    shutil.rmtree(REPO / "clients" / "python" / "build", ignore_errors=True)
    if built.returncode:
        return "wheel build failed: " + built.stderr[-300:]
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (wheel,) = wheels.glob("*.whl")
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)],
        capture_output=True,
        text=True,
    )
    if installed.returncode:
        return "install failed: " + installed.stderr[-300:]
    (site,) = (venv / "lib").glob("python*/site-packages")
    sizes: dict[str, int] = {}
    for entry in site.iterdir():
        key = entry.name.split("-")[0] if entry.name.endswith(".dist-info") else entry.name
        if key in TOOLING or key.split(".")[0] in TOOLING:
            continue
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        sizes[key] = sizes.get(key, 0) + sum(p.stat().st_size for p in files)
    return sum(sizes.values()), sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per row")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-size", action="store_true", help="skip the client-only install")
    args = parser.parse_args()

    import grpc
    import numpy as np
    import requests
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from pyserving.client import Client, make_ndarray, make_tensor_proto
    from tests.helpers.models import export_half_plus_two
    from tests.helpers.server import start_server

    x = np.array([[1.0], [2.0], [5.0]], dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export_half_plus_two(work / "half_plus_two" / "1")
        server = start_server(
            ["--model_name=half_plus_two", f"--model_base_path={work / 'half_plus_two'}"],
            work,
            wait_models=["half_plus_two"],
        )
        try:
            channel = grpc.insecure_channel(server.grpc_address)
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            def stock_grpc(tensor: Callable = tf.make_tensor_proto, ndarray: Callable = tf.make_ndarray) -> object:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "half_plus_two"
                request.inputs["x"].CopyFrom(tensor(x))
                response = stub.Predict(request, 10)
                return {k: ndarray(v) for k, v in response.outputs.items()}

            grpc_client = Client(f"grpc://{server.grpc_address}", timeout=10)
            rest_client = Client(server.rest_url, timeout=10)
            session = requests.Session()
            url = f"{server.rest_url}/v1/models/half_plus_two:predict"

            def stock_rest() -> object:
                body = session.post(url, json={"instances": x.tolist()}, timeout=10).json()
                return np.asarray(body["predictions"], dtype=np.float32)

            rows = {
                "stock grpc (tf.make_tensor_proto)": stock_grpc,
                "client grpc": lambda: grpc_client.predict("half_plus_two", {"x": x}),
                "stock stub + client tensors": lambda: stock_grpc(make_tensor_proto, make_ndarray),
                "stock rest (requests + json)": stock_rest,
                "client rest": lambda: rest_client.predict("half_plus_two", {"x": x}),
            }
            results = timed_rows(rows, args.calls, args.rounds)
        finally:
            server.stop()
        print(f"per-call round trip, median of {args.calls} sequential calls (tiny model, loopback):")
        for name, seconds in results.items():
            print(f"  {name:36s} {seconds * 1e6:8.1f} us")
        cpu = cpu_rows(args.calls)
        print("client-side CPU per call (build + serialize request, parse answer to numpy; no network):")
        for name, seconds in cpu.items():
            print(f"  {name:36s} {seconds * 1e6:8.1f} us")
        ratio = results["client grpc"] / results["stock grpc (tf.make_tensor_proto)"]
        verdict = "PASS" if ratio <= 1.0 else "MISS"
        print(f"target client grpc <= stock grpc: {ratio:.2f}x  {verdict}")

        if not args.no_size:
            size = install_size(work)
            if isinstance(size, str):
                print(f"client-only install: not measured ({size})")
            else:
                total, parts = size
                detail = ", ".join(f"{k} {v / 1e6:.1f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
                verdict = "PASS" if total <= 50e6 else "MISS"
                print(f"client-only install: {total / 1e6:.1f} MB (MB: {detail})  target <= 50 MB {verdict}")
                no_numpy = total - sum(v for k, v in parts.items() if k.startswith("numpy"))
                print(f"  without numpy (which any numpy user already has): {no_numpy / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

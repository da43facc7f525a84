"""Version swaps under load: failed requests, p50/p99 latency while swapping vs steady, RSS.

    python -m bench.swaps [--swaps 20] [--clients 4] [--model mlp|tiny]

Starts pyserving on a model exported to a temp dir, drives it with concurrent
REST clients, measures a steady window, then publishes a new version (atomic
rename) and deletes the old one ``--swaps`` times, and prints one table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

from bench.startup import rss_mib
from tests.helpers import models
from tests.helpers.server import start_server


def export_mlp(path: Path, seed: int) -> None:
    """A float32 MLP 512->2048->2048->512->10 (about 7 M parameters, 28 MB)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    rng = np.random.default_rng(seed)
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 512], name="x")
        h = x
        for i, (n_in, n_out) in enumerate([(512, 2048), (2048, 2048), (2048, 512), (512, 10)]):
            w = tf.Variable(rng.standard_normal((n_in, n_out), dtype=np.float32) * 0.02, name=f"w{i}")
            b = tf.Variable(np.zeros(n_out, np.float32), name=f"b{i}")
            h = tf.matmul(h, w) + b
            if i < 3:
                h = tf.nn.relu(h)
        y = tf.identity(h, name="y")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            signature = v1.saved_model.signature_def_utils.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(session, ["serve"], {"serving_default": signature})
            builder.save()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--swaps", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--model", choices=["mlp", "tiny"], default="mlp")
    parser.add_argument("--steady-seconds", type=float, default=5.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pyserving-swaps-"))
    staging, base = tmp / "staging", tmp / "m"
    for version in (1, 2):
        if args.model == "mlp":
            export_mlp(staging / str(version), version)
        else:
            models.export_half_plus_two(staging / str(version), b=float(version))
    shutil.copytree(staging / "1", base / "1")
    server = start_server(["--model_name=m", f"--model_base_path={base}"], tmp, wait_models=["m"], grpc=False)
    body = {"instances": np.zeros((1, 512), np.float32).tolist()} if args.model == "mlp" else {"instances": [[0.0]]}
    latencies: list[tuple[float, float]] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    r = session.post(f"{server.rest_url}/v1/models/m:predict", json=body, timeout=30)
                    if r.status_code != 200:
                        failures.append(r.text[:200])
                except requests.RequestException as exc:
                    failures.append(str(exc))
                latencies.append((start, time.perf_counter() - start))

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    try:
        for t in threads:
            t.start()
        time.sleep(args.steady_seconds)
        rss_before = rss_mib(server.process.pid)
        swap_start = time.perf_counter()
        current = 1
        for i in range(args.swaps):
            new = current + 1
            shutil.copytree(staging / str(1 + i % 2), base / f".incoming-{new}")
            os.rename(base / f".incoming-{new}", base / str(new))
            server.wait_for(
                lambda: (
                    server.version_states("m").get(current) == "END"
                    and server.version_states("m").get(new) == "AVAILABLE"
                ),
                120,
                f"swap to {new}",
            )
            shutil.rmtree(base / str(current))
            current = new
        swap_end = time.perf_counter()
        time.sleep(1.0)
        rss_after = rss_mib(server.process.pid)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    steady = np.array([d for s, d in latencies if s < swap_start]) * 1000
    during = np.array([d for s, d in latencies if swap_start <= s < swap_end]) * 1000
    print(
        f"model={args.model} clients={args.clients} swaps={args.swaps} requests={len(latencies)} failed={len(failures)}"
    )
    print(f"{'window':>8} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in (("steady", steady), ("swapping", during)):
        print(
            f"{name:>8} {len(values):>9} {np.percentile(values, 50):>8.2f} "
            f"{np.percentile(values, 99):>8.2f} {values.max():>8.2f}"
        )
    print(f"p99 ratio swapping/steady: {np.percentile(during, 99) / np.percentile(steady, 99):.2f}")
    print(
        f"RSS before swaps {rss_before:.0f} MiB, after {args.swaps} swaps {rss_after:.0f} MiB "
        f"({rss_after - rss_before:+.0f} MiB)"
    )
    if failures:
        print("first failures:", failures[:3])


if __name__ == "__main__":
    main()

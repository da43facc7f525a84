"""Peer (limit): the model's signature called directly in this process, no server, at several batch sizes.

    python bench/peers/inprocess.py --model-dir DIR [--model-dir DIR2] [--batch-sizes 1,8,32,128,256]
                                    [--seconds 3] [--warmup 0.5]

Loads each SavedModel exactly as the pyserving server does
(``TensorFlowBackend().create_loader(...).load()``) and calls
``servable.run("serving_default", {input: x}, [output])`` in a loop from one thread, for
``--seconds`` per batch size. Prints one JSON object:
``{"<model name>": {"<batch>": {"calls_s", "rows_s", "p50_ms", "p99_ms", "calls"}, ...,
"best": {"batch", "rows_s"}}}``. The best batch size's rows/s is the ceiling a server
batching requests together can approach.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.peers.common import model_name, read_signature, version_dir  # noqa: E402


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def measure(model_dir: str, batch_sizes: list[int], seconds: float, warmup: float) -> dict:
    from pyserving.backends.tensorflow import TensorFlowBackend
    from pyserving.core.ids import ServableId

    sig = read_signature(model_dir)
    name = model_name(model_dir)
    loader = TensorFlowBackend().create_loader(ServableId(name, 1), str(version_dir(model_dir)))
    loader.load()
    servable = loader.servable
    rng = np.random.default_rng(0)
    width = max(1, sig.input_width)
    results: dict = {}
    try:
        for batch in batch_sizes:
            x = rng.uniform(-1, 1, (batch, width)).astype(np.float32)
            inputs, outputs = {sig.input_alias: x}, [sig.output_alias]
            end = time.perf_counter() + warmup
            while time.perf_counter() < end:
                servable.run("serving_default", inputs, outputs)
            latencies = []
            started = time.perf_counter()
            end = started + seconds
            now = started
            while now < end:
                servable.run("serving_default", inputs, outputs)
                t = time.perf_counter()
                latencies.append(t - now)
                now = t
            elapsed = now - started
            latencies.sort()
            results[str(batch)] = {
                "calls": len(latencies),
                "calls_s": len(latencies) / elapsed,
                "rows_s": len(latencies) * batch / elapsed,
                "p50_ms": percentile(latencies, 0.5) * 1000,
                "p99_ms": percentile(latencies, 0.99) * 1000,
            }
    finally:
        loader.unload()
    best = max(results, key=lambda b: results[b]["rows_s"])
    results["best"] = {"batch": int(best), "rows_s": results[best]["rows_s"]}
    return {name: results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", action="append", required=True)
    parser.add_argument("--batch-sizes", default="1,8,32,128,256")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    out: dict = {}
    for model_dir in args.model_dir:
        out.update(measure(model_dir, sizes, args.seconds, args.warmup))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

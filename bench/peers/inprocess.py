"""Peer (limit): the model's signature called directly in this process, no server, at several batch sizes.

    python -m bench.peers.inprocess --model-dir DIR [--model-dir DIR2] [--batch-sizes 1,8,32,128,256]
                                    [--seconds 3] [--warmup 0.5] [--stay]

Loads each SavedModel exactly as the pyserving server does (an ONNX model folder is run by
onnxruntime directly: ``inprocess_onnx.py``)
(``TensorFlowBackend().create_loader(...).load()``) and calls
``servable.run("serving_default", {input: x}, [output])`` in a loop from one thread, for
``--seconds`` per batch size. Prints one JSON object:
``{"<model name>": {"<batch>": {"calls_s", "rows_s", "p50_ms", "p99_ms", "calls"}, ...,
"best": {"batch", "rows_s"}}}``. The best batch size's rows/s is the ceiling a server
batching requests together can approach.

With ``--stay`` the models stay loaded after that line, and each line read from stdin,
``MODEL BATCH SECONDS``, is measured again and answered with one JSON object
(``{"calls", "seconds", "calls_s", "rows_s", "p50_ms", "p99_ms"}``) until stdin closes: the
bench measures the limit right before and right after a server's run, seconds apart.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from bench.peers.common import model_name, read_signature, sweep, time_calls, version_dir
from bench.peers.inprocess_onnx import OrtLimit, onnx_version_dir


class Limit:
    """One loaded model, called directly from this thread."""

    def __init__(self, model_dir: str) -> None:
        from pyserving.backends.tensorflow import TensorFlowBackend
        from pyserving.core.ids import ServableId

        self.signature = read_signature(model_dir)
        self.name = model_name(model_dir)
        self._loader = TensorFlowBackend().create_loader(ServableId(self.name, 1), str(version_dir(model_dir)))
        self._loader.load()
        self._rng = np.random.default_rng(0)

    def measure(self, batch: int, seconds: float, warmup: float) -> dict:
        servable, sig = self._loader.servable, self.signature
        x = self._rng.uniform(-1, 1, (batch, max(1, sig.input_width))).astype(np.float32)
        inputs, outputs = {sig.input_alias: x}, [sig.output_alias]
        return time_calls(lambda: servable.run("serving_default", inputs, outputs), batch, seconds, warmup)

    def sweep(self, batch_sizes: list[int], seconds: float, warmup: float) -> dict:
        return sweep(self.measure, batch_sizes, seconds, warmup)

    def unload(self) -> None:
        self._loader.unload()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", action="append", required=True)
    parser.add_argument("--batch-sizes", default="1,8,32,128,256")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--stay", action="store_true", help="then measure what stdin asks, line by line")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    # ONNX models (a model.onnx in the folder) are run by onnxruntime itself (inprocess_onnx.py)
    limits = [OrtLimit(model_dir) if onnx_version_dir(model_dir) else Limit(model_dir) for model_dir in args.model_dir]
    try:
        print(json.dumps({limit.name: limit.sweep(sizes, args.seconds, args.warmup) for limit in limits}), flush=True)
        by_name = {limit.name: limit for limit in limits}
        for line in sys.stdin if args.stay else ():
            name, batch, seconds = line.split()
            print(json.dumps(by_name[name].measure(int(batch), float(seconds), 0.0)), flush=True)
    finally:
        for limit in limits:
            limit.unload()


if __name__ == "__main__":
    main()

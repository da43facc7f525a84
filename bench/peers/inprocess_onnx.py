"""Peer (limit): an ONNX model run by onnxruntime directly in this process, no server, per batch size.

    python -m bench.peers.inprocess_onnx --model-dir DIR [--batch-sizes 1,8,32,128,256] [--seconds 3]
                                         [--warmup 0.5] [--intra-op-threads N]

``DIR`` is a model base folder (numeric versions) or a version folder holding ``model.onnx``.
The session is built as onnxruntime's users build one (CPU provider, all graph optimizations,
onnxruntime's default threads unless ``--intra-op-threads``), not through pyserving, and
``session.run([output], {input: x})`` is called in a loop from one thread. Prints the same JSON
as ``inprocess.py``: ``{"<model name>": {"<batch>": {...}, "best": {"batch", "rows_s"}}}``.
``inprocess.py`` uses :class:`OrtLimit` for every model folder that holds a ``model.onnx``, so
``bench/run.py`` gets the TensorFlow and ONNX limits from one ``--stay`` process.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.peers.common import sweep, time_calls

MODEL_FILE = "model.onnx"


def onnx_version_dir(model_dir: str) -> Path | None:
    """The folder holding model.onnx: ``model_dir`` itself or its highest numeric version; None if neither."""
    path = Path(model_dir)
    if (path / MODEL_FILE).is_file():
        return path
    versions = sorted((int(p.name), p) for p in path.iterdir() if p.name.isdigit() and (p / MODEL_FILE).is_file())
    return versions[-1][1] if versions else None


class OrtLimit:
    """One onnxruntime InferenceSession, called directly from this thread (``inprocess.Limit``'s interface)."""

    def __init__(self, model_dir: str, intra_op_threads: int = 0) -> None:
        import onnxruntime as ort

        version = onnx_version_dir(model_dir)
        if version is None:
            raise SystemExit(f"{model_dir}: no {MODEL_FILE}")
        # the name TF Serving would use: the base folder's
        self.name = (
            version.parent.name if version == Path(model_dir) and version.name.isdigit() else Path(model_dir).name
        )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        self._session = ort.InferenceSession(
            str(version / MODEL_FILE), sess_options=options, providers=["CPUExecutionProvider"]
        )
        [self._input] = self._session.get_inputs()
        self._output = self._session.get_outputs()[0].name
        width = self._input.shape[-1] if isinstance(self._input.shape[-1], int) else 1
        self._width = width
        self._rng = np.random.default_rng(0)

    def measure(self, batch: int, seconds: float, warmup: float) -> dict:
        run, outputs = self._session.run, [self._output]
        feed = {self._input.name: self._rng.uniform(-1, 1, (batch, self._width)).astype(np.float32)}
        return time_calls(lambda: run(outputs, feed), batch, seconds, warmup)

    def sweep(self, batch_sizes: list[int], seconds: float, warmup: float) -> dict:
        return sweep(self.measure, batch_sizes, seconds, warmup)

    def unload(self) -> None:
        self._session = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", action="append", required=True)
    parser.add_argument("--batch-sizes", default="1,8,32,128,256")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--intra-op-threads", type=int, default=0, help="0: onnxruntime's default")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    limits = [OrtLimit(d, args.intra_op_threads) for d in args.model_dir]
    print(json.dumps({limit.name: limit.sweep(sizes, args.seconds, args.warmup) for limit in limits}), flush=True)


if __name__ == "__main__":
    main()

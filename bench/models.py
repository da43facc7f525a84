"""The suite's models, exported to a folder: ``half_plus_two`` (tiny), ``mlp`` (compute-heavy) and
``onnx_mlp`` (the same MLP as ONNX).

    python -m bench.models DIR [--only tiny|mlp|onnx-mlp]

Writes ``DIR/half_plus_two/1`` (tests/helpers/models.py's clone of TF Serving's
half_plus_two: ``x`` [-1, 1] -> ``y``), ``DIR/half_plus_two_py/1`` (its Python-model twin,
tests/helpers/python_models.py), ``DIR/mlp/1`` (bench/swaps.py's float32 MLP
512->2048->2048->512->10: ``x`` [-1, 512] -> ``y``) and ``DIR/onnx_mlp/1/model.onnx`` (that MLP,
same weights, built with the ``onnx`` helper API: MatMul + Add + Relu, ``x`` [batch, 512] -> ``y``),
and prints ``{key: base}`` as JSON. ``bench/run.py`` runs this in a child process, so TensorFlow's sessions and log
lines stay out of the runner.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

NAMES = {"tiny": "half_plus_two", "mlp": "mlp", "onnx-mlp": "onnx_mlp", "tinypy": "half_plus_two_py"}
MLP_SIZES = (512, 2048, 2048, 512, 10)


def export_onnx_mlp(path: Path, seed: int) -> None:
    """bench/swaps.py's MLP as ONNX: the same weights (one rng, layer by layer, * 0.02, zero biases)."""
    from tests.helpers import onnx_models

    onnx_models.save(onnx_models.mlp(MLP_SIZES, weights=onnx_models.mlp_weights(MLP_SIZES, seed)), path)


def export_models(root: Path, keys: list[str]) -> dict[str, Path]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    from bench.swaps import export_mlp
    from tests.helpers.models import export_half_plus_two
    from tests.helpers.python_models import write_half_plus

    dirs = {}
    for key in keys:
        base = root / NAMES[key]
        if key == "tiny":
            export_half_plus_two(base / "1")
        elif key == "onnx-mlp":
            export_onnx_mlp(base / "1", 0)
        elif key == "tinypy":
            write_half_plus(base / "1")  # the Python twin: y = 0.5 x + 2 in numpy
        else:
            export_mlp(base / "1", 0)
        dirs[key] = base
    return dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--only", choices=sorted(NAMES), action="append")
    args = parser.parse_args()
    dirs = export_models(args.root.resolve(), args.only or list(NAMES))
    print(json.dumps({k: str(v) for k, v in dirs.items()}))


if __name__ == "__main__":
    main()

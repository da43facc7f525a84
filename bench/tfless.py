"""The TF-less install's start-up: one ONNX model, TensorFlow not installed (issue 16's targets).

    python -m bench.tfless [--venv PATH] [--runs N]

Builds (or reuses, with ``--venv``) a virtualenv holding ``pip install pyserving`` without extras
(tests/helpers/venvs.py), exports a small ONNX model, and runs ``bench/startup.py``'s measurement
with that venv's ``pyserving serve``: seconds from process start to the model AVAILABLE, and RSS
then and after 200 predicts. Targets: AVAILABLE <= 1 s, RSS <= 200 MB. For comparison the same
model is served by this interpreter too (TensorFlow installed there, and still not imported).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.startup import measure
from tests.helpers import onnx_models
from tests.helpers.venvs import Venv, build_tfless_venv

TARGETS = {"available_s": 1.0, "rss_available_mib": 200 * 1e6 / 2**20}


def _report(label: str, rows: list[dict[str, float]]) -> None:
    print(label)
    for key in rows[0]:
        values = sorted(r[key] for r in rows)
        median = values[len(values) // 2]
        target = TARGETS.get(key)
        verdict = "" if target is None else f"  target <= {target:.2f}: {'met' if median <= target else 'MISSED'}"
        print(f"  {key:>20}: median {median:.2f}  (runs: {', '.join(f'{v:.2f}' for v in values)}){verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="an existing TF-less venv (else one is built in a temp folder)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.venv is not None:
            venv = Venv(args.venv, 0.0)
        else:
            venv = build_tfless_venv(Path(tmp) / "venv")
            print(f"venv built in {venv.seconds:.1f} s")
        base = Path(tmp) / "models" / "onnx_hp"
        onnx_models.export_half_plus(base / "1")
        server = [str(venv.pyserving), "serve"]
        _report(
            "TF not installed (pip install pyserving):",
            [measure(str(base), "onnx_hp", 1, server=server) for _ in range(args.runs)],
        )
        _report(
            f"TF installed, not imported ({sys.executable}):",
            [measure(str(base), "onnx_hp", 1) for _ in range(args.runs)],
        )


if __name__ == "__main__":
    main()

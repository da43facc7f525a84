"""Helpers shared by the peers: find a SavedModel version, read its serving signature.

Importing this module is cheap; TensorFlow is imported only by the functions that need it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def version_dir(model_dir: str | os.PathLike[str]) -> Path:
    """``model_dir`` itself when it holds ``saved_model.pb``, else its highest numeric version."""
    path = Path(model_dir)
    if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
        return path
    versions = [p for p in path.iterdir() if p.name.isdigit() and p.is_dir()]
    if not versions:
        raise SystemExit(f"{path}: neither a SavedModel nor a folder of numeric versions")
    return max(versions, key=lambda p: int(p.name))


def model_name(model_dir: str | os.PathLike[str]) -> str:
    """The model name TF Serving would use: the base folder's name."""
    path = Path(model_dir)
    return (path.parent if path == version_dir(path) and path.name.isdigit() else path).name


@dataclass(frozen=True)
class SignatureInfo:
    """The ``serving_default`` signature of a one-input, one-output model."""

    input_alias: str
    input_tensor: str
    input_width: int  # -1 when unknown
    output_alias: str
    output_tensor: str
    output_width: int  # -1 when unknown


def read_signature(model_dir: str | os.PathLike[str], signature: str = "serving_default") -> SignatureInfo:
    """Parses ``saved_model.pb`` (no graph import) for the signature's tensor names and widths."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((version_dir(model_dir) / "saved_model.pb").read_bytes())
    sig = proto.meta_graphs[0].signature_def[signature]
    ((in_alias, in_info),) = sig.inputs.items()
    out_alias, out_info = sorted(sig.outputs.items())[0]

    def width(info) -> int:
        dims = [d.size for d in info.tensor_shape.dim]
        return dims[-1] if len(dims) >= 2 and dims[-1] > 0 else -1

    return SignatureInfo(in_alias, in_info.name, width(in_info), out_alias, out_info.name, width(out_info))


def status_body(version: int = 1) -> dict:
    """TF Serving's GET /v1/models/NAME answer for one AVAILABLE version (readiness probe)."""
    return {
        "model_version_status": [
            {"version": str(version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def time_calls(call: Callable[[], Any], batch: int, seconds: float, warmup: float) -> dict:
    """Calls ``call`` back to back for ``warmup`` s, then ``seconds`` s measured: the in-process limit."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        call()
    latencies = []
    started = time.perf_counter()
    end = started + seconds
    now = started
    while now < end:
        call()
        t = time.perf_counter()
        latencies.append(t - now)
        now = t
    elapsed = now - started
    latencies.sort()
    return {
        "calls": len(latencies),
        "seconds": elapsed,
        "calls_s": len(latencies) / elapsed,
        "rows_s": len(latencies) * batch / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def sweep(measure: Callable[[int, float, float], dict], batch_sizes: list[int], seconds: float, warmup: float) -> dict:
    """``measure`` per batch size, plus ``best``: the batch size with the most rows/s."""
    results = {str(batch): measure(batch, seconds, warmup) for batch in batch_sizes}
    best = max(results, key=lambda b: results[b]["rows_s"])
    results["best"] = {"batch": int(best), "rows_s": results[best]["rows_s"]}
    return results

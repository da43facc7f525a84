"""Helpers shared by the peers: find a SavedModel version, read its serving signature.

Importing this module is cheap; TensorFlow is imported only by the functions that need it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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

"""ONNX Runtime backend (``model_platform: "onnx"``): ``model.onnx`` version folders on the CPU.

Each version's graph inputs and outputs become one ``serving_default`` predict signature
(aliases are the ONNX names, dtypes mapped to TF DataTypes, ``-1`` for symbolic dims), so
TF Serving's clients, metadata included, work unchanged. ``onnxruntime`` is imported only
when a version loads (``pip install pyserving[onnx]``).
"""

from __future__ import annotations

import os
from typing import Any

from pyserving.backends.onnx import model_file
from pyserving.backends.onnx.loader import MODEL_FILE, OnnxLoader, OnnxOptions
from pyserving.backends.onnx.servable import OnnxServable
from pyserving.core.ids import ServableId


class OnnxBackend:
    platform = "onnx"

    def __init__(self, options: OnnxOptions | None = None) -> None:
        self.options = options or OnnxOptions()

    def create_loader(self, servable_id: ServableId, path: str) -> OnnxLoader:
        return OnnxLoader(servable_id, path, self.options)

    def version_complete(self, path: str) -> bool:
        """A ``model.onnx`` still being copied is not a whole ModelProto yet (model_file.py)."""
        return model_file.is_complete(os.path.join(path, MODEL_FILE))


def create_backend(settings: Any) -> OnnxBackend:
    """The registry's factory (``backends/__init__.py``): fails with ImportError, as the registry
    expects, when onnxruntime is not installed."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        raise ImportError("No module named 'onnxruntime'")
    return OnnxBackend(OnnxOptions.from_settings(settings))


__all__ = ["MODEL_FILE", "OnnxBackend", "OnnxLoader", "OnnxOptions", "OnnxServable", "create_backend"]

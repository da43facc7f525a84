"""TensorFlow SavedModel backend: SignatureDefs run in a TF1-style Session, as TF Serving does."""

from __future__ import annotations

import importlib.util
from typing import Any

from pyserving.backends.tensorflow.loader import SavedModelLoader, SavedModelOptions, saved_model_complete
from pyserving.backends.tensorflow.quiet import import_tensorflow_quietly
from pyserving.backends.tensorflow.tflite import TfLiteLoader, has_tflite_model
from pyserving.core.ids import ServableId


class TensorFlowBackend:
    platform = "tensorflow"

    def __init__(self, options: SavedModelOptions | None = None) -> None:
        self.options = options or SavedModelOptions()

    def create_loader(self, servable_id: ServableId, path: str) -> SavedModelLoader | TfLiteLoader:
        if self.options.prefer_tflite_model and has_tflite_model(path):
            return TfLiteLoader(servable_id, path, self.options.num_tflite_interpreters)
        return SavedModelLoader(servable_id, path, self.options)

    def version_complete(self, path: str) -> bool:
        """A folder still being copied has no parseable saved_model.pb or lacks variables shards."""
        if self.options.prefer_tflite_model and has_tflite_model(path):
            return True
        return saved_model_complete(path)


def create_backend(settings: Any) -> TensorFlowBackend:
    """The registry's factory (``backends/__init__.py``), called when the first TensorFlow model is
    configured: TensorFlow is imported here and nowhere earlier (a server of ONNX and Python models
    never pays its ~3 s and ~650 MB). ImportError when it is not installed (the extra)."""
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError("No module named 'tensorflow'")
    import_tensorflow_quietly(bool(getattr(settings, "log_tensorflow", False)))
    return TensorFlowBackend(SavedModelOptions.from_settings(settings))


__all__ = ["SavedModelLoader", "SavedModelOptions", "TensorFlowBackend", "create_backend"]

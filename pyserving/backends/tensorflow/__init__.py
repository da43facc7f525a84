"""TensorFlow SavedModel backend: SignatureDefs run in a TF1-style Session, as TF Serving does."""

from __future__ import annotations

from pyserving.backends.tensorflow.loader import SavedModelLoader, SavedModelOptions, saved_model_complete
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


__all__ = ["SavedModelLoader", "SavedModelOptions", "TensorFlowBackend"]

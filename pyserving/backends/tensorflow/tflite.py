"""TF Lite models (``model.tflite``) under ``--prefer_tflite_model``, as TF Serving serves them.

One ``serving_default`` predict signature whose aliases are the TF Lite tensor
names. An interpreter is not thread-safe, so each servable keeps a small pool.
"""

from __future__ import annotations

import os
import queue
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pyserving.backends.base import folder_bytes
from pyserving.core.errors import InvalidArgumentError, ServingError, StatusCode
from pyserving.core.ids import ServableId
from pyserving.tensors.dtypes import from_numpy
from pyserving.tensors.signature import Signature, TensorSpec

TFLITE_FILE = "model.tflite"


def has_tflite_model(path: str) -> bool:
    return os.path.isfile(os.path.join(path, TFLITE_FILE))


def _interpreter(model_path: str) -> Any:
    from pyserving.backends.tensorflow.loader import import_tensorflow

    tf = import_tensorflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice of tf.lite.Interpreter
        interpreter = tf.lite.Interpreter(model_path=model_path)
    interpreter.allocate_tensors()
    return interpreter


def _spec(detail: Mapping[str, Any]) -> TensorSpec:
    dtype = np.dtype(object) if detail["dtype"] in (np.bytes_, np.str_) else np.dtype(detail["dtype"])
    shape = tuple(-1 if i == 0 else int(d) for i, d in enumerate(detail["shape"]))
    return TensorSpec(name=detail["name"], dtype=int(from_numpy(dtype)), shape=shape)


class TfLiteServable:
    """Safe to call from many threads: each call borrows one interpreter."""

    def __init__(self, model_path: str, interpreters: int) -> None:
        self.version_dir = os.path.dirname(model_path)
        self.caller_thread_run = None  # an interpreter's run time is not bounded by its input sizes
        self.batchable = True
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        first = _interpreter(model_path)
        self._pool.put(first)
        for _ in range(interpreters - 1):
            self._pool.put(_interpreter(model_path))
        inputs = {d["name"]: _spec(d) for d in first.get_input_details()}
        outputs = {d["name"]: _spec(d) for d in first.get_output_details()}
        self.signatures = {"serving_default": Signature(
            "serving_default", "tensorflow/serving/predict", inputs, outputs)}

    def metadata(self) -> None:
        return None  # built from ``signatures``

    def run(self, signature_name: str, inputs: Mapping[str, Any], output_keys: Sequence[str],
            timeout_in_ms: int = 0) -> dict[str, Any]:
        interpreter = self._pool.get()
        try:
            details = {d["name"]: d for d in interpreter.get_input_details()}
            resized = False
            for name, array in inputs.items():
                if tuple(details[name]["shape"]) != array.shape:
                    interpreter.resize_tensor_input(details[name]["index"], list(array.shape))
                    resized = True
            if resized:
                interpreter.allocate_tensors()
            for name, array in inputs.items():
                value = np.array(array.tolist(), dtype=np.bytes_) if array.dtype == object else array
                interpreter.set_tensor(details[name]["index"], value)
            interpreter.invoke()
            outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
            return {key: interpreter.get_tensor(outputs[key]).copy() for key in output_keys}
        except ValueError as exc:
            raise InvalidArgumentError(str(exc)) from exc
        except RuntimeError as exc:
            raise ServingError(str(exc), StatusCode.INTERNAL) from exc
        finally:
            self._pool.put(interpreter)

    def close(self) -> None:
        while not self._pool.empty():
            self._pool.get()


class TfLiteLoader:
    """Loads ``model.tflite`` from a version folder. One call at a time."""

    def __init__(self, servable_id: ServableId, path: str, interpreters: int = 1) -> None:
        self.id = servable_id
        self.path = path
        self._interpreters = max(1, interpreters)
        self._servable: TfLiteServable | None = None

    @property
    def servable(self) -> TfLiteServable:
        if self._servable is None:
            raise ServingError(f"servable {self.id} is not loaded", StatusCode.FAILED_PRECONDITION)
        return self._servable

    def estimate_resources(self) -> int:
        return folder_bytes(self.path)

    def load(self) -> None:
        try:
            self._servable = TfLiteServable(os.path.join(self.path, TFLITE_FILE), self._interpreters)
        except (ValueError, RuntimeError) as exc:
            raise ServingError(f"Failed to load TF Lite model at {self.path}: {exc}",
                               StatusCode.INVALID_ARGUMENT) from exc

    def unload(self) -> None:
        servable, self._servable = self._servable, None
        if servable is not None:
            servable.close()

"""TF Lite models (``model.tflite``) under ``--prefer_tflite_model``, as TF Serving serves them.

The SignatureDefs come from the model's ``signature_defs_metadata`` entry when it
has one (a flexbuffer map of signature key to serialized SignatureDef, written by
TF Lite's ``signature_def_util``; tensor names there carry TF's ``:0`` suffix);
otherwise one ``serving_default`` predict signature whose aliases are the TF Lite
tensor names. An interpreter is not thread-safe, so each servable keeps a small pool.
"""

from __future__ import annotations

import os
import queue
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pyserving.backends.base import VersionFolderLoader
from pyserving.core.errors import InvalidArgumentError, ServingError, StatusCode
from pyserving.core.ids import ServableId
from pyserving.tensors.dtypes import from_numpy
from pyserving.tensors.signature import Signature, TensorSpec

TFLITE_FILE = "model.tflite"
SIGNATURE_DEFS_METADATA = "signature_defs_metadata"


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


def tflite_tensor_name(name: str) -> str:
    """TF tensor names end in ``:0``; TF Lite's do not (TF Serving strips the suffix too)."""
    return name.split(":", 1)[0]


def read_signature_defs(model: bytes) -> dict[str, Any]:
    """The SignatureDefs of the ``signature_defs_metadata`` entry, by key; {} when there is none."""
    from flatbuffers import flexbuffers
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.lite.python import schema_py_generated as schema

    root = schema.Model.GetRootAsModel(model, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if entry.Name() != SIGNATURE_DEFS_METADATA.encode():
            continue
        try:
            buffer = root.Buffers(entry.Buffer())
            data = buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
            entries = flexbuffers.GetRoot(data).AsMap
            signature_defs = {}
            for key, value in zip(entries.Keys, entries.Values, strict=True):
                signature_def = meta_graph_pb2.SignatureDef()
                signature_def.ParseFromString(value.AsBlob if value.IsBlob else value.AsStringBytes)
                signature_defs[key.AsKey] = signature_def
        except Exception as exc:  # flexbuffers and protobuf raise many kinds
            raise ValueError(f"cannot read the {SIGNATURE_DEFS_METADATA} entry: {exc!r}") from exc
        return signature_defs
    return {}


def _signature_specs(tensor_infos: Any, details: Mapping[str, Any], key: str) -> dict[str, TensorSpec]:
    specs = {}
    for alias, info in tensor_infos.items():
        if tflite_tensor_name(info.name) not in details:
            raise ValueError(
                f"SignatureDef {key}: tensor {info.name} ({alias}) is not an input or output "
                f"of the TF Lite model (it has {', '.join(sorted(details))})"
            )
        shape = None if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim)
        specs[alias] = TensorSpec(name=info.name, dtype=int(info.dtype), shape=shape)
    return specs


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
        with open(model_path, "rb") as stream:
            self._signature_defs = read_signature_defs(stream.read())
        if self._signature_defs:
            self.signatures = {
                key: Signature(
                    key,
                    proto.method_name,
                    _signature_specs(proto.inputs, inputs, key),
                    _signature_specs(proto.outputs, outputs, key),
                )
                for key, proto in self._signature_defs.items()
            }
        else:
            self.signatures = {
                "serving_default": Signature("serving_default", "tensorflow/serving/predict", inputs, outputs)
            }

    def metadata(self) -> Mapping[str, Any] | None:
        """The model's own SignatureDefs (``signature_defs_metadata``), else None: built from ``signatures``."""
        return dict(self._signature_defs) if self._signature_defs else None

    def run(
        self, signature_name: str, inputs: Mapping[str, Any], output_keys: Sequence[str], timeout_in_ms: int = 0
    ) -> dict[str, Any]:
        signature = self.signatures[signature_name]
        interpreter = self._pool.get()
        try:
            details = {d["name"]: d for d in interpreter.get_input_details()}
            feeds = [
                (details[tflite_tensor_name(signature.inputs[alias].name)], array) for alias, array in inputs.items()
            ]
            resized = False
            for detail, array in feeds:
                if tuple(detail["shape"]) != array.shape:
                    interpreter.resize_tensor_input(detail["index"], list(array.shape))
                    resized = True
            if resized:
                interpreter.allocate_tensors()
            for detail, array in feeds:
                value = np.array(array.tolist(), dtype=np.bytes_) if array.dtype == object else array
                interpreter.set_tensor(detail["index"], value)
            interpreter.invoke()
            outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
            return {
                key: interpreter.get_tensor(outputs[tflite_tensor_name(signature.outputs[key].name)]).copy()
                for key in output_keys
            }
        except ValueError as exc:
            raise InvalidArgumentError(str(exc)) from exc
        except RuntimeError as exc:
            raise ServingError(str(exc), StatusCode.INTERNAL) from exc
        finally:
            self._pool.put(interpreter)

    def close(self) -> None:
        while not self._pool.empty():
            self._pool.get()


class TfLiteLoader(VersionFolderLoader[TfLiteServable]):
    """Loads ``model.tflite`` from a version folder. One call at a time."""

    def __init__(self, servable_id: ServableId, path: str, interpreters: int = 1) -> None:
        super().__init__(servable_id, path)
        self._interpreters = max(1, interpreters)

    def load(self) -> None:
        try:
            self._servable = TfLiteServable(os.path.join(self.path, TFLITE_FILE), self._interpreters)
        except (ValueError, RuntimeError) as exc:
            raise ServingError(
                f"Failed to load TF Lite model at {self.path}: {exc}", StatusCode.INVALID_ARGUMENT
            ) from exc

    def unload(self) -> None:
        servable, self._servable = self._servable, None
        if servable is not None:
            servable.close()

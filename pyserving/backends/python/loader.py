"""PythonModelLoader and PythonServable: a version's ``model.py`` imported, loaded and run."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pyserving.backends.base import VersionFolderLoader
from pyserving.backends.python.model import PythonModel, Tensor
from pyserving.core.errors import InvalidArgumentError, ServingError, StatusCode, as_serving_error
from pyserving.core.ids import ServableId
from pyserving.tensors.dtypes import DataType, from_numpy
from pyserving.tensors.shapes import dims_text
from pyserving.tensors.signature import Signature, TensorSpec

logger = logging.getLogger("pyserving.python")

MODEL_FILE = "model.py"
MODEL_CLASS = "Model"
PREDICT_METHOD = "tensorflow/serving/predict"


def _spec(alias: str, tensor: Tensor) -> TensorSpec:
    dtype = DataType.DT_STRING if tensor.dtype in ("string", "bytes", "object") else from_numpy(np.dtype(tensor.dtype))
    shape = None if tensor.shape is None else tuple(int(d) for d in tensor.shape)
    return TensorSpec(name=alias, dtype=int(dtype), shape=shape)


def _numpy_dtype(tensor: Tensor) -> np.dtype:
    return np.dtype(object) if tensor.dtype in ("string", "bytes", "object") else np.dtype(tensor.dtype)


def _shape_fits(shape: tuple[int, ...], declared: Sequence[int] | None) -> bool:
    if declared is None:
        return True
    return len(shape) == len(declared) and all(d == -1 or d == s for s, d in zip(shape, declared, strict=True))


class PythonServable:
    """One loaded ``Model``: its declared signature as ``serving_default``; ``predict`` off the loop."""

    caller_thread_run = None  # arbitrary Python: its run time is not bounded by its input sizes

    def __init__(self, model: PythonModel, version_dir: str, servable_id: ServableId) -> None:
        self.version_dir = version_dir
        self.batchable = bool(model.batching)
        self._model = model
        self._id = servable_id
        self._inputs = dict(model.inputs)
        self._outputs = dict(model.outputs)
        self.signatures = {
            "serving_default": Signature(
                "serving_default",
                PREDICT_METHOD,
                {alias: _spec(alias, t) for alias, t in self._inputs.items()},
                {alias: _spec(alias, t) for alias, t in self._outputs.items()},
            )
        }

    def metadata(self) -> None:
        return None  # built from ``signatures``

    def run(
        self, signature_name: str, inputs: Mapping[str, Any], output_keys: Sequence[str], timeout_in_ms: int = 0
    ) -> dict[str, Any]:
        for alias, array in inputs.items():
            declared = self._inputs[alias].shape
            if not _shape_fits(array.shape, declared):
                raise InvalidArgumentError(
                    f"input {alias}: expected shape {dims_text(declared)}, got {dims_text(array.shape)}"
                )
        try:
            outputs = self._model.predict(dict(inputs))
        except ServingError:
            raise
        except Exception as exc:  # the model's own bug: this request fails, the server stays
            logger.exception("model.py of %s raised in predict", self._id)
            raise as_serving_error(exc) from None
        if not isinstance(outputs, Mapping):
            raise ServingError(
                f"model.py of {self._id}: predict returned {type(outputs).__name__}, not a dict of arrays",
                StatusCode.INTERNAL,
            )
        result = {}
        for alias in output_keys:
            if alias not in outputs:
                raise ServingError(
                    f"model.py of {self._id}: predict returned no output {alias!r} (it returned {sorted(outputs)})",
                    StatusCode.INTERNAL,
                )
            try:
                result[alias] = np.asarray(outputs[alias], dtype=_numpy_dtype(self._outputs[alias]))
            except (TypeError, ValueError) as exc:
                raise ServingError(
                    f"model.py of {self._id}: output {alias!r} is not {self._outputs[alias].dtype}: {exc}",
                    StatusCode.INTERNAL,
                ) from None
        return result

    def close(self) -> None:
        try:
            self._model.unload()
        except Exception:  # an unload that fails must not keep the version
            logger.exception("model.py of %s raised in unload", self._id)


class PythonModelLoader(VersionFolderLoader[PythonServable]):
    """Imports ``<version>/model.py`` under its own module name and calls ``Model().load``."""

    def load(self) -> None:
        file = os.path.join(self.path, MODEL_FILE)
        if not os.path.isfile(file):
            raise ServingError(f"Python model file does not exist at: {file}", StatusCode.NOT_FOUND)
        module_name = f"pyserving_model_{self.id.name}_{self.id.version}".replace("-", "_")
        try:
            spec = importlib.util.spec_from_file_location(module_name, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # dataclasses and pickles look their module up
            spec.loader.exec_module(module)
            model_class = module.__dict__.get(MODEL_CLASS)
            if not (isinstance(model_class, type) and issubclass(model_class, PythonModel)):
                raise TypeError(f"{file} must define class {MODEL_CLASS}(pyserving.backends.python.PythonModel)")
            model = model_class()
            model.load(self.path)
            servable = PythonServable(model, self.path, self.id)
        except Exception as exc:  # any failure of user code ends the version with its text
            sys.modules.pop(module_name, None)
            logger.exception("Failed to load Python model %s", self.id)
            raise ServingError(
                f"Failed to load Python model at {self.path}: {type(exc).__name__}: {exc}",
                StatusCode.INVALID_ARGUMENT if isinstance(exc, (TypeError, ValueError)) else StatusCode.UNKNOWN,
            ) from None
        self._servable = servable
        logger.info("Loaded Python model %s from %s", self.id, file)

    def unload(self) -> None:
        servable, self._servable = self._servable, None
        if servable is not None:
            servable.close()
            sys.modules.pop(f"pyserving_model_{self.id.name}_{self.id.version}".replace("-", "_"), None)

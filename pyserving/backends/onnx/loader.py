"""OnnxLoader: one ``model.onnx`` version in its own ONNX Runtime InferenceSession (CPU)."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from pyserving.backends.base import VersionFolderLoader, release_free_memory
from pyserving.backends.onnx.dtypes import UnsupportedType
from pyserving.backends.onnx.model_file import WireError, control_flow_ops
from pyserving.backends.onnx.servable import OnnxServable
from pyserving.core.errors import ServingError, StatusCode
from pyserving.core.ids import ServableId

logger = logging.getLogger("pyserving.onnx")

MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class OnnxOptions:
    # 0: ONNX Runtime's default (one intra-op thread per physical core; inter-op unused when sequential).
    intra_op_parallelism: int = 0
    inter_op_parallelism: int = 0

    @classmethod
    def from_settings(cls, settings: Any) -> OnnxOptions:
        """TF Serving's thread flags, with their precedence (the per-kind flag wins over
        ``--tensorflow_session_parallelism``)."""
        if settings is None:
            return cls()
        intra = settings.tensorflow_intra_op_parallelism or settings.tensorflow_session_parallelism
        inter = settings.tensorflow_inter_op_parallelism or settings.tensorflow_session_parallelism
        if not intra and settings.enable_batching:
            # The batch threads are the parallelism: each concurrent Run with a pool of its own
            # oversubscribes the cores. ONNX MLP, 32 rows x 16 connections, 2 cores, 3 batch
            # threads: 358 req/s with ORT's default pool, 415 with one intra-op thread per run.
            intra = 1
        return cls(intra_op_parallelism=max(0, intra), inter_op_parallelism=max(0, inter))


_IMPORT_LOCK = threading.Lock()


def import_onnxruntime() -> Any:
    """Imports onnxruntime once, under a lock (loads run on several threads)."""
    with _IMPORT_LOCK:
        import onnxruntime

    return onnxruntime


class OnnxLoader(VersionFolderLoader[OnnxServable]):
    """Loader for ``model_platform: "onnx"``. One call at a time; ``load`` may follow ``unload``."""

    def __init__(self, servable_id: ServableId, path: str, options: OnnxOptions) -> None:
        super().__init__(servable_id, path)
        self.options = options

    def load(self) -> None:
        model_path = os.path.join(self.path, MODEL_FILE)
        if not os.path.isfile(model_path):
            raise ServingError(f"ONNX model file does not exist at: {model_path}", StatusCode.NOT_FOUND)
        ort = import_onnxruntime()
        started = time.monotonic()
        try:
            session = ort.InferenceSession(
                model_path, sess_options=self._session_options(ort), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT's pybind errors share no useful base class
            raise ServingError(
                f"Failed to load ONNX model at {model_path}: {exc}", StatusCode.INVALID_ARGUMENT
            ) from exc
        try:
            bounded = self._bounded_run_time(model_path)
            self._servable = OnnxServable(session, self.path, bounded, ort.capi.onnxruntime_pybind11_state)
        except UnsupportedType as exc:
            raise ServingError(f"Cannot serve ONNX model at {model_path}: {exc}", StatusCode.UNIMPLEMENTED) from exc
        logger.info(
            "Loaded ONNX model %s from %s in %.0f ms%s",
            self.id,
            model_path,
            (time.monotonic() - started) * 1000,
            "" if bounded else " (has control flow)",
        )

    def _bounded_run_time(self, model_path: str) -> bool:
        try:
            return not control_flow_ops(model_path)
        except (OSError, WireError):
            return False  # ORT read it, we could not: assume the worst

    def _session_options(self, ort: Any) -> Any:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: warnings about unused initializers are noise
        if self.options.intra_op_parallelism:
            options.intra_op_num_threads = self.options.intra_op_parallelism
        if self.options.inter_op_parallelism:
            options.inter_op_num_threads = self.options.inter_op_parallelism
        return options

    def unload(self) -> None:
        servable, self._servable = self._servable, None
        if servable is not None:
            servable.close()
            del servable
            release_free_memory()

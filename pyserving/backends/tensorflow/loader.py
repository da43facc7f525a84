"""SavedModelLoader: loads one SavedModel version into its own Graph and Session."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pyserving.backends.tensorflow import warmup
from pyserving.backends.tensorflow.errors import map_tf_errors
from pyserving.backends.tensorflow.warmup import WarmupOptions
from pyserving.backends.tensorflow.servable import SavedModelServable
from pyserving.core import heap
from pyserving.core.errors import ServingError, StatusCode
from pyserving.core.ids import ServableId

logger = logging.getLogger("pyserving.tensorflow")


@dataclass(frozen=True)
class SavedModelOptions:
    saved_model_tags: tuple[str, ...] = ("serve",)
    intra_op_parallelism: int = 0
    inter_op_parallelism: int = 0
    # Text ConfigProto from --tensorflow_session_config_file, applied first.
    session_config_text: str = ""
    # --prefer_tflite_model: serve model.tflite when the version folder has one.
    prefer_tflite_model: bool = False
    num_tflite_interpreters: int = 1
    # --enable_model_warmup / --num_request_iterations_for_warmup (backends/tensorflow/warmup.py).
    warmup: WarmupOptions = field(default_factory=WarmupOptions)
    extra: dict[str, Any] = field(default_factory=dict)


def saved_model_file(path: str) -> str:
    """The SavedModel proto path, or a NOT_FOUND error that says what is there instead."""
    for name in ("saved_model.pb", "saved_model.pbtxt"):
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    message = f"SavedModel file does not exist at: {path}/{{saved_model.pbtxt|saved_model.pb}}"
    if os.path.isfile(os.path.join(path, "model.tflite")):
        message += " (the directory holds a TF Lite model.tflite, which this backend does not serve)"
    elif os.path.isfile(os.path.join(path, "export.meta")):
        message += " (the directory holds a legacy SessionBundle export: re-export it as a SavedModel)"
    raise ServingError(message, StatusCode.NOT_FOUND)


_IMPORT_LOCK = threading.Lock()


def import_tensorflow() -> Any:
    """Imports TensorFlow once, under a lock.

    Loads and folder checks run on different threads; two threads importing
    TensorFlow's modules at once can see half-initialised modules.
    """
    with _IMPORT_LOCK:
        import tensorflow as tf

    heap.freeze_imports()
    return tf


def _release_free_memory() -> None:
    """Hands freed heap pages back to the OS (glibc keeps them otherwise, and RSS grows per swap)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def saved_model_parses(path: str) -> bool:
    try:
        proto_path = saved_model_file(path)
    except ServingError:
        return False
    import_tensorflow()
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    try:
        with open(proto_path, "rb") as stream:
            data = stream.read()
        if proto_path.endswith(".pbtxt"):
            text_format.Parse(data.decode("utf-8"), saved_model)
        else:
            saved_model.ParseFromString(data)
    except (OSError, UnicodeDecodeError, message.DecodeError, text_format.ParseError):
        return False
    return len(saved_model.meta_graphs) > 0


class SavedModelLoader:
    """Loader for ``model_platform: "tensorflow"``.

    ``load`` blocks for the whole restore and leaves nothing behind on failure;
    it may be called again after ``unload``. One call at a time.
    """

    def __init__(self, servable_id: ServableId, path: str, options: SavedModelOptions) -> None:
        self.id = servable_id
        self.path = path
        self.options = options
        self._servable: SavedModelServable | None = None

    @property
    def servable(self) -> SavedModelServable:
        if self._servable is None:
            raise ServingError(f"servable {self.id} is not loaded", StatusCode.FAILED_PRECONDITION)
        return self._servable

    def load(self) -> None:
        saved_model_file(self.path)
        tf = import_tensorflow()

        started = time.monotonic()
        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph, config=self._session_config())
        try:
            with map_tf_errors(), graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(
                    session, list(self.options.saved_model_tags), self.path
                )
            graph.finalize()
            servable = SavedModelServable(session, graph, meta_graph, self.path)
            # Warmup is part of the load: a failing warmup fails it, and the version
            # becomes AVAILABLE only once warmed up.
            warmup.run(servable, self.path, self.options.warmup, self.id)
            self._servable = servable
        except ServingError:
            session.close()
            raise
        except Exception as exc:
            session.close()
            raise ServingError(f"Failed to load SavedModel at {self.path}: {exc}{_unreadable_hint(self.path)}",
                               StatusCode.INVALID_ARGUMENT if isinstance(exc, (ValueError, TypeError))
                               else StatusCode.UNKNOWN) from exc
        logger.info("Loaded SavedModel %s from %s in %.0f ms",
                    self.id, self.path, (time.monotonic() - started) * 1000)

    def unload(self) -> None:
        servable, self._servable = self._servable, None
        if servable is not None:
            servable.close()
            del servable
            gc.collect()  # graphs hold reference cycles; free the version's memory now
            _release_free_memory()

    def _session_config(self) -> Any:
        import tensorflow as tf
        from google.protobuf import text_format

        config = tf.compat.v1.ConfigProto()
        if self.options.session_config_text:
            text_format.Parse(self.options.session_config_text, config)
        # GPU-pinned exports (saved_model_half_plus_two_gpu) still run on a CPU-only host.
        config.allow_soft_placement = True
        if self.options.intra_op_parallelism:
            config.intra_op_parallelism_threads = self.options.intra_op_parallelism
        if self.options.inter_op_parallelism:
            config.inter_op_parallelism_threads = self.options.inter_op_parallelism
        return config


def _unreadable_hint(path: str) -> str:
    """Names an unreadable file or folder under ``path``: TensorFlow's own message hides it
    ("not a valid checkpoint")."""
    for folder, dirs, files in os.walk(path, onerror=lambda error: None):
        for name in [*dirs, *files]:
            entry = os.path.join(folder, name)
            if not os.access(entry, os.R_OK | (os.X_OK if os.path.isdir(entry) else 0)):
                return f" ({entry} is not readable by the server)"
    if not os.access(path, os.R_OK | os.X_OK):
        return f" ({path} is not readable by the server)"
    return ""

"""SavedModelLoader: loads one SavedModel version into its own Graph and Session."""

from __future__ import annotations

import gc
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pyserving.backends.base import VersionFolderLoader, release_free_memory
from pyserving.backends.tensorflow import heap
from pyserving.backends.tensorflow.errors import map_tf_errors
from pyserving.backends.tensorflow.saved_model_file import (
    SavedModelParseError,
    find_saved_model_file,
    parse_saved_model_file,
)
from pyserving.backends.tensorflow.servable import SavedModelServable
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
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any) -> SavedModelOptions:
        """The TensorFlow flags of ``config.settings.ServerSettings`` (TF Serving's precedence)."""
        intra = settings.tensorflow_intra_op_parallelism or settings.tensorflow_session_parallelism
        inter = settings.tensorflow_inter_op_parallelism or settings.tensorflow_session_parallelism
        session_config = ""
        if settings.tensorflow_session_config_file:
            with open(settings.tensorflow_session_config_file, encoding="utf-8") as stream:
                session_config = stream.read()
        tags = tuple(t.strip() for t in settings.saved_model_tags.split(",") if t.strip())
        return cls(
            saved_model_tags=tags or ("serve",),
            intra_op_parallelism=intra,
            inter_op_parallelism=inter,
            session_config_text=session_config,
            prefer_tflite_model=settings.prefer_tflite_model,
            num_tflite_interpreters=settings.num_tflite_interpreters_per_pool,
        )


def saved_model_file(path: str) -> str:
    """The SavedModel proto path, or a NOT_FOUND error that says what is there instead."""
    found = find_saved_model_file(path)
    if found is not None:
        return found
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


def saved_model_complete(path: str) -> bool:
    """saved_model.pb parses and, when a MetaGraph restores variables, every variables shard is there.

    Decides when a folder being copied can load: a parseable proto alone is not enough,
    since ``cp -r`` may write saved_model.pb before variables/.
    """
    try:
        proto_path = saved_model_file(path)
    except ServingError:
        return False
    import_tensorflow()
    try:
        saved_model = parse_saved_model_file(proto_path)
    except (OSError, SavedModelParseError):
        return False
    if not saved_model.meta_graphs:
        return False
    if any(m.saver_def.filename_tensor_name for m in saved_model.meta_graphs):
        return _variables_complete(os.path.join(path, "variables"))
    return True


_SHARD = re.compile(r"^variables\.data-(\d+)-of-(\d+)$")


def _variables_complete(variables_dir: str) -> bool:
    """variables.index and the data shards 0..N-1 its file names announce."""
    try:
        names = set(os.listdir(variables_dir))
    except OSError:
        return False
    shards = [match for match in map(_SHARD.match, names) if match]
    if "variables.index" not in names or not shards:
        return False
    count = int(shards[0].group(2))
    return {int(m.group(1)) for m in shards if int(m.group(2)) == count} == set(range(count))


class SavedModelLoader(VersionFolderLoader[SavedModelServable]):
    """Loader for ``model_platform: "tensorflow"``.

    ``load`` blocks for the whole restore and leaves nothing behind on failure;
    it may be called again after ``unload``. One call at a time.
    """

    def __init__(self, servable_id: ServableId, path: str, options: SavedModelOptions) -> None:
        super().__init__(servable_id, path)
        self.options = options

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
            self._servable = SavedModelServable(session, graph, meta_graph, self.path)
        except ServingError:
            session.close()
            raise
        except Exception as exc:
            session.close()
            raise ServingError(
                f"Failed to load SavedModel at {self.path}: {exc}{_unreadable_hint(self.path)}",
                StatusCode.INVALID_ARGUMENT if isinstance(exc, (ValueError, TypeError)) else StatusCode.UNKNOWN,
            ) from exc
        logger.info("Loaded SavedModel %s from %s in %.0f ms", self.id, self.path, (time.monotonic() - started) * 1000)

    def unload(self) -> None:
        servable, self._servable = self._servable, None
        if servable is not None:
            servable.close()
            del servable
            gc.collect()  # graphs hold reference cycles; free the version's memory now
            release_free_memory()

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

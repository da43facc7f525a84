"""Model warmup as TF Serving does it: replay ``assets.extra/tf_serving_warmup_requests`` inside the load.

The file is a TFRecord of ``tensorflow.serving.PredictionLog`` protos (at most
1000 records); only the ``request`` of each log is used, and its model name and
version are ignored. Supported: ``predict_log``, ``classify_log``,
``regress_log`` and ``multi_inference_log``; any other log type fails with
UNIMPLEMENTED "Unsupported log_type for warmup: N". Each record is replayed
``num_request_iterations`` times (default 1). Any error fails the load, so a
version becomes AVAILABLE only after a successful warmup and a bad warmup file
leaves the previous version serving.

Runs on the load thread, directly on the servable (no handle, no batching,
no request metrics), like TF Serving's ``RunSavedModelWarmup``, for every platform:
:class:`WarmedLoader` wraps whatever loader a backend makes, so a version becomes
AVAILABLE only once warmed up, and a failed warmup unloads it again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pyserving.apis.input_proto import serialized_examples
from pyserving.apis.tensor_proto import TensorProtoError, tensor_to_array
from pyserving.core.errors import (
    InvalidArgumentError,
    ServingError,
    StatusCode,
    UnimplementedError,
)
from pyserving.core.ids import ServableId
from pyserving.core.loader import Loader, Servable
from pyserving.serving import inference
from pyserving.serving.tfrecord import read_records
from pyserving.tensors.limits import DEFAULT_LIMITS
from pyserving.tensors.signature import Signature

logger = logging.getLogger("pyserving.warmup")

ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_RECORDS = 1000

# (servable id, export dir, seconds, records replayed, error or None), called on the load thread.
WarmupListener = Callable[[ServableId | None, str, float, int, ServingError | None], None]


@dataclass(frozen=True)
class WarmupOptions:
    enabled: bool = True
    # --num_request_iterations_for_warmup; 0 means TF Serving's default of 1.
    num_request_iterations: int = 0
    listener: WarmupListener | None = None


def warmup_path(export_dir: str) -> str:
    return os.path.join(export_dir, ASSETS_EXTRA, WARMUP_FILE)


def run(servable: Any, export_dir: str, options: WarmupOptions, servable_id: ServableId | None = None) -> int:
    """Replays the warmup file against ``servable``; returns the number of records.

    Raises ``ServingError`` (and so fails the load) on any problem.
    """
    if not options.enabled:
        return 0
    path = warmup_path(export_dir)
    if not os.path.isfile(path):
        logger.debug("No warmup data file found at %s", path)
        return 0
    iterations = options.num_request_iterations if options.num_request_iterations > 0 else 1
    started = time.monotonic()
    records = 0
    error: ServingError | None = None
    try:
        for record in _read_records(path):
            records += 1
            if records > MAX_RECORDS:
                raise InvalidArgumentError(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}")
            log = _parse(record, path)
            for _ in range(iterations):
                replay(servable, log)
    except ServingError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - anything else also fails the load, with a code
        error = ServingError(f"Model warmup failed at {path}: {type(exc).__name__}: {exc}", StatusCode.INTERNAL)
    seconds = time.monotonic() - started
    if options.listener is not None:
        try:
            options.listener(servable_id, export_dir, seconds, min(records, MAX_RECORDS), error)
        except Exception:  # metrics must never fail a load
            logger.exception("Warmup listener failed")
    if error is not None:
        raise error
    logger.info(
        "Finished reading warmup data for model at %s. Number of warmup records read: %d. "
        "Elapsed time (microseconds): %d.",
        path,
        records,
        int(seconds * 1e6),
    )
    return records


class WarmedLoader:
    """A backend's loader whose ``load`` ends with the version's warmup (see module doc)."""

    def __init__(
        self, inner: Loader, version_dir: str, options: WarmupOptions, servable_id: ServableId | None = None
    ) -> None:
        self.inner = inner
        self.version_dir = version_dir
        self.options = options
        self.id = servable_id

    @property
    def servable(self) -> Servable:
        return self.inner.servable

    def estimate_resources(self) -> int:
        return self.inner.estimate_resources()

    def load(self) -> None:
        self.inner.load()
        try:
            run(self.inner.servable, self.version_dir, self.options, self.id)
        except BaseException:
            self.inner.unload()
            raise

    def unload(self) -> None:
        self.inner.unload()


def _read_records(path: str) -> Iterator[bytes]:
    # TFRecord framing and checksums without TensorFlow (serving/tfrecord.py): every platform warms up.
    return read_records(path)


def _parse(record: bytes, path: str) -> Any:
    from google.protobuf.message import DecodeError

    from pyserving.protos.tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    try:
        log.ParseFromString(record)
    except DecodeError:
        raise InvalidArgumentError(f"Failed to parse warmup record: {record!r} from {path}") from None
    return log


def replay(servable: Servable, log: Any) -> None:
    """Runs the request of one PredictionLog on the servable with the checks a client's request
    gets (``serving/inference.py``); raises ServingError on failure."""
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        _predict(servable, log.predict_log.request)
    elif kind == "classify_log":
        request = log.classify_log.request
        signature = inference.classification_signature(servable, request.model_spec.signature_name)
        _examples(servable, signature, serialized_examples(request.input))
    elif kind == "regress_log":
        request = log.regress_log.request
        signature = inference.regression_signature(servable, request.model_spec.signature_name)
        _examples(servable, signature, serialized_examples(request.input))
    elif kind == "multi_inference_log":
        request = log.multi_inference_log.request
        examples = serialized_examples(request.input)
        if not request.tasks:
            raise InvalidArgumentError("MultiInferenceRequest must specify at least one task.")
        for task in request.tasks:
            name = task.model_spec.signature_name
            if task.method_name == inference.REGRESS_METHOD:
                _examples(servable, inference.regression_signature(servable, name), examples)
            else:
                _examples(servable, inference.classification_signature(servable, name), examples)
    else:
        number = 0
        if kind is not None:
            number = log.DESCRIPTOR.fields_by_name[kind].number
        raise UnimplementedError(f"Unsupported log_type for warmup: {number}")


def _predict(servable: Servable, request: Any) -> None:
    signature = inference.signature_for_predict(servable, request.model_spec.signature_name)
    inputs = {}
    for alias, proto in request.inputs.items():
        try:
            inputs[alias] = tensor_to_array(proto, DEFAULT_LIMITS)  # the codec every request goes through
        except TensorProtoError as exc:
            raise InvalidArgumentError(f"tensor parsing error: {alias}: {exc}") from None
    inference.check_predict_inputs(signature, inputs)
    servable.run(signature.name, inputs, inference.select_outputs(signature, list(request.output_filter)))


def _examples(servable: Servable, signature: Signature, examples: Sequence[bytes]) -> None:
    servable.run(signature.name, inference.examples_tensor(examples), sorted(signature.outputs))

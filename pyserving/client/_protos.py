"""The generated protobuf modules the client uses, imported in one place.

Why from ``pyserving.protos``: those are pyserving's own generated modules (same descriptors
and wire as upstream), so the client runs without TensorFlow or tensorflow-serving-api.
"""

from __future__ import annotations

from pyserving.protos.inference import grpc_service_pb2 as oip_pb2
from pyserving.protos.tensorflow.core.example import example_pb2, feature_pb2
from pyserving.protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from pyserving.protos.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    input_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

__all__ = [
    "classification_pb2",
    "example_pb2",
    "feature_pb2",
    "get_model_metadata_pb2",
    "get_model_status_pb2",
    "input_pb2",
    "model_pb2",
    "oip_pb2",
    "predict_pb2",
    "regression_pb2",
    "tensor_pb2",
    "tensor_shape_pb2",
    "types_pb2",
]

"""The generated protobuf modules the client uses, imported in one place.

Why one place: the client must run without TensorFlow, so these come from
``pyserving.protos`` (pyserving's own generated modules, same descriptors as upstream).
"""

from __future__ import annotations

from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    input_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)
from tritonclient.grpc import service_pb2 as oip_pb2

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

"""pyserving's Python client: TF Serving's API and the Open Inference Protocol, over REST or
gRPC, sync or asyncio, numpy in and out. Needs numpy, grpcio and protobuf only (no TensorFlow).

See docs/client.md.
"""

from pyserving.client.client import AsyncClient, Client
from pyserving.client.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    ServingError,
    Unavailable,
    Unimplemented,
)
from pyserving.client.tensors import make_ndarray, make_tensor_proto
from pyserving.client.types import ModelMetadata, Signature, TensorSpec, VersionStatus

__all__ = [
    "AsyncClient",
    "Client",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "ModelMetadata",
    "NotFound",
    "ResourceExhausted",
    "ServingError",
    "Signature",
    "TensorSpec",
    "Unavailable",
    "Unimplemented",
    "VersionStatus",
    "make_ndarray",
    "make_tensor_proto",
]

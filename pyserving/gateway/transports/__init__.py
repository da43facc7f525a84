"""How the gateway reaches a model server replica: one module per wire protocol.

uvicorn's ``HTTP_PROTOCOLS`` pattern: a name -> import string table, so the
gRPC transport (which imports TensorFlow through ``tensorflow_serving.apis``;
the OIP ones use tritonclient's protos or httpx, never TensorFlow)
is only imported when a config names a gRPC upstream.
"""

from __future__ import annotations

from pyserving.gateway.transports.base import (
    ModelTarget,
    Transport,
    UpstreamError,
    create_transport,
)

__all__ = ["ModelTarget", "Transport", "UpstreamError", "create_transport"]

"""How the gateway reaches a model server replica: one module per wire protocol.

uvicorn's ``HTTP_PROTOCOLS`` pattern: a name -> import string table, so the
gRPC transport (grpc and the generated stubs of ``pyserving.protos``) is only
imported when a config names a gRPC upstream.
"""

from __future__ import annotations

from pyserving.gateway.transports.base import (
    ModelTarget,
    Transport,
    UpstreamError,
    create_transport,
)

__all__ = ["ModelTarget", "Transport", "UpstreamError", "create_transport"]

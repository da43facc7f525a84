"""How the gateway reaches a model server replica: one module per wire protocol.

uvicorn's ``HTTP_PROTOCOLS`` pattern: a name -> import string table, so the
gRPC transports (grpc and the generated stubs of ``pyserving.protos``; the OIP
REST one uses httpx) are only imported when a config names such an upstream.
"""

from __future__ import annotations

from pyserving.gateway.transports.base import (
    ModelTarget,
    Transport,
    UpstreamError,
    create_transport,
)

__all__ = ["ModelTarget", "Transport", "UpstreamError", "create_transport"]

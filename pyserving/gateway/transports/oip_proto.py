"""The one place the gateway gets OIP v2's gRPC modules (``inference.GRPCInferenceService``).

Why tritonclient's generated modules and not our own compiled copy: two
compiled copies of the ``inference.*`` protos in one process fail at import
time (``duplicate symbol 'inference.ServerLiveRequest'``), and the server side
uses tritonclient's too. Every OIP gRPC import in the gateway goes through
here, so redirecting them (to a vendored copy, to pyserving's own) is a
one-line change.
"""

from __future__ import annotations

from tritonclient.grpc import service_pb2, service_pb2_grpc

__all__ = ["service_pb2", "service_pb2_grpc"]

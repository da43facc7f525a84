"""The one place the generated ``inference.*`` protobuf modules are imported from.

Why one module: a second compiled copy of the same ``inference.*`` symbols in the default
descriptor pool makes whichever import comes second fail (``duplicate symbol
'inference.ServerLiveRequest'``; ``../shared/docs/oip-v2.md`` §4.2). For now these are
tritonclient's own modules, which a client in the same process also uses; redirecting this
module is all it takes to serve from another copy.
"""

from __future__ import annotations

from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc

__all__ = ["model_config_pb2", "service_pb2", "service_pb2_grpc", "SERVICE"]

#: The ``inference.GRPCInferenceService`` descriptor.
SERVICE = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]

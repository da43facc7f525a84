"""The one place the generated ``inference.*`` protobuf modules are imported from.

Why one module: a second compiled copy of the same ``inference.*`` symbols in the default
descriptor pool makes whichever import comes second fail (``duplicate symbol
'inference.ServerLiveRequest'``; ``../shared/docs/oip-v2.md`` §4.2). These are pyserving's own
(``pyserving.protos.inference``): generated from tritonclient 2.73's embedded descriptors, so the
files are byte-identical and a tritonclient in the same process registers them without a clash
(``pyserving/protos/_registry.py``; ``tests/protos``). A TF-free install needs no tritonclient.
"""

from __future__ import annotations

from pyserving.protos.inference import grpc_service_pb2 as service_pb2
from pyserving.protos.inference import grpc_service_pb2_grpc as service_pb2_grpc
from pyserving.protos.inference import model_config_pb2

__all__ = ["model_config_pb2", "service_pb2", "service_pb2_grpc", "SERVICE"]

#: The ``inference.GRPCInferenceService`` descriptor.
SERVICE = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]

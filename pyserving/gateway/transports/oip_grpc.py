"""OIP v2 over gRPC as a transport: ``inference.GRPCInferenceService`` stubs over grpc.aio.

Inputs go as ``raw_input_contents`` and outputs are read from
``raw_output_contents`` by position, exactly as ``tritonclient.grpc`` does (the
typed ``contents`` are read too, for servers that answer in them). The
generated modules are pyserving's own (``pyserving.protos.inference``, byte-identical
to tritonclient's, so both can live in one process); nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import numpy as np

from pyserving.client import oip_tensors
from pyserving.gateway.codec import InputError
from pyserving.gateway.config import UpstreamConfig
from pyserving.gateway.transports.base import ModelTarget, UpstreamError, predict_json_as_arrays
from pyserving.gateway.transports.grpc import channel
from pyserving.gateway.transports.oip_metadata import signature_from_metadata
from pyserving.protos.inference import grpc_service_pb2 as service_pb2
from pyserving.protos.inference import grpc_service_pb2_grpc as service_pb2_grpc


def _version(target: ModelTarget) -> str:
    if target.version is not None:
        return str(target.version)
    return target.label or ""  # "" is the latest; a label is a pyserving extension


def infer_request(target: ModelTarget, inputs: Mapping[str, np.ndarray], request_id: str = "") -> Any:
    """A ModelInferRequest with every input in ``raw_input_contents``."""
    request = service_pb2.ModelInferRequest(model_name=target.model, model_version=_version(target), id=request_id)
    for name, array in inputs.items():
        datatype = oip_tensors.datatype_of(array)
        request.inputs.add(name=name, datatype=datatype, shape=array.shape)
        request.raw_input_contents.append(oip_tensors.to_raw(array, datatype))
    return request


def read_response(response: Any) -> dict[str, np.ndarray]:
    """Outputs by position from ``raw_output_contents``, else from typed ``contents``."""
    outputs = {}
    try:
        raw = response.raw_output_contents
        for i, tensor in enumerate(response.outputs):
            shape = list(tensor.shape)
            if i < len(raw):
                outputs[tensor.name] = oip_tensors.from_raw(tensor.datatype, shape, raw[i])
            else:
                outputs[tensor.name] = oip_tensors.from_contents(tensor.datatype, shape, tensor.contents)
    except ValueError as exc:
        raise UpstreamError("INTERNAL", f"unreadable infer response: {exc}") from None
    return outputs


class OipGrpcTransport:
    """Not thread-safe: one event loop (a grpc.aio channel is bound to the loop that uses it)."""

    json_needs_signature = True

    def __init__(self, address: str, config: UpstreamConfig) -> None:
        self.address = address
        self._channel = channel(address, config)
        self._stub = service_pb2_grpc.GRPCInferenceServiceStub(self._channel)
        self._health: Any = None

    async def _rpc(self, method: Any, request: Any, timeout_s: float, request_id: str = "") -> Any:
        metadata = (("x-request-id", request_id),) if request_id else None
        try:
            return await method(request, timeout=timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            details = exc.details() or exc.code().name
            code = exc.code().name
            if code == "INVALID_ARGUMENT" and "unknown model" in details:  # Triton's wording
                code = "NOT_FOUND"
            raise UpstreamError(code, details) from None

    async def predict(
        self,
        target: ModelTarget,
        inputs: Mapping[str, np.ndarray],
        signature: Any,
        timeout_s: float,
        request_id: str,
    ) -> dict[str, np.ndarray]:
        try:
            request = infer_request(target, inputs, request_id)
        except oip_tensors.OipTensorError as exc:
            raise InputError(str(exc)) from None
        response = await self._rpc(self._stub.ModelInfer, request, timeout_s, request_id)
        return read_response(response)

    async def predict_json(
        self, target: ModelTarget, body: dict[str, Any], signature: Any, timeout_s: float, request_id: str
    ) -> bytes:
        return await predict_json_as_arrays(self, target, body, signature, timeout_s, request_id)

    async def signature(self, target: ModelTarget, timeout_s: float) -> Any:
        request = service_pb2.ModelMetadataRequest(name=target.model, version=_version(target))
        response = await self._rpc(self._stub.ModelMetadata, request, timeout_s)

        def tensors(items: Any) -> list[dict[str, Any]]:
            return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in items]

        try:
            return signature_from_metadata(target.signature, tensors(response.inputs), tensors(response.outputs))
        except oip_tensors.OipTensorError as exc:
            raise UpstreamError("INTERNAL", f"unreadable model metadata: {exc}") from None

    async def check(self, models: Sequence[str], mode: str, timeout_s: float) -> set[str] | None:
        """``model_status``: ModelReady per model; ``grpc_health``: grpc.health.v1 (Triton serves it too)."""
        try:
            if mode == "grpc_health":
                from grpc_health.v1 import health_pb2, health_pb2_grpc

                if self._health is None:
                    self._health = health_pb2_grpc.HealthStub(self._channel)
                reply = await self._rpc(self._health.Check, health_pb2.HealthCheckRequest(), timeout_s)
                return set(models) if reply.status == health_pb2.HealthCheckResponse.SERVING else set()
            available = set()
            for model in models:
                try:
                    reply = await self._rpc(self._stub.ModelReady, service_pb2.ModelReadyRequest(name=model), timeout_s)
                except UpstreamError as exc:
                    if exc.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                        raise
                    continue  # NOT_FOUND (or Triton's INVALID_ARGUMENT): not served there
                if reply.ready:
                    available.add(model)
            return available
        except UpstreamError:
            return None

    async def aclose(self) -> None:
        await self._channel.close()

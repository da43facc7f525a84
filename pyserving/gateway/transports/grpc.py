"""TF Serving's gRPC API as a transport: the stock PredictionService / ModelService stubs over grpc.aio.

One channel per replica (HTTP/2 multiplexes every concurrent call on it).
The stubs are pyserving's own (``pyserving.protos``, no TensorFlow); this module
is still imported only when a config names a gRPC upstream (see
``transports.TRANSPORTS``), so a REST-only gateway never loads grpc.
Tensors go through ``pyserving.apis.tensor_proto`` (no per-element Python).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import grpc
import numpy as np

from pyserving.gateway.codec import InputError
from pyserving.gateway.config import UpstreamConfig
from pyserving.gateway.transports.base import ModelTarget, UpstreamError, predict_json_as_arrays
from pyserving.tensors.signature import Signature, TensorSpec


@functools.cache
def _apis() -> SimpleNamespace:
    """The protobuf modules, imported on first use (this is where TensorFlow gets imported)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from pyserving.apis import tensor_proto
    from pyserving.protos.tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    return SimpleNamespace(
        health_pb2=health_pb2,
        health_pb2_grpc=health_pb2_grpc,
        metadata=get_model_metadata_pb2,
        status=get_model_status_pb2,
        model_grpc=model_service_pb2_grpc,
        predict_pb2=predict_pb2,
        prediction_grpc=prediction_service_pb2_grpc,
        tensor_proto=tensor_proto,
    )


def channel(address: str, config: UpstreamConfig) -> grpc.aio.Channel:
    """A replica's channel (TF Serving's APIs and OIP alike): message limits from the config; a
    replica that comes back is used again within seconds, not after 2 minutes; no retries here,
    they go to the next replica (client.Upstream)."""
    options = [
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 5000),
        ("grpc.enable_retries", 0),
    ]
    return grpc.aio.insecure_channel(address, options=options)


class GrpcTransport:
    """Not thread-safe: one event loop (a grpc.aio channel is bound to the loop that uses it)."""

    json_needs_signature = True

    def __init__(self, address: str, config: UpstreamConfig) -> None:
        self.address = address
        self._apis = _apis()
        self._channel = channel(address, config)
        self._predict = self._apis.prediction_grpc.PredictionServiceStub(self._channel)
        self._models = self._apis.model_grpc.ModelServiceStub(self._channel)
        self._health = self._apis.health_pb2_grpc.HealthStub(self._channel)

    @staticmethod
    def _spec(spec: Any, target: ModelTarget, signature: bool = True) -> None:
        spec.name = target.model
        if target.version is not None:
            spec.version.value = target.version
        elif target.label is not None:
            spec.version_label = target.label
        if signature:
            spec.signature_name = target.signature

    async def _rpc(self, method: Any, request: Any, timeout_s: float, request_id: str = "") -> Any:
        metadata = (("x-request-id", request_id),) if request_id else None
        try:
            return await method(request, timeout=timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise UpstreamError(exc.code().name, exc.details() or exc.code().name) from None

    async def predict(
        self,
        target: ModelTarget,
        inputs: Mapping[str, np.ndarray],
        signature: Signature,
        timeout_s: float,
        request_id: str,
    ) -> dict[str, np.ndarray]:
        apis = self._apis
        request = apis.predict_pb2.PredictRequest()
        self._spec(request.model_spec, target)
        for alias, array in inputs.items():
            try:
                apis.tensor_proto.array_to_tensor(array, out=request.inputs[alias])
            except ValueError as exc:
                raise InputError(f"input {alias!r}: {exc}") from None
        response = await self._rpc(self._predict.Predict, request, timeout_s, request_id)
        try:
            return {alias: apis.tensor_proto.tensor_to_array(tensor) for alias, tensor in response.outputs.items()}
        except ValueError as exc:
            raise UpstreamError("INTERNAL", f"unreadable output tensor: {exc}") from None

    async def predict_json(
        self, target: ModelTarget, body: dict[str, Any], signature: Signature | None, timeout_s: float, request_id: str
    ) -> bytes:
        return await predict_json_as_arrays(self, target, body, signature, timeout_s, request_id)

    async def signature(self, target: ModelTarget, timeout_s: float) -> Signature:
        apis = self._apis
        request = apis.metadata.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, target, signature=False)
        response = await self._rpc(self._predict.GetModelMetadata, request, timeout_s)
        defs = apis.metadata.SignatureDefMap()
        response.metadata["signature_def"].Unpack(defs)
        if target.signature not in defs.signature_def:
            raise UpstreamError(
                "SIGNATURE_NOT_FOUND",
                f"model {target.model!r} has no signature {target.signature!r} "
                f"(it has: {', '.join(sorted(defs.signature_def))})",
            )
        sig = defs.signature_def[target.signature]
        return Signature(
            target.signature,
            sig.method_name,
            _specs(sig.inputs),
            _specs(sig.outputs),
            frozenset(getattr(sig, "defaults", {}) or {}),
        )

    async def check(self, models: Sequence[str], mode: str, timeout_s: float) -> set[str] | None:
        apis = self._apis
        try:
            if mode == "grpc_health":
                reply = await self._rpc(self._health.Check, apis.health_pb2.HealthCheckRequest(), timeout_s)
                serving = reply.status == apis.health_pb2.HealthCheckResponse.SERVING
                return set(models) if serving else set()
            available = set()
            for model in models:
                request = apis.status.GetModelStatusRequest()
                request.model_spec.name = model
                try:
                    reply = await self._rpc(self._models.GetModelStatus, request, timeout_s)
                except UpstreamError as exc:
                    if exc.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                        raise
                    continue
                state = apis.status.ModelVersionStatus.AVAILABLE
                if any(v.state == state for v in reply.model_version_status):
                    available.add(model)
            return available
        except UpstreamError:
            return None

    async def aclose(self) -> None:
        await self._channel.close()


def _specs(tensors: Any) -> dict[str, TensorSpec]:
    out = {}
    for alias, info in tensors.items():
        shape = None if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim)
        out[alias] = TensorSpec(info.name, int(info.dtype), shape)
    return out

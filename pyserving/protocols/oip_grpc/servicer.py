"""``inference.GRPCInferenceService``: decode ModelInferRequest, call ``oip_models``, encode.

Why raw contents out, always: tritonclient reads outputs only from ``raw_output_contents``
(by position); typed ``contents`` answers break it (``../shared/docs/oip-v2.md`` §4.3).
Inputs come either all in ``raw_input_contents`` or all in typed ``contents``, never mixed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import message_factory

from pyserving.apis.oip_tensors import check_datatype, check_shape, from_contents, from_raw, to_raw
from pyserving.core.errors import InvalidArgumentError, ServingError
from pyserving.protocols import oip_models, oip_repository, oip_statistics
from pyserving.protocols.grpc.errors import as_serving_error, rpc
from pyserving.protocols.grpc.handlers import safe_deserializer
from pyserving.protocols.oip_models import InferInput, OipOptions
from pyserving.protos.inference import grpc_service_pb2 as service_pb2
from pyserving.protos.inference import model_config_pb2
from pyserving.serving.server_core import ServerCore

logger = logging.getLogger("pyserving.grpc")

SERVICE = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
SERVICE_NAME = SERVICE.full_name
_SHARED_MEMORY = (
    "the shared-memory extensions (system and CUDA shared memory) are not supported: "
    "send tensor data in the request (raw_input_contents)"
)
_SHARED_MEMORY_KEYS = ("shared_memory_region", "shared_memory_offset", "shared_memory_byte_size")


def timeout_in_ms(context: grpc.aio.ServicerContext) -> int:
    remaining = context.time_remaining()
    return 0 if remaining is None else max(1, int(remaining * 1000))


def _parameter(value: Any) -> Any:
    choice = value.WhichOneof("parameter_choice")
    return None if choice is None else getattr(value, choice)


class OipService:
    """One instance per server; every method runs on the event loop."""

    def __init__(self, core: ServerCore, options: OipOptions) -> None:
        self.core = core
        self.options = options

    @rpc
    async def ServerLive(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerLiveResponse(live=True)

    @rpc
    async def ServerReady(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerReadyResponse(ready=self.options.ready())

    @rpc
    async def ModelReady(self, request: Any, context: Any) -> Any:
        return service_pb2.ModelReadyResponse(ready=oip_models.model_ready(self.core, request.name, request.version))

    @rpc
    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerMetadataResponse(**oip_models.server_metadata(self.options))

    @rpc
    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        doc = oip_models.model_metadata(self.core, self.options, request.name, request.version)
        response = service_pb2.ModelMetadataResponse(
            name=doc["name"], versions=doc["versions"], platform=doc["platform"]
        )
        for field in ("inputs", "outputs"):
            for tensor in doc[field]:
                getattr(response, field).add(**tensor)
        return response

    @rpc
    async def ModelConfig(self, request: Any, context: Any) -> Any:
        doc = oip_models.model_config(self.core, self.options, request.name, request.version)
        config = model_config_pb2.ModelConfig(
            name=doc["name"], platform=doc["platform"], backend=doc["backend"], max_batch_size=doc["max_batch_size"]
        )
        policy = doc["version_policy"]
        if "all" in policy:
            config.version_policy.all.SetInParent()
        elif "specific" in policy:
            config.version_policy.specific.versions.extend(policy["specific"]["versions"])
        else:
            config.version_policy.latest.num_versions = policy["latest"]["num_versions"]
        for field, tensors in (("input", doc["input"]), ("output", doc["output"])):
            for tensor in tensors:
                getattr(config, field).add(
                    name=tensor["name"],
                    data_type=model_config_pb2.DataType.Value(tensor["data_type"]),
                    dims=tensor["dims"],
                )
        return service_pb2.ModelConfigResponse(config=config)

    @rpc
    async def ModelStatistics(self, request: Any, context: Any) -> Any:
        response = service_pb2.ModelStatisticsResponse()
        for entry in oip_statistics.statistics(self.core, request.name, request.version):
            stats = response.model_stats.add(
                name=entry["name"],
                version=entry["version"],
                last_inference=entry["last_inference"],
                inference_count=entry["inference_count"],
                execution_count=entry["execution_count"],
            )
            for key, duration in entry["inference_stats"].items():
                target = getattr(stats.inference_stats, key)
                target.count = duration["count"]
                target.ns = duration["ns"]
        return response

    @rpc
    async def RepositoryIndex(self, request: Any, context: Any) -> Any:
        if request.repository_name:
            raise oip_models.unimplemented("'repository_name' specification is not supported")
        response = service_pb2.RepositoryIndexResponse()
        for entry in oip_repository.repository_index(self.core, self.options, request.ready):
            response.models.add(**entry)
        return response

    @rpc
    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:
        if request.repository_name:
            raise oip_models.unimplemented("'repository_name' specification is not supported")
        if any(key == "config" or key.startswith("file:") for key in request.parameters):
            raise oip_models.unimplemented("loading a model from an uploaded config or files is not supported")
        await oip_repository.repository_load(self.core, self.options, request.model_name)
        return service_pb2.RepositoryModelLoadResponse()

    @rpc
    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:
        if request.repository_name:
            raise oip_models.unimplemented("'repository_name' specification is not supported")
        await oip_repository.repository_unload(self.core, self.options, request.model_name)
        return service_pb2.RepositoryModelUnloadResponse()

    @rpc
    async def ModelInfer(self, request: Any, context: Any) -> Any:
        return await self._infer(request, timeout_in_ms(context))

    async def ModelStreamInfer(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        """Each request answered in turn; a failed one answers ``error_message`` and the stream goes on."""
        timeout = timeout_in_ms(context)
        async for request in requests:
            try:
                if not isinstance(request, service_pb2.ModelInferRequest):
                    raise InvalidArgumentError(str(request))
                response = await self._infer(request, timeout)
                yield service_pb2.ModelStreamInferResponse(infer_response=response)
            except Exception as exc:
                if not isinstance(exc, ServingError):
                    logger.exception("Unexpected error in ModelStreamInfer")
                yield service_pb2.ModelStreamInferResponse(error_message=as_serving_error(exc).message)

    async def _infer(self, request: Any, timeout: int) -> Any:
        parameters = request.parameters
        # Most requests carry no parameters at all: test the maps for emptiness before looking in them.
        for tensor_parameters in [parameters, *(i.parameters for i in request.inputs)]:
            if tensor_parameters and any(key in tensor_parameters for key in _SHARED_MEMORY_KEYS):
                raise oip_models.unimplemented(_SHARED_MEMORY)
        requested = []
        for output in request.outputs:
            if "classification" in output.parameters:
                raise oip_models.unimplemented(
                    "the classification extension is not supported: request the raw output and take the top-k client-side"
                )
            if any(key in output.parameters for key in _SHARED_MEMORY_KEYS):
                raise oip_models.unimplemented(_SHARED_MEMORY)
            requested.append(output.name)
        signature_name = ""
        if parameters:
            if "signature_name" in parameters:
                signature_name = _parameter(parameters["signature_name"])
                if not isinstance(signature_name, str):
                    raise InvalidArgumentError("parameter 'signature_name' must be a string")
            if "timeout" in parameters:
                timeout = oip_models.request_timeout(timeout, _parameter(parameters["timeout"]))
        limits = self.core.options.tensor_limits
        model = request.model_name

        def decode() -> list[InferInput]:
            raw = request.raw_input_contents
            if raw and len(raw) != len(request.inputs):
                raise InvalidArgumentError(
                    f"expected {len(request.inputs)} raw_input_contents (one per input), got {len(raw)} "
                    f"for model '{model}'"
                )
            decoded = []
            for index, tensor in enumerate(request.inputs):
                name = tensor.name
                datatype = check_datatype(name, tensor.datatype)
                shape = check_shape(name, list(tensor.shape), datatype, limits)
                has_contents = tensor.HasField("contents") and bool(tensor.contents.ListFields())
                if raw:
                    if has_contents:
                        raise InvalidArgumentError(
                            f"contents field must not be specified when using raw_input_contents for '{name}' "
                            f"for model '{model}'"
                        )
                    array = from_raw(name, datatype, shape, raw[index])
                elif has_contents or not shape or 0 in shape:
                    array = from_contents(name, datatype, shape, tensor.contents)
                else:
                    raise InvalidArgumentError(f"unable to find data for input tensor '{name}' for model '{model}'")
                decoded.append(InferInput(name, datatype, array))
            return decoded

        payload = 0
        for raw_input in request.raw_input_contents:
            payload += len(raw_input)
        result = await oip_models.infer(
            self.core, self.options, model, request.model_version, decode, requested, timeout, signature_name, payload
        )
        response = service_pb2.ModelInferResponse(model_name=model, model_version=str(result.version), id=request.id)
        if oip_models.off_loop(result.outputs):
            await self.core.run_blocking(_fill_outputs, response, result.outputs)
        else:
            _fill_outputs(response, result.outputs)
        return response


def _fill_outputs(response: Any, outputs: Any) -> None:
    """Always ``raw_output_contents``, one entry per output in ``outputs`` order (never typed contents)."""
    for name, datatype, array in outputs:
        response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        response.raw_output_contents.append(to_raw(array, datatype))


def _unimplemented_method(message: str) -> Any:
    @rpc
    async def method(self: Any, request: Any, context: Any) -> Any:
        raise oip_models.unimplemented(message)

    return method


for _name in (
    "SystemSharedMemoryStatus",
    "SystemSharedMemoryRegister",
    "SystemSharedMemoryUnregister",
    "CudaSharedMemoryStatus",
    "CudaSharedMemoryRegister",
    "CudaSharedMemoryUnregister",
):
    setattr(OipService, _name, _unimplemented_method(f"{_name}: {_SHARED_MEMORY}"))
OipService.TraceSetting = _unimplemented_method(  # type: ignore[attr-defined]
    "TraceSetting: the trace extension is not supported: tracing is not available on this server"
)
OipService.LogSettings = _unimplemented_method(  # type: ignore[attr-defined]
    "LogSettings: the logging extension is not supported: use the server's logging flags"
)


def add_oip_service(server: grpc.aio.Server, core: ServerCore, options: OipOptions) -> str:
    """Registers every method (unary ones with never-raising request decoding); returns the service name."""
    servicer = OipService(core, options)
    handlers = {}
    for method in SERVICE.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        behavior = getattr(servicer, method.name)
        if method.client_streaming:
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(
                behavior,
                request_deserializer=safe_deserializer(request_class),
                response_serializer=response_class.SerializeToString,
            )
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                behavior,
                request_deserializer=safe_deserializer(request_class),
                response_serializer=response_class.SerializeToString,
            )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    return SERVICE_NAME

"""tensorflow.serving.ModelService: GetModelStatus and HandleReloadConfigRequest.

Why its own error path for reload: TF Serving reports a reload failure twice,
in ``response.status`` (error_code, error_message) and as the gRPC status, so
clients reading either see the same outcome.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from pyserving.config.model_server_config import models_from_proto
from pyserving.core.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    PermissionDeniedError,
    ServingError,
    StatusCode,
    as_serving_error,
)
from pyserving.protocols.grpc.errors import grpc_status, rpc, truncate
from pyserving.protos.tensorflow_serving.apis import get_model_status_pb2, model_management_pb2, model_service_pb2_grpc
from pyserving.serving.model_status import model_status
from pyserving.serving.server_core import ServerCore

logger = logging.getLogger("pyserving.grpc")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """One instance per server; every method runs on the event loop."""

    def __init__(self, core: ServerCore, workers: int = 1, reload_config: bool = True) -> None:
        self.core = core
        self.workers = workers  # --num_workers: a ReloadConfig would reach one worker of them
        self.reload_config = reload_config  # --enable_reload_config_rpc

    @rpc
    async def GetModelStatus(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if not request.HasField("model_spec"):
            raise InvalidArgumentError("Missing ModelSpec")
        spec = request.model_spec
        # A version_label is ignored, as in TF Serving.
        version = spec.version.value if spec.HasField("version") else None
        response = get_model_status_pb2.GetModelStatusResponse()
        for state in model_status(self.core, spec.name, version):
            entry = response.model_version_status.add()
            entry.version = state.id.version
            entry.state = int(state.state)
            entry.status.SetInParent()  # present with OK, as TF Serving's ToStatusProto
            if state.error is not None:
                entry.status.error_code = int(state.error.code)
                entry.status.error_message = state.error.message
        return response

    @rpc
    async def HandleReloadConfigRequest(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        response = model_management_pb2.ReloadConfigResponse()
        try:
            await self._reload(request.config)
        except Exception as exc:  # reported in the response and the status
            error = as_serving_error(exc)
            if not isinstance(exc, ServingError):
                logger.exception("HandleReloadConfigRequest failed")
            logger.error("ServerCore::ReloadConfig failed: %s", error.message)
            # protoc's stubs type enum fields as the enum class; the wire value is the int.
            response.status.error_code = int(error.code)  # type: ignore[assignment]
            response.status.error_message = error.message
            context.set_code(grpc_status(error.code))
            context.set_details(truncate(error.message))
            return response
        response.status.error_code = int(StatusCode.OK)  # type: ignore[assignment]
        return response

    async def _reload(self, config: Any) -> None:
        if not self.reload_config:
            raise PermissionDeniedError(
                "HandleReloadConfigRequest is turned off on this server (--enable_reload_config_rpc=false)"
            )
        if self.workers > 1:
            raise FailedPreconditionError(
                f"HandleReloadConfigRequest reaches one of the {self.workers} worker processes "
                "(--num_workers): change the --model_config_file instead; every worker polls it "
                "(--model_config_file_poll_wait_seconds)"
            )
        # TF Serving answers a request with no config at all like one with a custom_model_config.
        if config.WhichOneof("config") != "model_config_list":
            raise InvalidArgumentError(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                "Only ModelConfigList is currently supported"
            )
        models = models_from_proto(config)
        for model in models:
            logger.info("Config entry: name=%s base_path=%s", model.name, model.base_path)
        await self.core.apply_config(models)

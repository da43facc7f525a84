"""Composition root: settings in, a running REST + gRPC server out, graceful stop on signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

from pyserving.backends.tensorflow.loader import SavedModelOptions
from pyserving.apis.json_format import error_body
from pyserving.batching import BatchingOptions
from pyserving.config.batching_config import read_batching_parameters
from pyserving.config.model_config import models_to_proto, read_model_config_file
from pyserving.config.reloader import poll_model_config_file
from pyserving.config.settings import ServerSettings
from pyserving.core.errors import InvalidArgumentError
from pyserving.core.manager import ManagerOptions
from pyserving.core.policy import POLICIES
from pyserving.protocols.rest.app import RestOptions, create_app
from pyserving.serving.model_config import ModelConfig
from pyserving.serving.server_core import ServerCore, ServerCoreOptions

logger = logging.getLogger("pyserving")

CONFIG_PATH = "/v1/config"


def check_settings(settings: ServerSettings) -> None:
    """Startup errors TF Serving reports before doing anything (same texts)."""
    if not settings.model_base_path and not settings.model_config_file:
        raise InvalidArgumentError(
            "Both server_options.model_base_path and server_options.model_config_file are empty!")
    if settings.batching_parameters_file and not settings.enable_batching:
        raise InvalidArgumentError(
            "server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true.")
    if settings.aspired_version_policy not in POLICIES:
        raise InvalidArgumentError(
            f"--aspired_version_policy must be one of {', '.join(sorted(POLICIES))}")
    if settings.port == 0 and not settings.grpc_socket_path and settings.rest_api_port == 0:
        raise InvalidArgumentError(
            "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set.")
    if settings.tensorflow_session_parallelism > 0 and (
        settings.tensorflow_intra_op_parallelism > 0 and settings.tensorflow_inter_op_parallelism > 0
    ):
        raise InvalidArgumentError(
            "Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, "
            "server_options.tensorflow_inter_op_parallelism) separately. You cannot configure all.")


def model_configs(settings: ServerSettings) -> list[ModelConfig]:
    if settings.model_config_file:
        return read_model_config_file(settings.model_config_file)
    return [ModelConfig(name=settings.model_name, base_path=settings.model_base_path)]


def core_options(settings: ServerSettings) -> ServerCoreOptions:
    intra = settings.tensorflow_intra_op_parallelism or settings.tensorflow_session_parallelism
    inter = settings.tensorflow_inter_op_parallelism or settings.tensorflow_session_parallelism
    session_config = ""
    if settings.tensorflow_session_config_file:
        with open(settings.tensorflow_session_config_file, encoding="utf-8") as stream:
            session_config = stream.read()
    tags = tuple(t.strip() for t in settings.saved_model_tags.split(",") if t.strip())
    return ServerCoreOptions(
        manager=ManagerOptions(
            max_num_load_retries=max(0, settings.max_num_load_retries),
            load_retry_interval_seconds=settings.load_retry_interval_micros / 1e6,
            num_load_threads=settings.num_load_threads,
            num_unload_threads=settings.num_unload_threads,
            policy=settings.aspired_version_policy,
        ),
        batching=batching_options(settings),
        per_model_batching=settings.enable_batching and settings.enable_per_model_batching_parameters,
        file_system_poll_wait_seconds=settings.file_system_poll_wait_seconds,
        file_system_settle_seconds=settings.file_system_settle_seconds,
        allow_version_labels_for_unavailable_models=settings.allow_version_labels_for_unavailable_models,
        backend_options=MappingProxyType({
            "tensorflow": SavedModelOptions(
                saved_model_tags=tags or ("serve",),
                intra_op_parallelism=intra,
                inter_op_parallelism=inter,
                session_config_text=session_config,
                prefer_tflite_model=settings.prefer_tflite_model,
                num_tflite_interpreters=settings.num_tflite_interpreters_per_pool,
            ),
        }),
    )


def batching_options(settings: ServerSettings) -> BatchingOptions | None:
    if not settings.enable_batching:
        return None
    if settings.batching_parameters_file:
        return read_batching_parameters(settings.batching_parameters_file)
    return BatchingOptions()


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it every response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidArgumentError(f"Failed to bind {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class Server:
    """One pyserving process: the core, REST on uvicorn, gRPC on grpc.aio. Event-loop only."""

    def __init__(self, settings: ServerSettings) -> None:
        check_settings(settings)
        self.settings = settings
        self.core = ServerCore(core_options(settings))
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._uvicorn: Any = None
        self._rest_task: asyncio.Task[None] | None = None
        self._grpc: Any = None

    async def start(self) -> None:
        settings = self.settings
        models = model_configs(settings)
        await self.core.apply_config(models)
        if settings.model_config_file and settings.model_config_file_poll_wait_seconds > 0:
            self._tasks.append(asyncio.get_running_loop().create_task(poll_model_config_file(
                settings.model_config_file, settings.model_config_file_poll_wait_seconds,
                models, self.core.apply_config)))
        if settings.port or settings.grpc_socket_path:
            await self._start_grpc()
        if settings.rest_api_port:
            if settings.rest_api_port == settings.port:
                logger.error("server_options.http_port cannot be same as grpc_port. "
                             "Please use a different port for HTTP/REST API. Skipped exporting HTTP/REST API.")
            else:
                await self._start_rest()

    async def _start_grpc(self) -> None:
        from pyserving.protocols.grpc.server import GrpcOptions, create_server

        settings = self.settings
        self._grpc = create_server(self.core, GrpcOptions.from_settings(settings))
        if settings.port:
            address = f"{settings.host}:{settings.port}"
            if self._grpc.add_insecure_port(address) == 0:
                raise InvalidArgumentError(f"Failed to bind gRPC port {address}")
        if settings.grpc_socket_path:
            self._grpc.add_insecure_port(f"unix:{settings.grpc_socket_path}")
        await self._grpc.start()
        logger.info("Running gRPC ModelServer at %s:%d ...", settings.host, settings.port)

    async def _start_rest(self) -> None:
        import uvicorn

        settings = self.settings
        sock = bind_socket(settings.host, settings.rest_api_port)
        app = create_app(self.core, RestOptions(
            rest_api_timeout_in_ms=settings.rest_api_timeout_in_ms,
            rest_api_enable_cors_support=settings.rest_api_enable_cors_support,
            extra_routes={CONFIG_PATH: self._effective_config},
        ))
        config = uvicorn.Config(app, loop="none", http="httptools", lifespan="off",
                                access_log=False, log_level="warning", ws="none")
        self._uvicorn = _EmbeddedUvicorn(config)
        self._rest_task = asyncio.get_running_loop().create_task(self._uvicorn.serve([sock]))
        while not self._uvicorn.started:
            await asyncio.sleep(0.01)
        logger.info("Exporting HTTP/REST API at:localhost:%d ...", settings.rest_api_port)

    async def _effective_config(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        """GET /v1/config: the model config in force (TF Serving has no way to read it back)."""
        from google.protobuf import json_format

        if method != "GET":
            return 405, b"application/json", error_body(f"Method {method} not allowed on {CONFIG_PATH}")
        message = models_to_proto(list(self.core.models.values()))
        payload = json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)
        return 200, b"application/json", payload.encode()

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stops accepting, lets in-flight requests finish, then unloads every model."""
        for task in self._tasks:
            task.cancel()
        waits: list[Any] = list(self._tasks)
        if self._uvicorn is not None and self._rest_task is not None:
            self._uvicorn.should_exit = True
            waits.append(self._rest_task)
        if self._grpc is not None:
            waits.append(self._grpc.stop(grace_seconds))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*waits, return_exceptions=True)
        await self.core.stop()


class _EmbeddedUvicorn:
    """uvicorn.Server without its own signal handling: the runner owns signals."""

    def __new__(cls, config: Any) -> Any:
        import uvicorn

        class Embedded(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        return Embedded(config)


async def serve(settings: ServerSettings) -> None:
    server = Server(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_stop)
    try:
        await server.start()
        await server.wait()
        logger.info("Shutting down")
        for sig in (signal.SIGINT, signal.SIGTERM):
            # A second signal ends the process at once.
            loop.add_signal_handler(sig, lambda: os._exit(1))
    finally:
        await server.stop()

"""Composition root: settings in, a running REST + gRPC server out, graceful stop on signals.

Shutdown (SIGTERM or SIGINT): readiness turns false at once (``/readyz`` 503,
gRPC health NOT_SERVING); after ``--shutdown_delay_seconds`` the ports close to
new connections, in-flight requests get ``--shutdown_grace_period_seconds`` to
finish (then they are cancelled), every model unloads, and the process exits 0.
A second signal exits at once with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
from collections.abc import Iterator
from typing import Any

from pyserving.apis.json_format import error_body
from pyserving.batching import BatchingOptions
from pyserving.config.batching_config import read_batching_parameters
from pyserving.config.model_config import models_to_proto, platform_of, read_model_config_file
from pyserving.config.monitoring_config import MonitoringConfig, read_monitoring_config_file
from pyserving.config.reloader import poll_model_config_file
from pyserving.config.settings import ServerSettings
from pyserving.config.ssl_config import read_ssl_config_file
from pyserving.console import Console
from pyserving.core.errors import InvalidArgumentError
from pyserving.core.ids import ServableId
from pyserving.core.manager import ManagerOptions
from pyserving.core.policy import POLICIES
from pyserving.metrics import (
    CONTENT_TYPE,
    AccessLogObserver,
    BatchMetrics,
    LifecycleLog,
    Metrics,
    MetricsObserver,
    RestInstrumentation,
    RunMetrics,
    StateMetrics,
    WarmupMetrics,
    grpc_interceptor,
    on_run,
)
from pyserving.protocols.limits import InFlightLimit
from pyserving.protocols.oip_models import OipOptions
from pyserving.protocols.rest.app import ExtraRoute, RestOptions, create_app
from pyserving.protocols.rest.http import HttpLimits, http_protocol
from pyserving.protocols.sockets import bind_socket
from pyserving.serving.model_config import ModelConfig
from pyserving.serving.server_core import ServerCore, ServerCoreOptions
from pyserving.serving.warmup import WarmupListener, WarmupOptions
from pyserving.tensors.limits import NUMPY_MAX_RANK, TensorLimits

logger = logging.getLogger("pyserving")

CONFIG_PATH = "/v1/config"
HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
JSON = b"application/json"


def check_settings(settings: ServerSettings) -> None:
    """Startup errors TF Serving reports before doing anything (same texts)."""
    if not settings.model_base_path and not settings.model_config_file:
        raise InvalidArgumentError(
            "Both server_options.model_base_path and server_options.model_config_file are empty!"
        )
    if settings.batching_parameters_file and not settings.enable_batching:
        raise InvalidArgumentError(
            "server_options.batching_parameters_file is set without setting server_options.enable_batching to true."
        )
    if not 1 <= settings.max_tensor_rank <= NUMPY_MAX_RANK:
        raise InvalidArgumentError(f"--max_tensor_rank must be between 1 and {NUMPY_MAX_RANK}")
    if settings.max_tensor_elements < 1 or settings.max_tensor_bytes < 1:
        raise InvalidArgumentError("--max_tensor_elements and --max_tensor_bytes must be positive")
    if settings.aspired_version_policy not in POLICIES:
        raise InvalidArgumentError(f"--aspired_version_policy must be one of {', '.join(sorted(POLICIES))}")
    if settings.port == 0 and not settings.grpc_socket_path and settings.rest_api_port == 0:
        raise InvalidArgumentError(
            "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set."
        )
    if settings.tensorflow_session_parallelism > 0 and (
        settings.tensorflow_intra_op_parallelism > 0 and settings.tensorflow_inter_op_parallelism > 0
    ):
        raise InvalidArgumentError(
            "Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, "
            "server_options.tensorflow_inter_op_parallelism) separately. You cannot configure all."
        )
    if settings.use_alts_credentials and settings.ssl_config_file:
        raise InvalidArgumentError("Either use_alts_credentials must be false or ssl_config_file must be empty.")
    if settings.log_format not in ("text", "json"):
        raise InvalidArgumentError(f"--log_format must be text or json, not {settings.log_format!r}")
    for name in (
        "shutdown_grace_period_seconds",
        "shutdown_delay_seconds",
        "rest_api_max_body_bytes",
        "max_concurrent_requests_per_model",
        "rest_api_max_url_bytes",
        "rest_api_max_header_bytes",
        "rest_api_header_timeout_seconds",
        "rest_api_body_timeout_seconds",
        "rest_api_keep_alive_timeout_seconds",
        "rest_api_max_connections",
    ):
        if getattr(settings, name) < 0:
            raise InvalidArgumentError(f"--{name} must not be negative")
    if settings.grpc_max_message_bytes <= 0:
        raise InvalidArgumentError("--grpc_max_message_bytes must be positive")
    if settings.num_workers < 1:
        raise InvalidArgumentError("--num_workers must be positive")
    if (
        settings.rest_api_ssl_keyfile or settings.rest_api_ssl_ca_certs or settings.rest_api_ssl_client_verify
    ) and not settings.rest_api_ssl_certfile:
        raise InvalidArgumentError(
            "--rest_api_ssl_keyfile, --rest_api_ssl_ca_certs and "
            "--rest_api_ssl_client_verify need --rest_api_ssl_certfile"
        )
    if settings.rest_api_ssl_client_verify and not settings.rest_api_ssl_ca_certs:
        raise InvalidArgumentError("--rest_api_ssl_client_verify needs --rest_api_ssl_ca_certs")


def model_configs(settings: ServerSettings) -> list[ModelConfig]:
    if settings.model_config_file:
        return read_model_config_file(settings.model_config_file)
    # TF Serving's single-model mode is "tensorflow"; a folder of another platform says so.
    platform = platform_of(settings.model_name, settings.model_base_path, default="tensorflow")
    return [ModelConfig(name=settings.model_name, base_path=settings.model_base_path, model_platform=platform)]


def core_options(settings: ServerSettings, warmup_listener: WarmupListener | None = None) -> ServerCoreOptions:
    per_version = settings.enable_batching and settings.enable_per_model_batching_parameters
    return ServerCoreOptions(
        manager=ManagerOptions(
            max_num_load_retries=max(0, settings.max_num_load_retries),
            load_retry_interval_seconds=settings.load_retry_interval_micros / 1e6,
            num_load_threads=settings.num_load_threads,
            num_unload_threads=settings.num_unload_threads,
            policy=settings.aspired_version_policy,
        ),
        batching=batching_options(settings),
        per_version_batching=version_batching_options if per_version else None,
        inline_run_max_seconds=settings.inline_run_max_micros / 1e6,
        file_system_poll_wait_seconds=settings.file_system_poll_wait_seconds,
        file_system_settle_seconds=settings.file_system_settle_seconds,
        allow_version_labels_for_unavailable_models=settings.allow_version_labels_for_unavailable_models,
        tensor_limits=TensorLimits(settings.max_tensor_rank, settings.max_tensor_elements, settings.max_tensor_bytes),
        backend_settings=settings,
        warmup=WarmupOptions(
            enabled=settings.enable_model_warmup,
            num_request_iterations=settings.num_request_iterations_for_warmup,
            listener=warmup_listener,
        ),
    )


def version_batching_options(version_dir: str) -> BatchingOptions | None:
    """``<version dir>/batching_params.pbtxt`` (``--enable_per_model_batching_parameters``), or None."""
    path = os.path.join(version_dir, "batching_params.pbtxt")
    return read_batching_parameters(path) if os.path.isfile(path) else None


def batching_options(settings: ServerSettings) -> BatchingOptions | None:
    if not settings.enable_batching:
        return None
    if settings.batching_parameters_file:
        return read_batching_parameters(settings.batching_parameters_file)
    return BatchingOptions()


FIRST_LOADS_TIMEOUT_SECONDS = 3600.0


class Server:
    """One pyserving process: the core, REST on uvicorn, gRPC on grpc.aio. Event-loop only."""

    def __init__(self, settings: ServerSettings) -> None:
        check_settings(settings)
        self.settings = settings
        self.monitoring = (
            read_monitoring_config_file(settings.monitoring_config_file)
            if settings.monitoring_config_file
            else MonitoringConfig()
        )
        self.metrics: Metrics | None = None
        if self.monitoring.prometheus_enabled:
            if settings.rest_api_port:
                self.metrics = Metrics()
            else:
                logger.warning(
                    "--monitoring_config_file enables Prometheus, but metrics are served on the "
                    "REST port and --rest_api_port is 0: metrics are off"
                )
        self.ssl_config = read_ssl_config_file(settings.ssl_config_file) if settings.ssl_config_file else None
        warmup_listener = WarmupMetrics(self.metrics) if self.metrics is not None else None
        self.core = ServerCore(core_options(settings, warmup_listener))
        self._shutting_down = False
        self._lifecycle_log = LifecycleLog(self.core.bus)
        # Before the first loads, so its version history sees them.
        self.console = (
            Console(self.core, self.metrics, self._rest_in_flight, settings.port)
            if settings.enable_console and settings.rest_api_port
            else None
        )
        observers: list[Any] = []
        if self.metrics is not None:
            StateMetrics(self.metrics, self.core.bus, self._model_path)
            self.core.batch_listeners.append(BatchMetrics(self.metrics))
            self.core.run_listeners.append(RunMetrics(self.metrics))
            observers.append(MetricsObserver(self.metrics))
        if settings.log_requests:
            observers.append(AccessLogObserver())
        if observers:
            self.core.run_listeners.insert(0, on_run)
        self._observers = observers
        self.limit = (
            InFlightLimit(settings.max_concurrent_requests_per_model)
            if settings.max_concurrent_requests_per_model > 0
            else None
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._uvicorn: Any = None
        self._rest_task: asyncio.Task[None] | None = None
        self._grpc: Any = None
        self._health: Any = None
        self.oip = OipOptions(
            signature_name=settings.oip_signature_name or "serving_default",
            ready=self.is_ready,
            repository_api=settings.enable_model_repository_api,
            workers=settings.num_workers,
        )

    def _model_path(self, servable_id: ServableId) -> str:
        model = self.core.models.get(servable_id.name)
        base = model.base_path if model is not None else ""
        return os.path.join(base, str(servable_id.version))

    async def start(self) -> None:
        settings = self.settings
        models = model_configs(settings)
        await self.core.apply_config(models)
        self.oip.known_models.update((m.name, m) for m in models)
        # The ports open once the first loads are done, as TF Serving's (clients, scripts and
        # probes take "port open" for "models loaded"). Workers always wait: the kernel hands
        # connections to every listening worker, and one still loading would answer 404.
        if (settings.num_workers > 1 or not settings.open_ports_before_load) and not await self._wait_first_loads(
            [m.name for m in models]
        ):
            return  # stopped while loading
        if settings.model_config_file and settings.model_config_file_poll_wait_seconds > 0:
            self._tasks.append(
                asyncio.get_running_loop().create_task(
                    poll_model_config_file(
                        settings.model_config_file,
                        settings.model_config_file_poll_wait_seconds,
                        models,
                        self.core.apply_config,
                    )
                )
            )
        if settings.port or settings.grpc_socket_path:
            await self._start_grpc()
        if settings.rest_api_port:
            if settings.rest_api_port == settings.port:
                logger.error(
                    "server_options.http_port cannot be same as grpc_port. "
                    "Please use a different port for HTTP/REST API. Skipped exporting HTTP/REST API."
                )
            else:
                await self._start_rest()

    async def _wait_first_loads(self, names: list[str]) -> bool:
        """Waits until every model's versions are AVAILABLE or END; False when a stop came first.

        A model left without an AVAILABLE version does not stop the server (unlike TF Serving,
        which exits): it is logged here, and its status and /readyz say why.
        """
        started = asyncio.get_running_loop().time()
        settling = asyncio.ensure_future(
            self.core.wait_settled(names, FIRST_LOADS_TIMEOUT_SECONDS, pending_folders=False)
        )
        stopping = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({settling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not settling.done():
            settling.cancel()
            return False
        for name, error in settling.result().items():
            logger.error(
                "Model %s has no AVAILABLE version (%s: %s); opening the ports anyway: the other "
                "models are served, and GET /v1/models/%s reports the error",
                name,
                error.code.name,
                error.message,
                name,
            )
        logger.info("Initial models settled in %.2f s; opening the ports", asyncio.get_running_loop().time() - started)
        return True

    # -- health --------------------------------------------------------------------------

    def is_ready(self) -> bool:
        """Every configured model has an AVAILABLE version and no shutdown has started."""
        return not self._shutting_down and self.core.is_ready()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        if self._shutting_down:
            return False, {"status": "shutting down"}
        waiting: dict[str, Any] = {}
        for name, model in self.core.models.items():
            if self.core.manager.available_versions(name):
                continue
            states = self.core.monitor.versions(name)
            if not states:
                waiting[name] = {
                    "state": "NO_VERSION",
                    "reason": self.core.source_problem(name) or f"no version found under {model.base_path} yet",
                }
                continue
            latest = states[0]
            entry: dict[str, Any] = {"version": latest.id.version, "state": latest.state.name}
            if latest.error is not None:
                entry["error"] = f"{latest.error.code.name}: {latest.error.message}"
            waiting[name] = entry
        if waiting:
            return False, {"status": "not ready", "models": waiting}
        return True, {"status": "ready"}

    def _rest_in_flight(self) -> int:
        return len(self._uvicorn.server_state.tasks) if self._uvicorn is not None else 0

    async def _healthz(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        return 200, JSON, b'{"status":"ok"}'

    async def _readyz(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        import orjson

        ready, doc = self.readiness()
        return (200 if ready else 503), JSON, orjson.dumps(doc)

    async def _prometheus(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        assert self.metrics is not None
        if method != "GET":
            return 405, JSON, error_body(f"Method {method} not allowed on {self.monitoring.prometheus_path}")
        return 200, CONTENT_TYPE, self.metrics.exposition()

    # -- protocols -----------------------------------------------------------------------

    async def _start_grpc(self) -> None:
        from pyserving.protocols.grpc.server import (
            GrpcOptions,
            HealthService,
            InFlightLimitInterceptor,
            create_server,
        )

        settings = self.settings
        interceptors: list[Any] = []
        if self._observers:
            interceptors.append(grpc_interceptor(self._observers))
        if self.limit is not None:
            interceptors.append(InFlightLimitInterceptor(self.limit))
        if settings.enable_grpc_healthcheck_service:
            self._health = HealthService(self.is_ready)
        profiler = None
        if settings.enable_profiler:
            from pyserving.backends.tensorflow.profiler import ProfilerSession

            profiler = ProfilerSession
        self._grpc = create_server(
            self.core, GrpcOptions.from_settings(settings), interceptors, self._health, profiler, self.oip
        )
        credentials = self.ssl_config.grpc_credentials() if self.ssl_config is not None else None
        addresses = []
        if settings.port:
            addresses.append(f"{settings.host}:{settings.port}")
        if settings.grpc_socket_path:
            addresses.append(f"unix:{settings.grpc_socket_path}")
        for address in addresses:
            try:
                if credentials is not None:
                    bound = self._grpc.add_secure_port(address, credentials)
                else:
                    bound = self._grpc.add_insecure_port(address)
            except RuntimeError:
                bound = 0
            if bound == 0 and not address.startswith("unix:"):
                hint = " (check the PEM texts in --ssl_config_file)" if credentials is not None else ""
                raise InvalidArgumentError(f"Failed to bind gRPC port {address}{hint}")
        await self._grpc.start()
        logger.info(
            "Running gRPC ModelServer at %s:%d%s ...",
            settings.host,
            settings.port,
            " (TLS)" if credentials is not None else "",
        )

    async def _start_rest(self) -> None:
        import uvicorn

        settings = self.settings
        sock = bind_socket(settings.host, settings.rest_api_port, reuse_port=settings.num_workers > 1)
        extra_routes: dict[str, ExtraRoute] = {
            CONFIG_PATH: self._effective_config,
            HEALTHZ_PATH: self._healthz,
            READYZ_PATH: self._readyz,
        }
        if not settings.enable_config_endpoint:
            del extra_routes[CONFIG_PATH]
        if self.metrics is not None:
            extra_routes[self.monitoring.prometheus_path] = self._prometheus
        if self.console is not None:
            extra_routes.update(self.console.routes())
        app: Any = create_app(
            self.core,
            RestOptions(
                rest_api_timeout_in_ms=settings.rest_api_timeout_in_ms,
                rest_api_enable_cors_support=settings.rest_api_enable_cors_support,
                extra_routes=extra_routes,
                max_body_bytes=settings.rest_api_max_body_bytes,
                limit=self.limit,
                oip=self.oip,
            ),
        )
        if self._observers:
            app = RestInstrumentation(app, self._observers)
        config = uvicorn.Config(
            app,
            loop="none",
            http=http_protocol(HttpLimits.from_settings(settings)),
            timeout_keep_alive=settings.rest_api_keep_alive_timeout_seconds,  # type: ignore[arg-type]
            lifespan="off",
            access_log=False,
            log_level="warning",
            ws="none",
            # uvicorn hands it to asyncio.wait_for: fractions of a second work.
            timeout_graceful_shutdown=settings.shutdown_grace_period_seconds,  # type: ignore[arg-type]
            **self._rest_ssl_options(),
        )
        self._uvicorn = _EmbeddedUvicorn(config)
        self._rest_task = asyncio.get_running_loop().create_task(self._uvicorn.serve([sock]))
        while not self._uvicorn.started:
            if self._rest_task.done():
                error = None if self._rest_task.cancelled() else self._rest_task.exception()
                raise InvalidArgumentError(f"The REST server stopped while starting: {error}")
            await asyncio.sleep(0.01)
        logger.info(
            "Exporting HTTP/REST API at:localhost:%d ...%s",
            settings.rest_api_port,
            " (HTTPS)" if settings.rest_api_ssl_certfile else "",
        )

    def _rest_ssl_options(self) -> dict[str, Any]:
        settings = self.settings
        if not settings.rest_api_ssl_certfile:
            return {}
        for flag in ("rest_api_ssl_certfile", "rest_api_ssl_keyfile", "rest_api_ssl_ca_certs"):
            path = getattr(settings, flag)
            if path and not os.path.isfile(path):
                raise InvalidArgumentError(f"--{flag}: no such file: {path}")
        try:  # fail at startup with the reason, not inside uvicorn
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                settings.rest_api_ssl_certfile, settings.rest_api_ssl_keyfile or None
            )
            if settings.rest_api_ssl_ca_certs:
                ssl.create_default_context(cafile=settings.rest_api_ssl_ca_certs)
        except (ssl.SSLError, OSError) as exc:
            raise InvalidArgumentError(f"Cannot use the REST TLS certificate/key/CA files: {exc}") from None
        if settings.rest_api_ssl_client_verify:
            cert_reqs = ssl.CERT_REQUIRED
        elif settings.rest_api_ssl_ca_certs:
            cert_reqs = ssl.CERT_OPTIONAL
        else:
            cert_reqs = ssl.CERT_NONE
        return {
            "ssl_certfile": settings.rest_api_ssl_certfile,
            "ssl_keyfile": settings.rest_api_ssl_keyfile or None,
            "ssl_ca_certs": settings.rest_api_ssl_ca_certs or None,
            "ssl_cert_reqs": cert_reqs,
        }

    async def _effective_config(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        """GET /v1/config: the model config in force (TF Serving has no way to read it back)."""
        from google.protobuf import json_format

        if method != "GET":
            return 405, b"application/json", error_body(f"Method {method} not allowed on {CONFIG_PATH}")
        message = models_to_proto(list(self.core.models.values()))
        payload = json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)
        return 200, b"application/json", payload.encode()

    # -- lifecycle -----------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    def begin_shutdown(self) -> None:
        """Readiness false from now on: /readyz answers 503, gRPC health NOT_SERVING."""
        self._shutting_down = True
        if self._health is not None:
            self._health.shutdown()

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stops accepting, lets in-flight requests finish within ``grace_seconds``, then unloads every model."""
        self.begin_shutdown()
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
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, server.request_stop)
    try:
        await server.start()
        await server.wait()
        for sig in signals:
            # A second signal ends the process at once.
            loop.add_signal_handler(sig, _exit_now)
        logger.info(
            "Shutting down: readiness off, draining in-flight requests (grace period %.1f s)",
            settings.shutdown_grace_period_seconds,
        )
        server.begin_shutdown()
        if settings.shutdown_delay_seconds > 0:
            await asyncio.sleep(settings.shutdown_delay_seconds)
    finally:
        await server.stop(settings.shutdown_grace_period_seconds)
        for sig in signals:
            loop.remove_signal_handler(sig)
    logger.info("Server stopped")


def _exit_now() -> None:
    logger.warning("Second signal: exiting without waiting for in-flight requests")
    logging.shutdown()
    os._exit(1)

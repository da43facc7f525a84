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
from collections.abc import Iterator
from typing import Any

from pyserving.config.batching_config import batching_options, version_batching_options
from pyserving.config.model_server_config import models_from_settings
from pyserving.config.monitoring_config import MonitoringConfig, read_monitoring_config_file
from pyserving.config.reloader import poll_model_config_file
from pyserving.config.settings import ServerSettings
from pyserving.config.ssl_config import read_ssl_config_file
from pyserving.config.validation import check_settings
from pyserving.console import Console
from pyserving.core.errors import InvalidArgumentError
from pyserving.core.ids import ServableId
from pyserving.core.manager import ManagerOptions
from pyserving.metrics import (
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
from pyserving.protocols.rest.app import RestOptions, create_app
from pyserving.protocols.rest.http import HttpLimits, http_protocol
from pyserving.protocols.rest.ops_routes import OpsRoutes
from pyserving.protocols.rest.tls import uvicorn_ssl_options
from pyserving.protocols.sockets import bind_socket
from pyserving.serving.readiness import Readiness
from pyserving.serving.server_core import ServerCore, ServerCoreOptions
from pyserving.serving.warmup import WarmupListener, WarmupOptions
from pyserving.tensors.limits import TensorLimits

logger = logging.getLogger("pyserving")


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
        self.readiness = Readiness(self.core)
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
        models = models_from_settings(settings)
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

    def is_ready(self) -> bool:
        """Every configured model has an AVAILABLE version and no shutdown has started."""
        return self.readiness.is_ready()

    def _rest_in_flight(self) -> int:
        return len(self._uvicorn.server_state.tasks) if self._uvicorn is not None else 0

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
            self._health = HealthService(self.readiness.is_ready)
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
        extra_routes = OpsRoutes(
            self.core,
            self.readiness,
            config_endpoint=settings.enable_config_endpoint,
            metrics=self.metrics,
            metrics_path=self.monitoring.prometheus_path,
        ).routes()
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
            **uvicorn_ssl_options(settings),
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

    # -- lifecycle -----------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    def begin_shutdown(self) -> None:
        """Readiness false from now on: /readyz answers 503, gRPC health NOT_SERVING."""
        self.readiness.shutting_down = True
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

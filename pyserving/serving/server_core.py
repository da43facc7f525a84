"""ServerCore: model config in, sources and manager wired, requests resolved to handles.

The one object the protocols talk to. It owns the event bus, the state monitor,
the manager and one FileSystemSource per model; where runs happen (threads,
batchers, inline) is ``serving/execution.py``'s job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyserving.backends import load_backend
from pyserving.backends.base import Backend, UnavailableBackend
from pyserving.batching import BatchingOptions
from pyserving.core.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    ServingError,
    StatusCode,
)
from pyserving.core.event_bus import EventBus
from pyserving.core.ids import ServableId, ServableRequest
from pyserving.core.manager import AspiredVersion, AspiredVersionsManager, ManagerOptions, ServableHandle
from pyserving.core.state_monitor import ServableStateMonitor
from pyserving.core.states import ServableState
from pyserving.serving.execution import Execution, ExecutionOptions
from pyserving.serving.model_config import ModelConfig
from pyserving.serving.model_stats import ModelStats
from pyserving.serving.warmup import WarmedLoader, WarmupOptions
from pyserving.sources.filesystem import FileSystemSource, ServableSourceConfig
from pyserving.tensors.limits import DEFAULT_LIMITS, TensorLimitError, TensorLimits

logger = logging.getLogger("pyserving.core")

T = TypeVar("T")


@dataclass(frozen=True)
class ServerCoreOptions:
    manager: ManagerOptions = field(default_factory=ManagerOptions)
    file_system_poll_wait_seconds: float = 1.0
    file_system_settle_seconds: float = 10.0
    allow_version_labels_for_unavailable_models: bool = False
    num_inference_threads: int = 0
    # Server-side batching (--enable_batching); None runs every request on its own.
    batching: BatchingOptions | None = None
    # Unbatched runs timed under this go on the event loop (serving/inline_runs.py); 0: never.
    inline_run_max_seconds: float = 0.0
    # The server's settings (config.settings.ServerSettings): each backend reads its own flags.
    backend_settings: Any = None
    # --enable_per_model_batching_parameters: a version folder -> its batching options, or None.
    per_version_batching: Callable[[str], BatchingOptions | None] | None = None
    # Warmup replayed at the end of every load (serving/warmup.py).
    warmup: WarmupOptions = field(default_factory=WarmupOptions)
    # What one input tensor may be (rank, extent, bytes); checked before any backend sees it.
    tensor_limits: TensorLimits = DEFAULT_LIMITS


def _check_base_path_exists(model: ModelConfig) -> None:
    if "://" in model.base_path:
        return  # a URI: its source reports what it finds
    try:
        os.stat(model.base_path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidArgumentError(
            f"Could not find base path {model.base_path} for servable {model.name}: {reason}"
        ) from None


class ServerCore:
    """Event-loop only, except ``run_blocking`` which hands work to the executor."""

    def __init__(self, options: ServerCoreOptions) -> None:
        self.options = options
        self.bus: EventBus[ServableState] = EventBus()
        self.monitor = ServableStateMonitor(self.bus)
        self.manager = AspiredVersionsManager(options.manager, self.bus)
        self._sources: dict[str, FileSystemSource] = {}
        self._backends: dict[str, Backend] = {}
        self.models: dict[str, ModelConfig] = {}
        # Where runs happen (threads, batchers, inline): serving/execution.py.
        self.execution = Execution(
            ExecutionOptions(
                num_inference_threads=options.num_inference_threads,
                batching=options.batching,
                per_version_batching=options.per_version_batching,
                inline_run_max_seconds=options.inline_run_max_seconds,
            ),
            self.bus,
            self.models.__len__,
        )
        self.batch_listeners = self.execution.batch_listeners
        # Called after every model run, on the event loop in the requesting task's context:
        # (servable id, signature name, inputs, seconds, error or None). Metrics subscribe.
        self.run_listeners: list[Callable[[ServableId, str, Mapping[str, Any], float, BaseException | None], None]] = []
        # Per-version counters for OIP's statistics extension: always kept (cheap), for every protocol.
        self.stats = ModelStats(batched=options.batching is not None)
        self.run_listeners.append(self.stats.on_run)
        self.batch_listeners.append(self.stats.on_batch)
        self.bus.subscribe(self.stats.on_state)

    # -- configuration ----------------------------------------------------------------

    def validate(self, models: Sequence[ModelConfig]) -> None:
        """Rejects a config as a whole before anything changes (TF Serving's texts)."""
        seen: set[str] = set()
        for model in models:
            if not model.name:
                raise InvalidArgumentError("Model config entry has no name")
            if model.name in seen:
                raise InvalidArgumentError(f"Illegal to list model {model.name} multiple times in config list")
            seen.add(model.name)
            if "\x00" in model.base_path:
                raise InvalidArgumentError(f"Model {model.name} has a base_path with a NUL byte")
            if not (os.path.isabs(model.base_path) or "://" in model.base_path):
                raise InvalidArgumentError(
                    f"Expected model {model.name} to have an absolute path or URI; got base_path()={model.base_path}"
                )
            old = self.models.get(model.name)
            if self.models and (old is None or old.base_path != model.base_path):
                _check_base_path_exists(model)  # a reload: a new path must be there (TF Serving's text)
            if old is not None and old.model_platform != model.model_platform:
                raise InvalidArgumentError(
                    f"Illegal to change a model's platform. For model {model.name} platform was "
                    f"{old.model_platform} and new platform requested is {model.model_platform}"
                )
            self._backend(model)
            if self.models:  # a reload: TF Serving's label rules apply
                self._check_labels(model, old)

    def _check_labels(self, model: ModelConfig, old: ModelConfig | None) -> None:
        available = set(self.manager.available_versions(model.name))
        for label, version in model.version_labels.items():
            if version in available:
                continue
            unchanged = old is None or old.version_labels.get(label, version) == version
            if not (self.options.allow_version_labels_for_unavailable_models and unchanged):
                raise FailedPreconditionError(
                    f"Request to assign label to version {version} of model {model.name}, "
                    "which is not currently available for inference"
                )

    async def reload_config(self, models: Sequence[ModelConfig], timeout: float = 300.0) -> dict[str, ServingError]:
        """apply_config, then waits until each new or changed model has settled.

        Returns the models that have no AVAILABLE version, with their error; the
        others are served regardless (one bad entry never blocks the rest).
        """
        before = dict(self.models)
        await self.apply_config(models)
        return await self.wait_settled([m.name for m in models if before.get(m.name) != m], timeout)

    async def wait_settled(
        self, names: Sequence[str], timeout: float | None, pending_folders: bool = True
    ) -> dict[str, ServingError]:
        """Waits until every version of each model is AVAILABLE or END (none waiting or loading).

        ``pending_folders=False`` does not wait for version folders still being written
        (startup: those are new versions, loaded while serving). Returns the models left
        without an AVAILABLE version, with their error.
        """
        await self.monitor.wait_until(lambda: all(self._settled(n, pending_folders) for n in names), timeout)
        failures: dict[str, ServingError] = {}
        for name in names:
            if self.manager.available_versions(name):
                continue
            states = self.monitor.versions(name)
            errors = [s.error for s in states if s.error is not None]
            if errors:
                failures[name] = errors[0]
            elif states:
                failures[name] = ServingError(f"Model {name} is still loading", StatusCode.UNAVAILABLE)
            else:
                failures[name] = ServingError(
                    self.source_problem(name)
                    or f"No versions of servable {name} found under base path {self.models[name].base_path}",
                    StatusCode.NOT_FOUND,
                )
        return failures

    def source_problem(self, name: str) -> str | None:
        """Why a model's base path yields no version (shown in its status and /readyz), if it does not."""
        source = self._sources.get(name)
        return source.problem if source is not None else None

    def _settled(self, name: str, pending_folders: bool = True) -> bool:
        source = self._sources.get(name)
        polled = source is None or (source.settled() if pending_folders else source.polled())
        return polled and self.manager.is_settled(name)

    async def apply_config(self, models: Sequence[ModelConfig]) -> None:
        """Makes ``models`` the served set: new ones start polling, removed ones unload."""
        self.validate(models)
        wanted = {m.name: m for m in models}
        for model in {m.model_platform: m for m in models if m.model_platform not in self._backends}.values():
            # A backend's factory may import its framework (TensorFlow: ~3 s): not on the loop.
            await asyncio.to_thread(self._backend, model)
        for name in list(self._sources):
            if name not in wanted:
                await self._sources.pop(name).stop()
                self.models.pop(name, None)
                self.execution.forget_model(name)
                self.manager.set_aspired_versions(name, [])
        for name, model in wanted.items():
            self.models[name] = model
            source_config = ServableSourceConfig(name, model.base_path, model.version_policy)
            source = self._sources.get(name)
            if source is not None and source.config.base_path == model.base_path:
                source.update_policy(source_config)
                await source.poll()
                continue
            if source is not None:
                await source.stop()
            source = FileSystemSource(
                source_config,
                self._version_factory(model),
                self.manager.set_aspired_versions,
                self.options.file_system_poll_wait_seconds,
                self.options.file_system_settle_seconds,
                self._backend(model).version_complete,
            )
            self._sources[name] = source
            if self.options.file_system_poll_wait_seconds < 0:
                continue  # never poll (TF Serving's test-only setting)
            source.start()

    def _backend(self, model: ModelConfig) -> Backend:
        backend = self._backends.get(model.model_platform)
        if backend is None:
            try:
                backend = load_backend(model.model_platform, self.options.backend_settings)
            except KeyError:
                raise InvalidArgumentError(
                    f"Model {model.name} requests unsupported platform {model.model_platform}"
                ) from None
            except ImportError as exc:
                # The model's loads fail with this message; the other models serve.
                message = (
                    f"Model {model.name} requests platform {model.model_platform}, whose framework is not "
                    f"installed ({exc}): pip install 'pyserving[{model.model_platform}]'"
                )
                logger.error("%s", message)
                backend = UnavailableBackend(model.model_platform, message)
            self._backends[model.model_platform] = backend
        return backend

    def _version_factory(self, model: ModelConfig) -> Callable[[ServableId, str], AspiredVersion]:
        backend = self._backend(model)

        def make(servable_id: ServableId, path: str) -> AspiredVersion:
            try:
                loader = WarmedLoader(backend.create_loader(servable_id, path), path, self.options.warmup, servable_id)
                return AspiredVersion(servable_id, loader)
            except ServingError as exc:
                return AspiredVersion(servable_id, None, exc)

        return make

    # -- requests ---------------------------------------------------------------------

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> ServableRequest:
        if label is not None:
            model = self.models.get(name)
            labelled = model.version_labels.get(label) if model is not None else None
            if labelled is None:
                raise InvalidArgumentError(f"Unrecognized servable version label: {label}")
            return ServableRequest.specific(name, labelled)
        if version is not None:
            return ServableRequest.specific(name, version)
        return ServableRequest.latest(name)

    def acquire(self, request: ServableRequest) -> ServableHandle:
        return self.manager.acquire(request)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on an inference thread (encoding large answers, for one)."""
        return await self.execution.run_blocking(fn, *args)

    async def run(
        self,
        handle: ServableHandle,
        signature_name: str,
        inputs: Mapping[str, Any],
        output_keys: Sequence[str],
        timeout_in_ms: int = 0,
    ) -> dict[str, Any]:
        """Runs a signature, batched with other requests when batching is on.

        Every input passes :class:`TensorLimits` first: this is the one door to the backends.
        """
        self.check_inputs(inputs)
        if not self.run_listeners:
            return await self.execution.run(handle, signature_name, inputs, output_keys, timeout_in_ms)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await self.execution.run(handle, signature_name, inputs, output_keys, timeout_in_ms)
        except BaseException as exc:
            error = exc
            raise
        finally:
            seconds = time.perf_counter() - started
            for listener in self.run_listeners:
                listener(handle.id, signature_name, inputs, seconds, error)

    def check_inputs(self, inputs: Mapping[str, Any]) -> None:
        """INVALID_ARGUMENT naming the input when one breaks ``options.tensor_limits``."""
        limits = self.options.tensor_limits
        for alias, array in inputs.items():
            try:
                limits.check_array(array)
            except TensorLimitError as exc:
                raise InvalidArgumentError(f"input {alias}: {exc}") from None

    def is_ready(self) -> bool:
        """Every configured model has an AVAILABLE version."""
        return all(self.manager.available_versions(name) for name in self.models)

    async def stop(self) -> None:
        for source in self._sources.values():
            await source.stop()
        self._sources.clear()
        await self.manager.shutdown()
        await self.execution.stop()

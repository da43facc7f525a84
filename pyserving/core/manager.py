"""AspiredVersionsManager: reconciles the versions sources aspire to with those loaded.

Sources call ``set_aspired_versions(name, versions)`` with the complete set they
want for one model; anything omitted is un-aspired and, per the policy, unloaded.
Loads and unloads run on thread pools; every state change is published on the
event bus (the state monitor and metrics subscribe). Requests take a
``ServableHandle``; a version being unloaded waits for its last handle first, so
requests pinned to it finish on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pyserving.core.errors import ServableNotFoundError, ServingError, StatusCode, as_serving_error
from pyserving.core.event_bus import EventBus
from pyserving.core.ids import ServableId, ServableRequest
from pyserving.core.loader import Loader
from pyserving.core.policy import POLICIES, Action, VersionSnapshot
from pyserving.core.states import ManagerState, ServableState

logger = logging.getLogger("pyserving.manager")


@dataclass(frozen=True)
class AspiredVersion:
    """A version a source wants loaded: a loader, or the error that kept it from making one."""

    id: ServableId
    loader: Loader | None = None
    error: ServingError | None = None


@dataclass(frozen=True)
class ManagerOptions:
    max_num_load_retries: int = 5
    load_retry_interval_seconds: float = 60.0
    num_load_threads: int = 0
    num_unload_threads: int = 0
    policy: str = "availability_preserving"


class _Harness:
    """Per-version state around one loader. Event-loop only."""

    def __init__(self, servable_id: ServableId, loader: Loader | None) -> None:
        self.id = servable_id
        self.loader = loader
        self.state = ManagerState.START
        self.error: ServingError | None = None
        self.is_aspired = True
        self.unaspired = asyncio.Event()
        self.handles = 0
        self.drained: asyncio.Event | None = None

    def set_aspired(self, aspired: bool) -> None:
        self.is_aspired = aspired
        if aspired:
            self.unaspired.clear()
        else:
            self.unaspired.set()


class ServableHandle:
    """A lease on one loaded version; release it promptly (do not hold across slow I/O).

    Use as a context manager. Event-loop only.
    """

    __slots__ = ("id", "servable", "_harness")

    def __init__(self, harness: _Harness) -> None:
        assert harness.loader is not None
        self._harness: _Harness | None = harness
        self.id = harness.id
        self.servable: Any = harness.loader.servable
        harness.handles += 1

    def release(self) -> None:
        harness, self._harness = self._harness, None
        if harness is None:
            return
        harness.handles -= 1
        if harness.handles == 0 and harness.drained is not None:
            harness.drained.set()

    def __enter__(self) -> ServableHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class AspiredVersionsManager:
    """Owns every harness and the map of serving versions. Event-loop only."""

    def __init__(self, options: ManagerOptions, bus: EventBus[ServableState]) -> None:
        self._options = options
        self._policy = POLICIES[options.policy]
        self._bus = bus
        self._streams: dict[str, dict[int, _Harness]] = {}
        self._available: dict[str, dict[int, _Harness]] = {}
        self._latest: dict[str, int] = {}
        self._load_pool = ThreadPoolExecutor(max(1, options.num_load_threads), thread_name_prefix="pyserving-load")
        self._unload_pool = ThreadPoolExecutor(
            max(1, options.num_unload_threads), thread_name_prefix="pyserving-unload"
        )
        self._tasks: set[asyncio.Task[None]] = set()

    # -- sources call this ------------------------------------------------------------

    def set_aspired_versions(self, name: str, versions: Sequence[AspiredVersion]) -> None:
        stream = self._streams.setdefault(name, {})
        wanted = {v.id.version: v for v in versions}
        for version, harness in list(stream.items()):
            if version in wanted:
                continue
            harness.set_aspired(False)
            if harness.state is ManagerState.END:
                del stream[version]
            elif harness.state is ManagerState.START:
                del stream[version]
                self._publish(harness, ManagerState.END)
        for version, aspired in wanted.items():
            existing = stream.get(version)
            if existing is not None:
                existing.set_aspired(True)
                continue
            harness = _Harness(aspired.id, aspired.loader)
            stream[version] = harness
            if aspired.error is not None or aspired.loader is None:
                harness.error = aspired.error or ServingError("no loader", StatusCode.INTERNAL)
                self._publish(harness, ManagerState.END)
            else:
                self._publish(harness, ManagerState.START)
        if not stream:
            del self._streams[name]
        self._reconcile(name)

    # -- requests call this -----------------------------------------------------------

    def acquire(self, request: ServableRequest) -> ServableHandle:
        versions = self._available.get(request.name)
        if versions:
            version = self._latest[request.name] if request.version is None else request.version
            harness = versions.get(version)
            if harness is not None:
                return ServableHandle(harness)
        raise ServableNotFoundError(f"Servable not found for request: {request}")

    def is_settled(self, name: str) -> bool:
        """No version of ``name`` is waiting to load or loading."""
        return not any(
            h.state in (ManagerState.START, ManagerState.LOADING) for h in self._streams.get(name, {}).values()
        )

    def available_versions(self, name: str) -> list[int]:
        return sorted(self._available.get(name, ()), reverse=True)

    # -- reconciliation ---------------------------------------------------------------

    def _reconcile(self, name: str) -> None:
        stream = self._streams.get(name)
        while stream:
            snapshots = [VersionSnapshot(v, h.state, h.is_aspired) for v, h in stream.items()]
            decision = self._policy(snapshots)
            if decision is None:
                return
            action, version = decision
            harness = stream[version]
            if action is Action.LOAD:
                self._publish(harness, ManagerState.LOADING)
                self._spawn(self._load(harness))
            else:
                self._set_unavailable(harness)
                self._publish(harness, ManagerState.UNLOADING)
                self._spawn(self._unload(harness))

    async def _load(self, harness: _Harness) -> None:
        assert harness.loader is not None
        loop = asyncio.get_running_loop()
        attempts = self._options.max_num_load_retries + 1
        error: ServingError | None = None
        for attempt in range(attempts):
            try:
                await loop.run_in_executor(self._load_pool, harness.loader.load)
                error = None
                break
            except Exception as exc:  # noqa: BLE001 - any loader failure is data here
                error = as_serving_error(exc)
                logger.error(
                    "Loading servable %s failed (attempt %d of %d): %s",
                    harness.id,
                    attempt + 1,
                    attempts,
                    error.message,
                )
            if attempt + 1 >= attempts or not harness.is_aspired or not error.retryable:
                break
            # Keep the last error visible while retrying.
            harness.error = error
            self._publish(harness, ManagerState.LOADING)
            try:
                await asyncio.wait_for(harness.unaspired.wait(), self._options.load_retry_interval_seconds)
                break  # un-aspired while waiting: stop retrying
            except TimeoutError:
                pass
        harness.error = error
        if error is None:
            self._set_available(harness)
            self._publish(harness, ManagerState.AVAILABLE)
            logger.info("Successfully loaded servable version %s", harness.id)
        else:
            self._publish(harness, ManagerState.END)
            if not harness.is_aspired:
                self._forget(harness)
        self._reconcile(harness.id.name)

    async def _unload(self, harness: _Harness) -> None:
        assert harness.loader is not None
        if harness.handles:
            harness.drained = asyncio.Event()
            await harness.drained.wait()
            harness.drained = None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._unload_pool, harness.loader.unload)
        except Exception as exc:
            logger.exception("Unloading servable %s failed", harness.id)
            harness.error = as_serving_error(exc)
        self._publish(harness, ManagerState.END)
        logger.info("Done unloading servable version %s", harness.id)
        if harness.is_aspired:
            # Re-aspired while it was unloading: load it again.
            harness.error = None
            self._publish(harness, ManagerState.START)
        else:
            self._forget(harness)
        self._reconcile(harness.id.name)

    # -- bookkeeping ------------------------------------------------------------------

    def _set_available(self, harness: _Harness) -> None:
        name = harness.id.name
        self._available.setdefault(name, {})[harness.id.version] = harness
        self._latest[name] = max(self._available[name])

    def _set_unavailable(self, harness: _Harness) -> None:
        name = harness.id.name
        versions = self._available.get(name, {})
        versions.pop(harness.id.version, None)
        if versions:
            self._latest[name] = max(versions)
        else:
            self._available.pop(name, None)
            self._latest.pop(name, None)

    def _forget(self, harness: _Harness) -> None:
        stream = self._streams.get(harness.id.name)
        if stream is not None and stream.get(harness.id.version) is harness:
            del stream[harness.id.version]
            if not stream:
                del self._streams[harness.id.name]

    def _publish(self, harness: _Harness, state: ManagerState) -> None:
        harness.state = state
        self._bus.publish(ServableState(harness.id, state, harness.error))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> None:
        """Un-aspires every model and waits until all versions are unloaded."""
        for name in list(self._streams):
            self.set_aspired_versions(name, [])
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            for name in list(self._streams):
                self.set_aspired_versions(name, [])
        self._load_pool.shutdown(wait=False, cancel_futures=True)
        self._unload_pool.shutdown(wait=False, cancel_futures=True)

"""Model lifecycle seen from the event bus: metrics, lifecycle log lines; batch and warmup listeners.

The manager publishes ``ServableState`` on ``ServerCore.bus`` for every state
change (START, LOADING, AVAILABLE, UNLOADING, END; a failed load attempt is a
LOADING event carrying the error, a failed load an END event carrying it).
Everything here is derived from those events, from the ``BatchStats`` the
batching scheduler publishes through ``ServerCore.batch_listeners``, and from
the warmup listener the TensorFlow loader calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pyserving.core.errors import ServingError
from pyserving.core.event_bus import EventBus
from pyserving.core.ids import ServableId
from pyserving.core.states import ManagerState, ServableState
from pyserving.metrics.definitions import Metrics

logger = logging.getLogger("pyserving.lifecycle")

LIVE_STATES = (ManagerState.START, ManagerState.LOADING, ManagerState.AVAILABLE, ManagerState.UNLOADING)
BATCH_THREAD_POOL = "model_server_batch_threads"  # TF Serving's thread_pool_name label


class LifecycleLog:
    """Logs every state change of every version with its reason. Event-loop only."""

    def __init__(self, bus: EventBus[ServableState]) -> None:
        self._previous: dict[ServableId, ManagerState] = {}
        self._since: dict[ServableId, float] = {}
        self.unsubscribe = bus.subscribe(self.on_state)

    def on_state(self, event: ServableState) -> None:
        sid, state, error = event.id, event.state, event.error
        previous = self._previous.get(sid)
        now = time.monotonic()
        elapsed_ms = (now - self._since.get(sid, now)) * 1000
        fields: dict[str, Any] = {
            "model": sid.name,
            "version": sid.version,
            "state": state.name,
            "error": None if error is None else f"{error.code.name}: {error.message}",
        }
        name = f"model {sid.name} version {sid.version}"
        if state is ManagerState.START:
            message, level = f"{name}: START (aspired by the version policy)", logging.INFO
        elif state is ManagerState.LOADING and error is None:
            message, level = f"{name}: LOADING", logging.INFO
        elif state is ManagerState.LOADING:
            message, level = f"{name}: load attempt failed, retrying: {fields['error']}", logging.WARNING
        elif state is ManagerState.AVAILABLE:
            message, level = f"{name}: AVAILABLE (loaded in {elapsed_ms:.0f} ms)", logging.INFO
        elif state is ManagerState.UNLOADING:
            message, level = (
                (f"{name}: UNLOADING (no longer aspired: version policy, config change or shutdown)"),
                logging.INFO,
            )
        elif previous is ManagerState.UNLOADING:
            message, level = f"{name}: END (unloaded in {elapsed_ms:.0f} ms)", logging.INFO
        elif error is not None and previous is ManagerState.LOADING:
            message, level = f"{name}: END (load failed: {fields['error']})", logging.ERROR
        elif error is not None:
            message, level = f"{name}: END (cannot be loaded: {fields['error']})", logging.ERROR
        else:
            message, level = f"{name}: END (no longer aspired before it loaded)", logging.INFO
        logger.log(level, message, extra=fields)
        if state is not ManagerState.LOADING or error is None:
            self._since[sid] = now
        if state is ManagerState.END:
            self._previous.pop(sid, None)
            self._since.pop(sid, None)
        else:
            self._previous[sid] = state


class StateMetrics:
    """Model lifecycle metrics from bus events. Event-loop only.

    ``model_path`` gives TF Serving's ``model_path`` label (the version folder).
    """

    def __init__(self, metrics: Metrics, bus: EventBus[ServableState], model_path: Callable[[ServableId], str]) -> None:
        self.metrics = metrics
        self.model_path = model_path
        self._state: dict[ServableId, ManagerState] = {}
        self._loading_since: dict[ServableId, float] = {}
        self._attempt_since: dict[ServableId, float] = {}
        self._unloading_since: dict[ServableId, float] = {}
        self.unsubscribe = bus.subscribe(self.on_state)

    def on_state(self, event: ServableState) -> None:
        m, sid, state = self.metrics, event.id, event.state
        now = time.monotonic()
        previous = self._state.get(sid)
        if previous is not None:
            m.model_versions.dec((sid.name, previous.name))
        if state is ManagerState.END:
            self._state.pop(sid, None)
        else:
            self._state[sid] = state
            m.model_versions.inc((sid.name, state.name))
        version = str(sid.version)
        if state is ManagerState.LOADING:
            if event.error is None:
                self._loading_since.setdefault(sid, now)
            else:
                self._attempt(sid, "failure")
            self._attempt_since[sid] = now
        elif state is ManagerState.AVAILABLE:
            started = self._loading_since.pop(sid, now)
            m.load_duration.observe((sid.name, version), now - started)
            attempt_started = self._attempt_since.pop(sid, started)
            self._attempt(sid, "success")
            m.tf.load_latency.inc((self.model_path(sid),), int((now - attempt_started) * 1e6))
        elif state is ManagerState.UNLOADING:
            self._unloading_since[sid] = now
        elif state is ManagerState.END:
            if previous is ManagerState.LOADING and event.error is not None:
                self._attempt(sid, "failure")
            unloading = self._unloading_since.pop(sid, None)
            if unloading is not None:
                m.unload_duration.observe((sid.name, version), now - unloading)
            self._loading_since.pop(sid, None)
            self._attempt_since.pop(sid, None)

    def _attempt(self, sid: ServableId, outcome: str) -> None:
        self.metrics.load_attempts.inc((sid.name, str(sid.version), outcome))
        self.metrics.tf.load_attempt_count.inc((self.model_path(sid), "success" if outcome == "success" else "fail"))


class BatchMetrics:
    """``ServerCore.batch_listeners`` entry (``pyserving.batching.scheduler.BatchStats``). Event-loop only."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(self, stats: Any) -> None:
        m, tf = self.metrics, self.metrics.tf
        version = str(stats.version)
        key = (stats.model, version)
        m.batch_size.observe(key, stats.batch_size)
        padding = stats.padded_size - stats.batch_size
        m.batch_padding.observe(key, padding)
        for seconds in stats.queue_seconds:
            m.batch_queue_duration.observe(key, seconds)
            tf.queuing_latency.observe((BATCH_THREAD_POOL,), seconds * 1e6)
        tf.wrapped_run_count.inc()
        tf.input_batch_size.observe((), stats.batch_size)
        tf.processed_batch_size.observe((), stats.padded_size)
        tf.padding_size.observe((str(stats.padded_size),), padding)


class WarmupMetrics:
    """The TensorFlow loader's warmup listener. Called on a load thread; thread-safe."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(
        self, servable_id: ServableId | None, export_dir: str, seconds: float, records: int, error: ServingError | None
    ) -> None:
        m = self.metrics
        name, version = ("", "") if servable_id is None else (servable_id.name, str(servable_id.version))
        outcome = "success" if error is None else "failure"
        m.warmup_duration.observe((name, version, outcome), seconds)
        if records:
            m.warmup_records.inc((name, version), records)
        status = "OK" if error is None else f"{error.code.name}: {error.message}"
        m.tf.model_warmup_latency.observe((export_dir, status), seconds * 1e6)

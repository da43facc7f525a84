"""Where a servable's runs happen: the inference threads, a batcher, or the event loop itself.

The execution strategy of ``ServerCore.run``, kept apart from config and source wiring:
one thread pool for every ``Servable.run`` (never on the loop, but for the runs
``inline_runs.py`` measured as shorter than a thread hop), the batchers
(``--enable_batching``: one for all, or one per version that goes with the version),
and each model's share of the threads when several models are served.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from pyserving.batching import BatchingOptions, BatchScheduler
from pyserving.core.event_bus import EventBus
from pyserving.core.ids import ServableId
from pyserving.core.manager import ServableHandle
from pyserving.core.states import ManagerState, ServableState
from pyserving.serving.inline_runs import InlineRuns, input_elements

T = TypeVar("T")

# A model whose thread runs average under this is not bounded to its share of the threads.
QUICK_RUN_SECONDS = 0.001


def _timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


@dataclass(frozen=True)
class ExecutionOptions:
    # Inference threads; 0: max(4, 2 x CPUs), at least the batch threads.
    num_inference_threads: int = 0
    # Server-side batching (--enable_batching); None runs every request on its own.
    batching: BatchingOptions | None = None
    # --enable_per_model_batching_parameters: a version folder -> its batching options, or None.
    per_version_batching: Callable[[str], BatchingOptions | None] | None = None
    # Unbatched runs timed under this go on the event loop (serving/inline_runs.py); 0: never.
    inline_run_max_seconds: float = 0.0


class Execution:
    """Event-loop only, except ``run_blocking`` which hands work to the executor."""

    def __init__(
        self, options: ExecutionOptions, bus: EventBus[ServableState], served_models: Callable[[], int]
    ) -> None:
        self._batching = options.batching
        self._per_version_batching = options.per_version_batching
        self._served_models = served_models
        threads = options.num_inference_threads or max(4, 2 * (os.cpu_count() or 1))
        if options.batching is not None:
            threads = max(threads, options.batching.num_batch_threads)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="pyserving-run")
        # With several models, a slow model's unbatched runs may hold all threads but one, so a
        # model whose requests are slow (or hostile) never starves the others of threads. Quick
        # models skip the bound: waiting on it costs them a loop round trip per run (-25 % req/s
        # on a 50 us Python model), and their queued runs delay nobody for long.
        self._run_slots_per_model = max(1, threads - 1)
        self._run_slots: dict[str, asyncio.Semaphore] = {}
        self._run_seconds: dict[str, float] = {}  # per model: moving average of a thread run
        self._inline_runs = InlineRuns(options.inline_run_max_seconds)
        self.batch_listeners: list[Callable[[Any], None]] = []
        # One batcher for all (None key), or one per version with per-version options.
        self._batchers: dict[ServableId | None, BatchScheduler | None] = {}
        if options.per_version_batching is not None:
            bus.subscribe(self._drop_batcher)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def run(
        self,
        handle: ServableHandle,
        signature_name: str,
        inputs: Mapping[str, Any],
        output_keys: Sequence[str],
        timeout_in_ms: int,
    ) -> dict[str, Any]:
        """Through the version's batcher when it has one; else on a worker thread, or on the loop
        for kinds of runs timed as short (inline_runs.py)."""
        batcher = self._batcher(handle) if handle.servable.batchable else None
        if batcher is not None:
            return await batcher.run(
                handle.servable, handle.id.name, handle.id.version, signature_name, inputs, output_keys, timeout_in_ms
            )
        inline_run = handle.servable.caller_thread_run
        if inline_run is None:
            return await self._run_on_thread(
                handle.id.name, handle.servable.run, signature_name, inputs, output_keys, timeout_in_ms
            )
        key = (handle.id, signature_name)
        elements = input_elements(inputs)
        inline = self._inline_runs.inline(key, elements)
        outputs: dict[str, Any]
        if inline:
            outputs, seconds = _timed(inline_run, signature_name, inputs, output_keys, timeout_in_ms)
        else:
            run = inline_run if self._inline_runs.timing(key, elements) else handle.servable.run
            outputs, seconds = await self._run_on_thread(
                handle.id.name, _timed, run, signature_name, inputs, output_keys, timeout_in_ms
            )
        self._inline_runs.record(key, elements, seconds, inline)
        return outputs

    async def _run_on_thread(self, model: str, fn: Callable[..., T], *args: Any) -> T:
        """``run_blocking``, within the model's share of the threads when several models are served
        and its runs are slow (or not timed yet)."""
        if self._served_models() < 2:
            return await self.run_blocking(fn, *args)
        average = self._run_seconds.get(model)
        if average is not None and average < QUICK_RUN_SECONDS:
            return await self._timed_run(model, fn, *args)
        slots = self._run_slots.get(model)
        if slots is None:
            slots = self._run_slots[model] = asyncio.Semaphore(self._run_slots_per_model)
        async with slots:
            return await self._timed_run(model, fn, *args)

    async def _timed_run(self, model: str, fn: Callable[..., T], *args: Any) -> T:
        timed: tuple[T, float] = await self.run_blocking(_timed, fn, *args)
        result, seconds = timed
        average = self._run_seconds.get(model)
        self._run_seconds[model] = seconds if average is None else 0.8 * average + 0.2 * seconds
        return result

    def _batcher(self, handle: ServableHandle) -> BatchScheduler | None:
        if self._batching is None:
            return None
        per_version = self._per_version_batching
        key = handle.id if per_version is not None else None
        if key not in self._batchers:
            options = self._batching if per_version is None else per_version(handle.servable.version_dir)
            self._batchers[key] = (
                None if options is None else BatchScheduler(options, self._executor, self._on_batch, self._inline_runs)
            )
        return self._batchers[key]

    def _drop_batcher(self, state: ServableState) -> None:
        """A version's own batcher goes with the version (its queues are empty by then)."""
        if state.state == ManagerState.END:
            batcher = self._batchers.pop(state.id, None)
            if batcher is not None:
                asyncio.get_running_loop().create_task(batcher.stop())

    def _on_batch(self, stats: Any) -> None:
        for listener in self.batch_listeners:
            listener(stats)

    def forget_model(self, name: str) -> None:
        """A model left the config: its thread share and run times go."""
        self._run_slots.pop(name, None)
        self._run_seconds.pop(name, None)

    async def stop(self) -> None:
        for batcher in self._batchers.values():
            if batcher is not None:
                await batcher.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)

"""BatchScheduler: per-(servable, signature, shapes) queues served by a shared set of batch threads.

A request joins the open batch of its queue (rows are counted, not requests);
a batch runs when it is full, when ``batch_timeout_micros`` has passed since
it opened, or at once when the timeout is 0 and a batch thread is free (under
load, requests pile up meanwhile, which is what forms batches). Requests whose
inputs differ in dtype or non-batch shape go to different queues, so they are
never merged into a wrong answer. Concatenation, the run and the split happen
on the executor, except for batches of a kind the ``inline`` policy (``serving/inline_runs.py``,
handed in by the server) timed as shorter than the thread hop: those run on the loop, which
saves two thread hops (~0.1-0.2 ms on a 1 ms batch timeout) per batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pyserving.batching.batch import batch_rows, concatenate, padded_shape_key, shape_key, split
from pyserving.batching.options import BatchingOptions
from pyserving.core.errors import (
    DeadlineExceededError,
    InternalError,
    InvalidArgumentError,
    UnavailableError,
)
from pyserving.core.ids import ServableId

logger = logging.getLogger("pyserving.batching")


@dataclass(frozen=True)
class BatchStats:
    """Published after each batch run (metrics subscribe)."""

    model: str
    version: int
    signature: str
    batch_size: int
    padded_size: int
    queue_seconds: tuple[float, ...]


class InlinePolicy(Protocol):
    """Which runs of a (servable id, signature) may go on the event loop (``serving/inline_runs.py``)."""

    def inline(self, key: tuple[ServableId, str], elements: int) -> bool: ...

    def timing(self, key: tuple[ServableId, str], elements: int) -> bool: ...

    def record(self, key: tuple[ServableId, str], elements: int, seconds: float, inline: bool) -> None: ...


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


@dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    rows: int
    future: asyncio.Future[dict[str, np.ndarray]]
    enqueued: float
    deadline: float | None


@dataclass
class _Batch:
    opened: float
    rows: int = 0
    tasks: list[_Task] = field(default_factory=list)


class _Queue:
    def __init__(
        self,
        key: tuple[Any, ...],
        servable: Any,
        model: str,
        version: int,
        signature: str,
        output_keys: tuple[str, ...],
    ) -> None:
        self.key = key
        self.servable = servable
        self.model = model
        self.version = version
        self.signature = signature
        self.output_keys = output_keys
        self.batches: deque[_Batch] = deque()


class BatchScheduler:
    """Event-loop only; batches run on ``executor``."""

    def __init__(
        self,
        options: BatchingOptions,
        executor: Executor,
        on_batch: Callable[[BatchStats], None] | None = None,
        inline: InlinePolicy | None = None,
    ) -> None:
        self.options = options
        self._executor = executor
        self._on_batch = on_batch
        self._inline = inline
        self._queues: dict[tuple[Any, ...], _Queue] = {}
        self._changed = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []

    def _start_workers(self) -> None:
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._worker()) for _ in range(self.options.num_batch_threads)]

    async def run(
        self,
        servable: Any,
        model: str,
        version: int,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_keys: Sequence[str],
        timeout_in_ms: int = 0,
    ) -> dict[str, np.ndarray]:
        """Runs ``inputs`` as part of a batch; unbatchable requests (no inputs, scalars,
        unequal 0th dimensions) run on their own."""
        rows = batch_rows(inputs) if inputs else None
        loop = asyncio.get_running_loop()
        if not rows:
            return await loop.run_in_executor(
                self._executor, servable.run, signature_name, inputs, list(output_keys), timeout_in_ms
            )
        deadline = loop.time() + timeout_in_ms / 1000 if timeout_in_ms > 0 else None
        limit = self.options.execution_batch_size
        if rows > self.options.max_batch_size and not self.options.enable_large_batch_splitting:
            raise InvalidArgumentError(
                f"Task size {rows} is larger than maximum input batch size {self.options.max_batch_size}"
            )
        if rows > limit:
            chunks = [{k: v[i : i + limit] for k, v in inputs.items()} for i in range(0, rows, limit)]
            parts = await asyncio.gather(
                *(
                    self._submit(servable, model, version, signature_name, chunk, output_keys, deadline)
                    for chunk in chunks
                )
            )
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return await self._submit(servable, model, version, signature_name, inputs, output_keys, deadline)

    async def _submit(
        self,
        servable: Any,
        model: str,
        version: int,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_keys: Sequence[str],
        deadline: float | None,
    ) -> dict[str, np.ndarray]:
        if not self._workers:
            self._start_workers()
        loop = asyncio.get_running_loop()
        shapes = padded_shape_key(inputs) if self.options.pad_variable_length_inputs else shape_key(inputs)
        key = (id(servable), signature_name, tuple(output_keys), shapes)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(key, servable, model, version, signature_name, tuple(output_keys))
        rows = next(iter(inputs.values())).shape[0]
        now = loop.time()
        task = _Task(inputs, rows, loop.create_future(), now, deadline)
        batch = queue.batches[-1] if queue.batches else None
        if batch is None or batch.rows + rows > self.options.execution_batch_size:
            if len(queue.batches) >= self.options.max_enqueued_batches:
                raise UnavailableError("The batch scheduling queue to which this task was submitted is full")
            batch = _Batch(opened=now)
            queue.batches.append(batch)
        batch.tasks.append(task)
        batch.rows += rows
        self._changed.set()
        return await task.future

    # -- batch threads -----------------------------------------------------------------

    def _ready_batch(self, now: float) -> tuple[tuple[_Queue, _Batch] | None, float | None]:
        """The oldest batch ready to run, else when the next one will be (None: no batch)."""
        timeout = self.options.batch_timeout_micros / 1e6
        full = self.options.execution_batch_size
        oldest: tuple[_Queue, _Batch] | None = None
        next_due: float | None = None
        for key, queue in list(self._queues.items()):
            if not queue.batches:
                del self._queues[key]
                continue
            head = queue.batches[0]
            if head.rows >= full or len(queue.batches) > 1 or now - head.opened >= timeout:
                if oldest is None or head.opened < oldest[1].opened:
                    oldest = (queue, head)
            else:
                due = head.opened + timeout
                next_due = due if next_due is None else min(next_due, due)
        if oldest is not None:
            oldest[0].batches.popleft()
        return oldest, next_due

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            ready, next_due = self._ready_batch(loop.time())
            if ready is None:
                self._changed.clear()
                # Wake on a new request, or when the oldest open batch times out (timers
                # may fire a little early, so the wait is bounded rather than event-only).
                wait = None if next_due is None else max(0.0, next_due - loop.time()) + 1e-4
                try:
                    await asyncio.wait_for(self._changed.wait(), wait)
                except TimeoutError:
                    pass
                continue
            queue, batch = ready
            try:
                await self._process(queue, batch)
            except Exception:  # a failed batch must not stop the thread
                logger.exception("Batch for %s failed unexpectedly", queue.signature)

    async def _process(self, queue: _Queue, batch: _Batch) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        live = []
        for task in batch.tasks:
            if task.future.done():
                continue  # the caller went away
            if task.deadline is not None and now >= task.deadline:
                task.future.set_exception(DeadlineExceededError("Deadline exceeded before the batch was run"))
                continue
            live.append(task)
        if not live:
            return
        sizes = [t.rows for t in live]
        total = sum(sizes)
        padded = self._padded_size(total)
        remaining = [t.deadline - now for t in live if t.deadline is not None]
        timeout_ms = max(1, int(max(remaining) * 1000)) if len(remaining) == len(live) else 0
        parts = [t.inputs for t in live]
        try:
            results = await self._run(loop, queue, parts, sizes, padded, timeout_ms)
        except Exception as exc:  # noqa: BLE001 - every caller gets the batch's error
            for task in live:
                if not task.future.done():
                    task.future.set_exception(exc)
            return
        for task, result in zip(live, results, strict=True):
            if not task.future.done():
                task.future.set_result(result)
        if self._on_batch is not None:
            self._on_batch(
                BatchStats(
                    queue.model, queue.version, queue.signature, total, padded, tuple(now - t.enqueued for t in live)
                )
            )

    async def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: _Queue,
        parts: list[Mapping[str, np.ndarray]],
        sizes: list[int],
        padded: int,
        timeout_ms: int,
    ) -> list[dict[str, np.ndarray]]:
        """On the loop when the inline policy timed this kind and size as short; else on the executor
        (the caller-thread run while the policy times the kind, as for unbatched runs)."""
        inline = self._inline
        caller_thread_run = getattr(queue.servable, "caller_thread_run", None) if inline is not None else None
        if inline is None or caller_thread_run is None:
            results: list[dict[str, np.ndarray]] = await loop.run_in_executor(
                self._executor, self._run_batch, queue, parts, sizes, padded, timeout_ms, queue.servable.run
            )
            return results
        kind = (ServableId(queue.model, queue.version), queue.signature)
        elements = 0
        for part in parts:
            for array in part.values():
                elements += array.size
        elements = elements * padded // max(1, sum(sizes))
        if inline.inline(kind, elements):
            results, seconds = _timed(self._run_batch, queue, parts, sizes, padded, timeout_ms, caller_thread_run)
            inline.record(kind, elements, seconds, True)
            return results
        run = caller_thread_run if inline.timing(kind, elements) else queue.servable.run
        results, seconds = await loop.run_in_executor(
            self._executor, _timed, self._run_batch, queue, parts, sizes, padded, timeout_ms, run
        )
        inline.record(kind, elements, seconds, False)
        return results

    def _padded_size(self, total: int) -> int:
        for size in self.options.allowed_batch_sizes:
            if size >= total:
                return size
        return total

    def _run_batch(
        self,
        queue: _Queue,
        parts: list[Mapping[str, np.ndarray]],
        sizes: list[int],
        padded: int,
        timeout_ms: int,
        run: Callable[..., dict[str, np.ndarray]],
    ) -> list[dict[str, np.ndarray]]:
        inputs = concatenate(parts, padded, self.options.pad_variable_length_inputs)
        outputs = run(queue.signature, inputs, list(queue.output_keys), timeout_ms)
        for key, array in outputs.items():
            if np.ndim(array) == 0 or np.shape(array)[0] != padded:
                if len(parts) == 1 and padded == sizes[0]:
                    return [outputs]
                raise InternalError(
                    f"Batched output tensor '{key}' has 0th dimension {np.shape(array)[:1]}, expected "
                    f"the batch size {padded}: this signature's outputs cannot be batched"
                )
        return split(outputs, sizes)

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

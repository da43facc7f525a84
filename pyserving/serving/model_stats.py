"""Per (model, version) inference statistics, as OIP's statistics extension reports them.

Why a store of its own: Prometheus metrics are optional and keyed for scraping, while the
statistics extension must always answer with cumulative counts and nanoseconds per version.
It listens on ``ServerCore.run_listeners`` (every run of every protocol: one success or
failure per request) and ``batch_listeners`` (one execution and the queue time per batch);
a version's counters go when it ends (``ServerCore.bus``).
Event-loop only; framework-free.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyserving.core.ids import ServableId
from pyserving.core.states import ManagerState


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += int(seconds * 1e9)


@dataclass
class VersionStats:
    last_inference_ms: int = 0
    inference_count: int = 0  # rows of successful requests
    execution_count: int = 0  # model runs; one per merged batch
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)


class ModelStats:
    """Counters per :class:`ServableId`; ``batched`` says whether batch listeners count executions."""

    def __init__(self, batched: bool = False) -> None:
        self.batched = batched
        self.versions: dict[ServableId, VersionStats] = {}

    def _get(self, servable_id: ServableId) -> VersionStats:
        stats = self.versions.get(servable_id)
        if stats is None:
            stats = self.versions[servable_id] = VersionStats()
        return stats

    def on_run(
        self,
        servable_id: ServableId,
        signature_name: str,
        inputs: Mapping[str, Any],
        seconds: float,
        error: BaseException | None,
    ) -> None:
        stats = self._get(servable_id)
        stats.last_inference_ms = int(time.time() * 1000)
        if error is not None:
            stats.fail.add(seconds)
            return
        stats.success.add(seconds)
        stats.compute_infer.add(seconds)
        stats.inference_count += _rows(inputs)
        if not self.batched:
            stats.execution_count += 1

    def on_batch(self, batch: Any) -> None:
        stats = self._get(ServableId(batch.model, batch.version))
        stats.execution_count += 1
        for seconds in batch.queue_seconds:
            stats.queue.add(seconds)

    def on_state(self, state: Any) -> None:
        """A version that ended takes its counters with it (Triton reports loaded versions only)."""
        if state.state == ManagerState.END:
            self.versions.pop(state.id, None)

    def of(self, name: str | None = None, version: int | None = None) -> list[tuple[ServableId, VersionStats]]:
        return sorted(
            (sid, stats)
            for sid, stats in self.versions.items()
            if (name is None or sid.name == name) and (version is None or sid.version == version)
        )


def _rows(inputs: Mapping[str, Any]) -> int:
    for array in inputs.values():
        shape = getattr(array, "shape", ())
        return int(shape[0]) if shape else 1
    return 1

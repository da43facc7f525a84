"""ServableStateMonitor: the latest state of every version ever seen, and waiters on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pyserving.core.event_bus import EventBus
from pyserving.core.states import ServableState


class ServableStateMonitor:
    """Feeds model status and readiness; tests and callers wait on it instead of sleeping.

    Event-loop only.
    """

    def __init__(self, bus: EventBus[ServableState]) -> None:
        self._states: dict[str, dict[int, ServableState]] = {}
        self._changed = asyncio.Condition()
        self._waiting = 0
        bus.subscribe(self._on_state)

    def _on_state(self, event: ServableState) -> None:
        self._states.setdefault(event.id.name, {})[event.id.version] = event
        if self._waiting:
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def versions(self, name: str) -> list[ServableState]:
        """All known versions of a model, newest first (TF Serving's order)."""
        by_version = self._states.get(name, {})
        return [by_version[v] for v in sorted(by_version, reverse=True)]

    def forget(self, name: str) -> None:
        """Drop the history of a model that left the config."""
        self._states.pop(name, None)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Waits until ``predicate()`` holds; False on timeout.

        Wakes on every state change, and at least every 0.2 s for conditions
        that also depend on things outside the monitor (sources).
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            wait = 0.2 if deadline is None else min(0.2, deadline - loop.time())
            if wait <= 0:
                return False
            self._waiting += 1
            try:
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait(), wait)
            except TimeoutError:
                pass
            finally:
                self._waiting -= 1
        return True

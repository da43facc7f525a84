"""EventBus: synchronous publish/subscribe for lifecycle events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class EventBus(Generic[T]):
    """Calls every subscriber in order on ``publish``. Event-loop only."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[T], None]] = []

    def subscribe(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Returns a function that removes the subscription."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def publish(self, event: T) -> None:
        for callback in list(self._subscribers):
            callback(event)

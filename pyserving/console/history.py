"""Version history for the console: every state change of every version, with its time.

TF Serving's status API says only where each version is now; a person debugging
a replica wants to see what happened (loaded at, failed with, unloaded at) and
how long each load took. Fed by ``ServerCore.bus``: events are rare (a handful per
version), so this is always on and costs nothing per request.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from pyserving.core.event_bus import EventBus
from pyserving.core.ids import ServableId
from pyserving.core.states import ManagerState, ServableState

MAX_EVENTS = 1000


class VersionHistory:
    """Event-loop only."""

    def __init__(self, bus: EventBus[ServableState]) -> None:
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self.seq = 0
        self._loading_since: dict[ServableId, float] = {}
        self.unsubscribe = bus.subscribe(self.on_state)

    def on_state(self, event: ServableState) -> None:
        now = time.time()
        sid, state, error = event.id, event.state, event.error
        entry: dict[str, Any] = {"model": sid.name, "version": sid.version, "state": state.name, "time": now}
        if error is not None:
            entry["error"] = f"{error.code.name}: {error.message}"
        if state is ManagerState.LOADING:
            self._loading_since.setdefault(sid, now)
            if error is not None:
                entry["what"] = "load attempt failed, retrying"
        elif state is ManagerState.AVAILABLE:
            entry["load_seconds"] = round(now - self._loading_since.pop(sid, now), 3)
        elif state is ManagerState.END:
            entry["what"] = "load failed" if error is not None else "unloaded"
            self._loading_since.pop(sid, None)
        self.seq += 1
        entry["seq"] = self.seq
        self.events.append(entry)

    def after(self, seq: int) -> list[dict[str, Any]]:
        """Events newer than ``seq`` (all of them for 0), oldest first."""
        if seq >= self.seq:
            return []
        return [e for e in self.events if e["seq"] > seq]

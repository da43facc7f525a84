"""Aspired-version policies: pure functions from a stream's snapshot to its next action.

AvailabilityPreserving (TF Serving's default) loads the new version before it
unloads the old one, and never unloads the last serving version while an aspired
one has not become available. ResourcePreserving unloads first, to keep peak
memory at one version.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from pyserving.core.states import ManagerState


class Action(enum.Enum):
    LOAD = "load"
    UNLOAD = "unload"


@dataclass(frozen=True)
class VersionSnapshot:
    version: int
    state: ManagerState
    is_aspired: bool


_PENDING = (ManagerState.START, ManagerState.LOADING)


def availability_preserving(snapshots: Sequence[VersionSnapshot]) -> tuple[Action, int] | None:
    aspired = [s for s in snapshots if s.is_aspired]
    unaspired_serving = [s for s in snapshots if not s.is_aspired and s.state is ManagerState.AVAILABLE]
    if unaspired_serving:
        aspired_serving = any(s.state is ManagerState.AVAILABLE for s in aspired)
        if aspired_serving or not aspired:
            return Action.UNLOAD, min(s.version for s in unaspired_serving)
    return _next_load(aspired, snapshots)


def resource_preserving(snapshots: Sequence[VersionSnapshot]) -> tuple[Action, int] | None:
    for s in snapshots:
        if not s.is_aspired and s.state is ManagerState.AVAILABLE:
            return Action.UNLOAD, s.version
    if any(s.state is ManagerState.UNLOADING for s in snapshots):
        return None
    return _next_load([s for s in snapshots if s.is_aspired], snapshots)


def _next_load(aspired: Sequence[VersionSnapshot], snapshots: Sequence[VersionSnapshot]) -> tuple[Action, int] | None:
    # One load at a time per stream, highest version first.
    if any(s.state is ManagerState.LOADING for s in snapshots):
        return None
    startable = [s.version for s in aspired if s.state is ManagerState.START]
    if startable:
        return Action.LOAD, max(startable)
    return None


POLICIES = {
    "availability_preserving": availability_preserving,
    "resource_preserving": resource_preserving,
}
